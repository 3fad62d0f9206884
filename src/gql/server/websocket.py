"""graphql-transport-ws with server keep-alive pings and shared subscription execution.

Idle dashboards behind proxies that cut silent connections stay up: the server sends a
protocol ``ping`` every ``interval`` seconds after the connection is acknowledged (the
client answers ``pong``); uvicorn's WebSocket-level pings run underneath as well.

Subscriptions that :mod:`gql.live.fanout` can share join a group instead of running their own
execution; everything else goes through Strawberry's handler unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from typing import Any

import orjson
from graphql import GraphQLError, OperationType
from starlette.websockets import WebSocketDisconnect
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    SubscribeMessage,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler

from gql.guard.admission import admit, limits_of, parse_limited
from gql.guard.limits import select_operation
from gql.live.fanout import END, STATES, Plan, plan_for
from gql.schema.errors import CodedError, DatabaseUnavailable, TopLevelCode
from gql.schema.subscriptions import REAUTHORISE_EVERY, Gate, require_member

log = logging.getLogger("punchclock.subscriptions")

# 4429 is the code graphql-transport-ws already uses for "too many" (initialisations).
TOO_MANY_OPERATIONS_CLOSE = 4429
# graphql-transport-ws's code for a message it cannot accept; the legacy socket uses it too.
INVALID_MESSAGE_CLOSE = 4400
# What a bad token gets at connection_init too.
FORBIDDEN_CLOSE = 4403
# RFC 6455 "Try Again Later": clients reconnect, unlike after 4403.
TRY_AGAIN_LATER_CLOSE = 1013


class Tracked:
    """A protocol handler listed in ``services.websockets`` while it runs (the live gauge),
    closed with 1001 (going away) when the server shuts down: reconnect elsewhere."""

    @contextlib.contextmanager
    def tracked(self) -> Iterator[None]:
        handler: Any = self  # both protocol handlers have a context and a websocket
        live = handler.context.services.websockets
        live.add(self)
        try:
            yield
        finally:
            live.discard(self)

    async def going_away(self) -> None:
        handler: Any = self
        with contextlib.suppress(Exception):
            await handler.websocket.close(1001, "Server shutting down")


def _invalid_message(message: object) -> str | None:
    """What is wrong with a graphql-transport-ws message's shape, if anything."""
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return "A message must be an object with a string `type`."
    if message["type"] not in ("subscribe", "complete"):
        return None
    if not isinstance(message.get("id"), str):
        return f"A `{message['type']}` message needs a string `id`."
    if message["type"] == "complete":
        return None
    payload = message.get("payload")
    if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
        return "A `subscribe` message needs a `payload` with a string `query`."
    for key, kind in (("variables", dict), ("operationName", str), ("extensions", dict)):
        if not isinstance(payload.get(key), (kind, type(None))):
            return f"`{key}` has the wrong type."
    return None


class KeepAliveTransportWSHandler(Tracked, BaseGraphQLTransportWSHandler[Any, Any]):
    interval: float = 15.0
    refused = 0

    async def handle(self) -> None:
        helpers = [
            asyncio.create_task(self._ping_forever()),
            asyncio.create_task(self._watch_token()),
        ]
        try:
            with self.tracked():
                await super().handle()
        finally:
            for helper in helpers:
                helper.cancel()
            for helper in helpers:
                with contextlib.suppress(asyncio.CancelledError):
                    await helper

    async def handle_message(self, message: Any) -> None:
        """A message of the wrong shape closes the socket with 4400, as the protocol
        says, before Strawberry's handler (which fails on it) sees it."""
        problem = _invalid_message(message)
        if problem is not None:
            await self.handle_invalid_message(problem)
            return
        await super().handle_message(message)

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        try:
            await super().handle_connection_init(message)
        except DatabaseUnavailable:
            await self.websocket.close(TRY_AGAIN_LATER_CLOSE, "Database unavailable")

    async def _watch_token(self) -> None:
        """Close the connection (4403) within one period of its token being revoked,
        whether or not any event flows: an idle socket must not outlive its token, nor
        accept new operations on it. One revocation read per period serves every socket
        of the process."""
        revocations = self.context.services.revocations
        while True:
            await asyncio.sleep(REAUTHORISE_EVERY)
            context = self.context
            if not self.connection_acknowledged or context.token is None:
                continue
            period = int(time.monotonic() // REAUTHORISE_EVERY)
            try:
                await context.services.events.reads.get(
                    ("revoked:idle", period), revocations.refresh
                )
            except Exception:  # the database is out of reach: keep serving, check again
                continue
            if revocations.revoked(context.token):
                await self._close_revoked()
                return

    async def _ping_forever(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            if self.connection_acknowledged:
                try:
                    await self.send_message({"type": "ping"})
                except Exception:  # the socket is going away; handle() will finish
                    return

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        limit = self.max_subscriptions_per_connection
        if self.connection_acknowledged and limit is not None and len(self.operations) >= limit:
            await self._refuse_over_limit(message, limit)
            return
        refused = await self._over_limits(message)
        if refused is not None:
            await self.send_message(
                {"id": message["id"], "type": "error", "payload": [refused.formatted]}
            )
            return
        plan = self._shareable(message)
        if plan is None:
            await super().handle_subscribe(message)
            return
        payload = message["payload"]
        operation: Operation[Any, Any] = Operation(
            self,
            message["id"],
            payload["query"],
            payload.get("variables"),
            payload.get("operationName"),
        )
        operation.task = asyncio.create_task(self._run_shared(operation, plan))
        operation.task.add_done_callback(self._task_done)
        self.operations[message["id"]] = operation

    async def _over_limits(self, message: SubscribeMessage) -> CodedError | None:
        """The view's parse gate (tokens and the document's shape), before anything
        parses the document without the limit or validates it (the shared path's
        analysis, Strawberry's handler, which would close the socket with 4400 instead
        of refusing just this operation)."""
        payload = message.get("payload")
        query = payload.get("query") if isinstance(payload, dict) else None
        gate = getattr(self.view, "parse_gate", None)
        if not isinstance(query, str) or gate is None:
            return None
        refused: CodedError | None = await gate.check(query)
        return refused

    async def _refuse_over_limit(self, message: SubscribeMessage, limit: int) -> None:
        """Refuse an operation past the per-connection limit with a coded error; a client
        that keeps sending them (a flood) is disconnected instead of answered forever."""
        self.refused += 1
        if self.refused > limit:
            await self.websocket.close(TOO_MANY_OPERATIONS_CLOSE, "Too many operations")
            return
        error = CodedError(
            TopLevelCode.TOO_MANY_OPERATIONS,
            f"At most {limit} operations may run at once on one connection; complete one first.",
        )
        await self.send_message(
            {"id": message["id"], "type": "error", "payload": [error.formatted]}
        )

    def _shareable(self, message: SubscribeMessage) -> Plan | None:
        context = self.context
        payload = message.get("payload")
        if (
            not self.connection_acknowledged
            or not isinstance(payload, dict)
            or message.get("id") in self.operations
            or context.viewer is None
            or getattr(context.services, "fanout", None) is None
        ):
            return None
        query, variables = payload.get("query"), payload.get("variables")
        if not isinstance(query, str) or not isinstance(variables, (dict, type(None))):
            return None
        name = payload.get("operationName")
        return plan_for(
            query, variables, name if isinstance(name, str) else None, context.viewer.id
        )

    def _admit(self, operation: Operation[Any, Any]) -> list[GraphQLError]:
        """The limits and the rate limit, which a shared subscription would otherwise skip
        (it starts no Strawberry execution of its own, so no schema extension runs)."""
        context = self.context
        try:
            document = parse_limited(operation.query, limits_of(context).max_tokens)
        except GraphQLError as exc:
            return [CodedError(TopLevelCode.QUERY_TOO_COMPLEX, exc.message)]
        schema = context.services.schema._schema
        _, _, errors = admit(
            context, schema, document, operation.operation_name, operation.variables
        )
        return errors

    async def _run_shared(self, operation: Operation[Any, Any], plan: Plan) -> None:
        context = self.context
        refused = self._admit(operation)
        if refused:
            await operation.send_initial_errors(refused)
            return
        try:  # the membership afresh: the connection's is that of its connection_init
            await require_member(context, plan.team_id)
        except CodedError as refused_member:
            await operation.send_initial_errors([refused_member])
            return
        # A member of a state (the running list, a live report) is handed the group's last
        # result at once: check the token afresh. (Everything else follows an event, and
        # the group learns each event's revocations before it produces the item.)
        revocations = context.services.revocations
        mine = revocations.prefix_of(context.token)
        if plan.field in STATES:
            await revocations.refresh()
        if mine in revocations.prefixes:
            await self._close_revoked()
            return
        gate = Gate(context, plan.team_id)
        prefix = b'{"id":' + orjson.dumps(operation.id) + b',"type":"next","payload":'
        # Straight to the ASGI send: Starlette's per-message state checks add up over
        # thousands of members, and this task is the only sender of these frames.
        send = self.websocket.ws._send  # type: ignore[attr-defined]
        try:
            async with context.services.fanout.join(
                plan,
                query=operation.query,
                variables=operation.variables,
                operation_name=operation.operation_name,
                context=context,
            ) as member:
                while True:
                    item = await member.queue.get()
                    if item is END:
                        if member.overflowed:
                            if member.reason is None:  # else the group logged it
                                log.warning(
                                    "a subscriber of team %s fell more than %d events "
                                    "behind: SUBSCRIBER_TOO_SLOW",
                                    plan.team_id,
                                    member.queue.maxsize,
                                )
                            message = member.reason or (
                                f"More than {member.queue.maxsize} events waited unread; "
                                "subscribe again."
                            )
                            await operation.send_initial_errors(
                                [CodedError(TopLevelCode.SUBSCRIBER_TOO_SLOW, message)]
                            )
                            return
                        break
                    # The group learnt this event's revocations before it produced the item.
                    if mine in revocations.prefixes:
                        await self._close_revoked()
                        return
                    if gate.due() and not await gate.allowed():
                        await operation.send_initial_errors(
                            [CodedError(TopLevelCode.NOT_FOUND, "No such team.")]
                        )
                        return
                    await send({"type": "websocket.send", "text": (prefix + item + b"}").decode()})
            await operation.send_operation_message({"id": operation.id, "type": "complete"})
        except WebSocketDisconnect:
            return

    async def _close_revoked(self) -> None:
        with contextlib.suppress(Exception):
            await self.websocket.close(FORBIDDEN_CLOSE, "Token revoked")


class TrackedLegacyWSHandler(Tracked, BaseGraphQLWSHandler[Any, Any]):
    """The legacy ``graphql-ws`` protocol, counted and closed on shutdown like the other.

    Client mistakes get the protocol's coded ``error`` (or ``connection_error``) message
    instead of reaching Strawberry's handler, which fails on them: a malformed message,
    a query or mutation (this socket carries subscriptions; queries and mutations go by
    HTTP or over graphql-transport-ws), and a refused token, which is closed with 4403
    like the modern protocol does (Strawberry closes it with 1011, a server error)."""

    async def handle(self) -> None:
        with self.tracked():
            await super().handle()

    async def handle_message(self, message: Any) -> None:
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            await self._legacy_error(None, "A message must be an object with a `type`.")
            return
        if message["type"] == "stop" and not isinstance(message.get("id"), str):
            await self._legacy_error(None, "A `stop` message needs a string `id`.")
            return
        if message["type"] == "start":
            refused = self._start_refused(message)
            if refused is not None:
                await self._legacy_error(message.get("id"), refused)
                return
        await super().handle_message(message)  # type: ignore[arg-type]

    def _start_refused(self, message: dict[str, Any]) -> str | None:
        if not isinstance(message.get("id"), str):
            return "A `start` message needs a string `id`."
        payload = message.get("payload")
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
            return "A `start` message needs a `payload` with a string `query`."
        variables, name = payload.get("variables"), payload.get("operationName")
        if not isinstance(variables, (dict, type(None))):
            return "`variables` must be an object or null."
        if not isinstance(name, (str, type(None))):
            return "`operationName` must be a string or null."
        if not self.connection_acknowledged:
            return None  # Strawberry closes it (4401)
        try:
            document = parse_limited(payload["query"], limits_of(self.context).max_tokens)
        except GraphQLError:
            return None  # the schema's extensions answer it with its code
        operation = select_operation(document, name)
        if operation is not None and operation.operation != OperationType.SUBSCRIPTION:
            return (
                f"The graphql-ws protocol carries subscriptions here; send this "
                f"{operation.operation.value} by HTTP POST /graphql or over "
                "graphql-transport-ws."
            )
        return None

    async def _legacy_error(self, operation_id: object, message: str) -> None:
        error = CodedError(TopLevelCode.BAD_REQUEST, message)
        reply: dict[str, Any] = {"type": "error", "payload": error.formatted}
        if isinstance(operation_id, str):
            reply["id"] = operation_id
        await self.send_message(reply)  # type: ignore[arg-type]

    async def handle_connection_init(self, message: Any) -> None:
        payload = message.get("payload")
        if payload is not None and not isinstance(payload, dict):
            error = CodedError(
                TopLevelCode.BAD_REQUEST, "The `connection_init` payload must be an object."
            )
            invalid: Any = {"type": "connection_error", "payload": error.formatted}
            await self.send_message(invalid)
            await self.websocket.close(INVALID_MESSAGE_CLOSE, "Invalid connection_init")
            return
        self.context.connection_params = payload
        try:
            ack = await self.view.on_ws_connect(self.context)
        except ConnectionRejectionError as exc:
            await self.send_message({"type": "connection_error", "payload": exc.payload})
            await self.websocket.close(FORBIDDEN_CLOSE, "Forbidden")
            return
        except DatabaseUnavailable:
            error = CodedError(
                TopLevelCode.UNAVAILABLE, "The database is unavailable; retry later."
            )
            refusal: Any = {"type": "connection_error", "payload": error.formatted}
            await self.send_message(refusal)
            await self.websocket.close(TRY_AGAIN_LATER_CLOSE, "Database unavailable")
            return
        if isinstance(ack, dict):
            await self.send_message({"type": "connection_ack", "payload": ack})
        else:
            await self.send_message({"type": "connection_ack"})
        self.connection_acknowledged = True
        if self.keep_alive:
            self.keep_alive_task = asyncio.create_task(self.handle_keep_alive())

"""The GraphQL HTTP/WebSocket endpoint: Strawberry's ASGI view with our context and errors."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, NamedTuple

import orjson
from cross_web import HTTPException
from graphql import GraphQLError, OperationDefinitionNode, parse
from graphql.error import GraphQLSyntaxError
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET, UnsetType

from gql import graphiql, logs
from gql.admission import refuse_anonymous
from gql.auth import authenticate, bearer_token, token_from_init_payload
from gql.context import Context
from gql.errors import DatabaseUnavailable, TopLevelCode, is_unavailable
from gql.fastpath import FastPath
from gql.fastpath.compile import WritePlan
from gql.loaders import Loaders
from gql.services import Services
from gql.websocket import KeepAliveTransportWSHandler, TrackedLegacyWSHandler
from store.models import Membership, User

log = logging.getLogger("punchclock")

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
GRAPHQL_RESPONSE_JSON_BYTES = GRAPHQL_RESPONSE_JSON.encode()
GRAPHQL_RESPONSE_CONTENT_TYPE = GRAPHQL_RESPONSE_JSON_BYTES + b"; charset=utf-8"
INTROSPECTION_FIELDS = frozenset({"__schema", "__type", "__typename"})


def _introspection_only(query: str | None, operation_name: str | None) -> bool:
    """True when the operation selects nothing but introspection (allowed without a token,
    so GraphiQL's documentation explorer works before a token is pasted)."""
    if not query:
        return False
    try:
        document = parse(query)
    except GraphQLSyntaxError:
        return False
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        if operation_name and (definition.name is None or definition.name.value != operation_name):
            continue
        return all(
            getattr(sel, "name", None) is not None and sel.name.value in INTROSPECTION_FIELDS  # type: ignore[attr-defined]
            for sel in definition.selection_set.selections
        )
    return False


class TextWebSocketAdapter(ASGIWebSocketAdapter):
    """GraphQL WebSocket protocols speak text frames; HTTP bodies stay orjson bytes."""

    async def send_json(self, message: Mapping[str, object]) -> None:
        try:
            await self.ws.send_text(orjson.dumps(message).decode())
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc


class PunchclockGraphQL(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = KeepAliveTransportWSHandler
    graphql_ws_handler_class = TrackedLegacyWSHandler
    websocket_adapter_class = TextWebSocketAdapter

    def __init__(self, services: Services, **kwargs: Any) -> None:
        super().__init__(services.schema, **kwargs)
        self.services = services
        self.fast_path = FastPath(services.schema) if services.settings.fast_path else None

    def _context(
        self,
        request: Request | WebSocket,
        response: Any,
        *,
        token: str | None = None,
        viewer: tuple[User, dict[str, Membership]] | None = None,
        unavailable: bool = False,
    ) -> Context:
        user, memberships = viewer if viewer else (None, {})
        return Context(
            db=self.services.db,
            viewer=user,
            memberships=memberships,
            loaders=Loaders(self.services.db),
            request_id=logs.current_request_id() or "",
            services=self.services,
            request=request,
            response=response,
            token=token,
            unavailable=unavailable,
        )

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        services = self.services
        viewer, token, unavailable = None, None, False
        if isinstance(request, Request):
            token = bearer_token(request.headers.get("authorization"))
            try:
                viewer = await authenticate(services.db, token)
            except Exception as exc:
                # Outside execution nothing masks it: a lost database would be a bare 500.
                if not is_unavailable(exc):
                    raise
                log.warning("database unavailable while authenticating: %r", exc)
                unavailable = True
        return self._context(request, response, token=token, viewer=viewer, unavailable=unavailable)

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """Authenticate the WebSocket from ``connection_init``; a bad token closes it (4403)."""
        token = token_from_init_payload(context.connection_params)
        try:
            found = await authenticate(context.db, token)
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            log.warning("database unavailable while authenticating a WebSocket: %r", exc)
            raise DatabaseUnavailable from exc
        if found is None:
            raise ConnectionRejectionError()
        context.viewer, context.memberships = found
        context.token = token
        unset: UnsetType = UNSET
        return unset

    async def execute_single(self, *args: Any, **kwargs: Any) -> ExecutionResult:
        context: Context = kwargs["context"]
        data = kwargs["request_data"]
        if context.unavailable:
            error = GraphQLError(
                "The database is unavailable; retry later.",
                extensions={"code": TopLevelCode.UNAVAILABLE.value},
            )
            return ExecutionResult(data=None, errors=[error])
        if context.viewer is None and (refused := refuse_anonymous(self.services, context.request)):
            return ExecutionResult(data=None, errors=[refused])
        if context.viewer is None and not _introspection_only(data.query, data.operation_name):
            if self.services.metrics is not None:  # refused before any schema extension runs
                self.services.metrics.errors.labels(TopLevelCode.UNAUTHENTICATED.value).inc()
            error = GraphQLError(
                "Authentication required: send `Authorization: Bearer <token>`.",
                extensions={"code": TopLevelCode.UNAUTHENTICATED.value},
            )
            return ExecutionResult(data=None, errors=[error])
        # The compiled paths (gql.fastpath); None: standard execution answers.
        tried = getattr(
            getattr(context.request, "state", None), "punchclock_fast_path_tried", False
        )
        if self.fast_path is not None and not tried:
            fast = await self.fast_path.execute(
                context,
                data.query,
                data.variables,
                data.operation_name,
                writes=kwargs["request_adapter"].method == "POST",
            )
            if fast is not None:
                return fast
        try:
            return await super().execute_single(*args, **kwargs)
        except HTTPException as exc:
            # GraphQL over HTTP: a mutation over GET is 405 Method Not Allowed, not 400.
            if kwargs["request_adapter"].method == "GET" and isinstance(
                exc.__cause__, InvalidOperationTypeError
            ):
                raise HTTPException(405, "Mutations need POST.") from exc
            raise

    async def parse_http_body(self, request: Any) -> Any:
        try:
            return await super().parse_http_body(request)
        except HTTPException as exc:
            # GraphQL over HTTP: a body in a media type the server does not read is
            # 415 Unsupported Media Type, not a generic 400.
            if exc.status_code == 400 and exc.reason == "Unsupported content type":
                raise HTTPException(
                    415, "Unsupported content type: send application/json."
                ) from exc
            raise

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        response = await super().process_result(request, result)
        request_id = logs.current_request_id()
        # Every error names its request, so a report from a client finds the log lines.
        for error in response.get("errors") or []:
            if request_id and isinstance(error, dict):
                error["extensions"] = {**(error.get("extensions") or {}), "requestId": request_id}
        return response

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and self.fast_path is not None:
            await self._post(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)

    async def _post(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A POST: a plannable JSON request goes straight to the compiled path, without
        Strawberry's HTTP handling around it (parsing, checks and hooks cost more than
        the compiled path's answer); the rest, and whatever it hands back, goes through
        ``run`` as always, with the body read here replayed and the context built here."""
        head = _plain_json_request(scope)
        body = await _read_body(receive) if head is not None else None
        replay = receive if body is None else _replaying(body, receive)
        data = _fast_request_data(body) if body is not None else None
        assert self.fast_path is not None
        plan = self.fast_path.plan(data[0], data[2]) if data is not None else None
        if head is None or data is None or plan is None:
            await super().__call__(scope, replay, send)
            return
        request = Request(scope, replay)
        result = None
        context: Context | None = None
        prepaid = None
        if isinstance(plan, WritePlan):
            # A compiled write checks the token in its own first statement; declined, it
            # is the standard path's with an authenticated context.
            token = bearer_token(head.authorization)
            if token is not None:
                bare = self._context(request, None, token=token)
                result = await self.fast_path.execute(bare, *data, writes=True)
                prepaid = bare.rate_prepaid
        else:
            context = await self.get_context(request, await self._sub_response(request))
            if not context.unavailable:
                result = await self.fast_path.execute(context, *data)
        if result is not None and not result.errors and result.data is not None:
            await _send_data(send, result, modern=GRAPHQL_RESPONSE_JSON_BYTES in head.accept)
            return
        sub_response = await self._sub_response(request)
        if context is None:
            context = await self.get_context(request, sub_response)
            context.rate_prepaid = prepaid  # a declined compiled write was charged already
        if result is None:
            request.state.punchclock_fast_path_tried = True  # execute_single: not again
            try:
                response = await self.run(request, context=context)
            except HTTPException as exc:
                response = PlainTextResponse(exc.reason, status_code=exc.status_code)
        else:
            response_data = await self.process_result(request, result)
            if result.errors:
                self._handle_errors(result.errors, response_data)
            response = self.create_response(response_data, sub_response)
        await response(scope, replay, send)

    async def _sub_response(self, request: Request) -> Response:
        """The sub-response of a request ``_post`` answers (``run`` finds it again)."""
        sub_response = await self.get_sub_response(request)
        request.state.punchclock_sub_response = sub_response
        return sub_response

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        if isinstance(request, WebSocket) and self.services.draining:
            # Shutting down: a new WebSocket would only be cut again in a moment.
            await request.close(1001, "Server shutting down")
            return None
        return await super().run(request, context, root_value)

    async def render_graphql_ide(self, request: Request) -> Response:
        return await graphiql.page(self.services.db, request.url.path)

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

    def create_response(self, response_data: Any, sub_response: Response) -> Response:
        request: Request | None = getattr(sub_response, "_punchclock_request", None)
        accept = request.headers.get("accept", "") if request is not None else ""
        modern = GRAPHQL_RESPONSE_JSON in accept
        status = _status_for(response_data)
        if modern and status is not None and status < 500 and isinstance(response_data, dict):
            # GraphQL over HTTP: a request error (nothing executed) has no `data` entry.
            response_data.pop("data", None)
        response = super().create_response(response_data, sub_response)
        retry_after = _retry_after(response_data)
        if retry_after is not None:
            # The contract promises 429 with Retry-After whichever media type was asked for.
            response.status_code = 429
            response.headers["retry-after"] = str(retry_after)
        if status == 503:
            # The contract promises 503 for a database out of reach whatever the media
            # type: plain-JSON clients and load balancers retry on it, not on a 200.
            response.status_code = 503
        if modern:
            response.headers["content-type"] = GRAPHQL_RESPONSE_JSON + "; charset=utf-8"
            if status is not None:
                response.status_code = status
        return response

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        made: Response | None = getattr(request.state, "punchclock_sub_response", None)
        if made is not None:  # _post made it for the context it hands to run
            return made
        sub = await super().get_sub_response(request)
        sub._punchclock_request = request  # type: ignore[attr-defined]
        return sub


FAST_BODY_KEYS = frozenset({"query", "variables", "operationName"})


class _Head(NamedTuple):
    accept: bytes
    authorization: str | None


def _plain_json_request(scope: Scope) -> _Head | None:
    """The headers ``_post`` reads of a POST of ``application/json`` that wants a single
    JSON answer (no streaming); None for any other request."""
    content_type = accept = authorization = None
    for name, value in scope["headers"]:  # the first of each, as Starlette's Headers.get
        if name == b"content-type":
            content_type = value if content_type is None else content_type
        elif name == b"accept":
            accept = value if accept is None else accept
        elif name == b"authorization" and authorization is None:
            authorization = value.decode("latin-1")
    content_type, accept = content_type or b"", accept or b""
    media = content_type.split(b";", 1)[0].strip().lower()
    if media != b"application/json" or b"multipart" in accept or b"event-stream" in accept:
        return None
    return _Head(accept, authorization)


async def _send_data(send: Send, result: ExecutionResult, *, modern: bool) -> None:
    """An answer with data and no errors, as ``process_result`` and ``create_response``
    make it (same body, status and headers), without building a Response for it."""
    answer: dict[str, Any] = {"data": result.data}
    if result.extensions:
        answer["extensions"] = result.extensions
    payload = orjson.dumps(answer)
    content_type = GRAPHQL_RESPONSE_CONTENT_TYPE if modern else b"application/json"
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-length", str(len(payload)).encode("latin-1")),
                (b"content-type", content_type),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


async def _read_body(receive: Receive) -> bytes | None:
    """The whole body; None if the client left first (the standard path sees that too)."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """``receive`` with the body already read given back first."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _fast_request_data(body: bytes) -> tuple[str, dict[str, Any] | None, str | None] | None:
    """(query, variables, operationName) of a single, plain GraphQL request; None for
    anything else (a batch, extensions, odd types, JSON orjson does not read)."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(payload, dict) or not payload.keys() <= FAST_BODY_KEYS:
        return None
    query, variables, name = (
        payload.get("query"),
        payload.get("variables"),
        payload.get("operationName"),
    )
    if (
        not isinstance(query, str)
        or not (variables is None or isinstance(variables, dict))
        or not (name is None or isinstance(name, str))
    ):
        return None
    return query, variables, name


_STATUS_BY_CODE = {
    TopLevelCode.UNAUTHENTICATED.value: 401,
    TopLevelCode.UNAVAILABLE.value: 503,
    TopLevelCode.RATE_LIMITED.value: 429,
}


def _retry_after(response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse]) -> int | None:
    if isinstance(response_data, list):
        return None
    for error in response_data.get("errors") or []:
        extensions = error.get("extensions") if isinstance(error, dict) else None
        if isinstance(extensions, dict) and extensions.get("code") == "RATE_LIMITED":
            seconds = extensions.get("retryAfter")
            return seconds if isinstance(seconds, int) else 1
    return None


def _status_for(response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse]) -> int | None:
    if isinstance(response_data, list) or response_data.get("data") is not None:
        return None
    for error in response_data.get("errors") or []:
        extensions = error.get("extensions") if isinstance(error, dict) else None
        code = extensions.get("code") if isinstance(extensions, dict) else None
        if code in _STATUS_BY_CODE:
            return _STATUS_BY_CODE[code]
        if code in (
            TopLevelCode.GRAPHQL_VALIDATION_FAILED.value,
            TopLevelCode.BAD_USER_INPUT.value,
            TopLevelCode.QUERY_TOO_COMPLEX.value,
        ):
            return 400
    return None

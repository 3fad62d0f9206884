"""The GraphQL HTTP/WebSocket endpoint: Strawberry's ASGI view with our context and errors."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import orjson
from cross_web import HTTPException
from graphql import GraphQLError, OperationDefinitionNode
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.exceptions import ConnectionRejectionError, MissingQueryError
from strawberry.http import GraphQLHTTPResponse
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UNSET, UnsetType

from gql.compiler import Compiler
from gql.guard.admission import ParseGate, parse_limited, refuse_anonymous
from gql.schema.context import Context
from gql.schema.errors import DatabaseUnavailable, TopLevelCode, is_unavailable
from gql.schema.loaders import Loaders
from gql.server import graphiql, logs
from gql.server.auth import Viewer, authenticate_token, bearer_token, token_from_init_payload
from gql.server.boundary import send_error
from gql.server.services import Services
from gql.server.shortcut import compiled_post
from gql.server.websocket import (
    FORBIDDEN_CLOSE,
    KeepAliveTransportWSHandler,
    TrackedLegacyWSHandler,
)

log = logging.getLogger("punchclock")

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
INTROSPECTION_FIELDS = frozenset({"__schema", "__type", "__typename"})
HTTP_OPERATIONS = frozenset({OperationType.QUERY, OperationType.MUTATION})
SUBSCRIPTION_OVER_HTTP = (
    "Subscriptions run over the WebSocket on /graphql (graphql-transport-ws), "
    "not in a single HTTP request."
)
MISSING_TOKEN = "Authentication required: send `Authorization: Bearer <token>`."
MISSING_WS_TOKEN = (
    'Authentication required: send {"authorization": "Bearer <token>"} in connection_init.'
)
INVALID_TOKEN = "The token is not valid: it is malformed, unknown, expired or revoked."


def _introspection_only(query: str | None, operation_name: str | None, max_tokens: int) -> bool:
    """True when the operation selects nothing but introspection (allowed without a token,
    so GraphiQL's documentation explorer works before a token is pasted). Parsed within
    the token limit: an anonymous megabyte of tokens must not cost a full parse."""
    if not query:
        return False
    try:
        document = parse_limited(query, max_tokens)
    except GraphQLError:
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

    async def close(self, code: int, reason: str) -> None:
        # Strawberry closes a refused graphql-transport-ws login with "Forbidden"; the
        # reason on_ws_connect left says whether the token was missing or wrong.
        refusal = getattr(self.ws.state, "punchclock_refusal", None)
        if code == FORBIDDEN_CLOSE and isinstance(refusal, str):
            reason = refusal
        await super().close(code, reason)


class PunchclockGraphQL(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = KeepAliveTransportWSHandler
    graphql_ws_handler_class = TrackedLegacyWSHandler
    websocket_adapter_class = TextWebSocketAdapter

    def __init__(self, services: Services, **kwargs: Any) -> None:
        super().__init__(services.schema, **kwargs)
        self.services = services
        self.parse_gate = ParseGate(services.schema._schema, services.limits)
        self.fast_path = (
            Compiler(services.schema, limits=services.limits)
            if services.settings.fast_path
            else None
        )

    def _context(
        self,
        request: Request | WebSocket,
        response: Any,
        *,
        token: str | None = None,
        viewer: Viewer | None = None,
        unavailable: bool = False,
    ) -> Context:
        return Context(
            db=self.services.db,
            viewer=viewer.user if viewer else None,
            memberships=viewer.memberships if viewer else {},
            bearer=viewer.token if viewer else None,
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
                viewer = await authenticate_token(services.db, token)
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
            found = await authenticate_token(context.db, token)
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            log.warning("database unavailable while authenticating a WebSocket: %r", exc)
            raise DatabaseUnavailable from exc
        if found is None:
            # The legacy protocol sends this payload in its connection_error; the
            # modern one closes with 4403 and the message as the reason.
            message = MISSING_WS_TOKEN if token is None else INVALID_TOKEN
            if context.request is not None:
                context.request.state.punchclock_refusal = message
            raise ConnectionRejectionError(
                {
                    "message": message,
                    "extensions": {"code": TopLevelCode.UNAUTHENTICATED.value},
                }
            )
        context.viewer, context.memberships, context.bearer = (
            found.user,
            found.memberships,
            found.token,
        )
        context.token = token
        unset: UnsetType = UNSET
        return unset

    async def execute_single(self, *_: Any, **kwargs: Any) -> ExecutionResult:
        context: Context = kwargs["context"]
        data = kwargs["request_data"]
        refused = await self.parse_gate.check(data.query)
        if refused is not None:
            return self._refused(refused)
        if context.unavailable:
            error = GraphQLError(
                "The database is unavailable; retry later.",
                extensions={"code": TopLevelCode.UNAVAILABLE.value},
            )
            return ExecutionResult(data=None, errors=[error])
        if context.viewer is None and (limited := refuse_anonymous(self.services, context.request)):
            return ExecutionResult(data=None, errors=[limited])
        max_tokens = self.services.limits.max_tokens
        if context.viewer is None and not _introspection_only(
            data.query, data.operation_name, max_tokens
        ):
            if self.services.metrics is not None:  # refused before any schema extension runs
                self.services.metrics.errors.labels(TopLevelCode.UNAUTHENTICATED.value).inc()
            error = GraphQLError(
                MISSING_TOKEN if context.token is None else INVALID_TOKEN,
                extensions={"code": TopLevelCode.UNAUTHENTICATED.value},
            )
            return ExecutionResult(data=None, errors=[error])
        # The compiled paths (gql.compiler); None: standard execution answers.
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
        method = kwargs["request_adapter"].method
        # One HTTP request gets one answer: a subscription needs the WebSocket (or a
        # streaming request, which Strawberry's execute_operation sends elsewhere).
        allowed = {OperationType.QUERY} if method == "GET" else HTTP_OPERATIONS
        try:
            return await self.schema.execute(
                data.query,
                root_value=kwargs["root_value"],
                variable_values=data.variables,
                context_value=context,
                operation_name=data.operation_name,
                allowed_operation_types=allowed,
                operation_extensions=data.extensions,
            )
        except CannotGetOperationTypeError as exc:
            raise HTTPException(400, exc.as_http_error_reason()) from exc
        except InvalidOperationTypeError as exc:
            if exc.operation_type == OperationType.SUBSCRIPTION:
                raise HTTPException(400, SUBSCRIPTION_OVER_HTTP) from exc
            # GraphQL over HTTP: a mutation over GET is 405 Method Not Allowed, not 400.
            raise HTTPException(405, "Mutations need POST.") from exc
        except MissingQueryError as exc:
            raise HTTPException(400, "No GraphQL query found in the request.") from exc

    def decode_json(self, data: str | bytes) -> object:
        """HTTP bodies and WebSocket frames alike (orjson's error is a JSONDecodeError,
        which the WebSocket protocols answer as they do any unreadable frame)."""
        return orjson.loads(data)

    def parse_json(self, data: str | bytes) -> Any:
        """orjson reads the body (strictly: UTF-8, no lone surrogates, 1024 levels at
        most, each a clear 400 instead of a crash), and it must be a request: an object,
        or a list of objects for a batch."""
        try:
            value = self.decode_json(data)
        except orjson.JSONDecodeError as exc:
            raise HTTPException(400, f"The request body is not valid JSON: {exc}.") from exc
        if isinstance(value, dict):
            return value
        if isinstance(value, list) and all(isinstance(item, dict) for item in value):
            return value
        raise HTTPException(
            400, "Expected a JSON object: a GraphQL request, or its variables or extensions."
        )

    def _refused(self, error: GraphQLError) -> ExecutionResult:
        """A document the parse gate refused: counted like the schema's refusals."""
        if self.services.metrics is not None:
            code = (error.extensions or {}).get("code")
            self.services.metrics.errors.labels(str(code)).inc()
        return ExecutionResult(data=None, errors=[error])

    async def parse_http_body(self, request: Any) -> Any:
        try:
            parsed = await super().parse_http_body(request)
        except HTTPException as exc:
            # GraphQL over HTTP: a body in a media type the server does not read is
            # 415 Unsupported Media Type, not a generic 400.
            if exc.status_code == 400 and exc.reason == "Unsupported content type":
                raise HTTPException(
                    415, "Unsupported content type: send application/json."
                ) from exc
            raise
        for item in parsed if isinstance(parsed, list) else [parsed]:
            if not isinstance(item.operation_name, (str, type(None))):
                raise HTTPException(
                    400,
                    "The GraphQL operation's `operationName` must be a string or null, "
                    "if provided.",
                )
        return parsed

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
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
        elif scope["method"] == "POST" and self.fast_path is not None:
            await compiled_post(self, scope, receive, send)
        else:
            await self._answer(Request(scope, receive), send)

    async def _answer(self, request: Request, send: Send, context: Any = UNSET) -> None:
        """``run``'s answer; a request error (HTTPException: a body that is no GraphQL
        request, an operation the method does not allow) as a GraphQL error, coded
        ``BAD_REQUEST``, with the exception's status, instead of Strawberry's text."""
        try:
            response = await self.run(request, context=context)
        except HTTPException as exc:
            await send_error(
                request.scope, send, exc.status_code, TopLevelCode.BAD_REQUEST, exc.reason
            )
            return
        await response(request.scope, request.receive, send)

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


_STATUS_BY_CODE = {
    TopLevelCode.UNAUTHENTICATED.value: 401,
    TopLevelCode.FORBIDDEN.value: 403,
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

"""The GraphQL HTTP/WebSocket endpoint: Strawberry's ASGI view with our context and errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from cross_web import HTTPException
from graphql import GraphQLError, OperationDefinitionNode, parse
from graphql.error import GraphQLSyntaxError
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket, WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET, UnsetType

from gql.auth import authenticate, bearer_token, token_from_init_payload
from gql.context import Context
from gql.errors import TopLevelCode
from gql.fastpath import FastPath
from gql.loaders import Loaders
from gql.services import Services
from gql.websocket import KeepAliveTransportWSHandler

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
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
    websocket_adapter_class = TextWebSocketAdapter

    def __init__(self, services: Services, **kwargs: Any) -> None:
        super().__init__(services.schema, **kwargs)
        self.services = services
        self.fast_path = FastPath(services.schema) if services.settings.fast_path else None

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        services = self.services
        request_id = getattr(request.state, "request_id", None) or ""
        viewer, token = None, None
        if isinstance(request, Request):
            token = bearer_token(request.headers.get("authorization"))
            viewer = await authenticate(services.db, token)
        user, memberships = viewer if viewer else (None, {})
        return Context(
            db=services.db,
            viewer=user,
            memberships=memberships,
            loaders=Loaders(services.db),
            request_id=request_id,
            services=services,
            request=request,
            response=response,
            token=token,
        )

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """Authenticate the WebSocket from ``connection_init``; a bad token closes it (4403)."""
        token = token_from_init_payload(context.connection_params)
        found = await authenticate(context.db, token)
        if found is None:
            raise ConnectionRejectionError()
        context.viewer, context.memberships = found
        context.token = token
        unset: UnsetType = UNSET
        return unset

    async def execute_single(self, *args: Any, **kwargs: Any) -> ExecutionResult:
        context: Context = kwargs["context"]
        data = kwargs["request_data"]
        if context.viewer is None and not _introspection_only(data.query, data.operation_name):
            error = GraphQLError(
                "Authentication required: send `Authorization: Bearer <token>`.",
                extensions={"code": TopLevelCode.UNAUTHENTICATED.value},
            )
            return ExecutionResult(data=None, errors=[error])
        # The compiled read path (gql.fastpath); None: standard execution answers.
        if self.fast_path is not None:
            fast = await self.fast_path.execute(
                context, data.query, data.variables, data.operation_name
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

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

    def create_response(self, response_data: Any, sub_response: Response) -> Response:
        response = super().create_response(response_data, sub_response)
        request: Request | None = getattr(sub_response, "_punchclock_request", None)
        accept = request.headers.get("accept", "") if request is not None else ""
        if GRAPHQL_RESPONSE_JSON in accept:
            response.headers["content-type"] = GRAPHQL_RESPONSE_JSON + "; charset=utf-8"
            status = _status_for(response_data)
            if status is not None:
                response.status_code = status
        return response

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        sub = await super().get_sub_response(request)
        sub._punchclock_request = request  # type: ignore[attr-defined]
        return sub


_STATUS_BY_CODE = {
    TopLevelCode.UNAUTHENTICATED.value: 401,
    TopLevelCode.UNAVAILABLE.value: 503,
    TopLevelCode.RATE_LIMITED.value: 429,
}


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

"""The one error boundary: every HTTP answer is a GraphQL response with a coded error.

Client mistakes are answered where they are found (the view's request checks, the
schema's extensions, the resolvers), each with its code and the HTTP status for it.
What still escapes the application is, by elimination, a server fault: this middleware,
just inside :class:`gql.server.app.RequestIdMiddleware`, answers it ``INTERNAL`` with HTTP 500
(``UNAVAILABLE`` with 503 when the database is out of reach), never Starlette's bare
``text/plain`` 500, and logs it once, with the request id (Starlette's
``ServerErrorMiddleware`` would log it again, outside the request, with id ``-``).

Starlette's exception handlers could build the answer, but ``ServerErrorMiddleware``
re-raises every exception after answering (uvicorn logs it a second time) and has no
request id; a small middleware is the place that can do both.
"""

from __future__ import annotations

import logging

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gql.schema.errors import TopLevelCode, is_unavailable
from gql.server import logs

log = logging.getLogger("punchclock.errors")

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"


def error_body(
    code: TopLevelCode, message: str, request_id: str | None, *, modern: bool = False
) -> bytes:
    """A GraphQL response with one top-level error and no data (``"data": null`` in plain
    JSON; no ``data`` entry at all in ``application/graphql-response+json``, as GraphQL
    over HTTP says of a request error)."""
    extensions: dict[str, object] = {"code": code.value}
    if request_id:
        extensions["requestId"] = request_id
    errors = [{"message": message, "extensions": extensions}]
    return orjson.dumps({"errors": errors} if modern else {"data": None, "errors": errors})


def media_type(scope: Scope) -> bytes:
    """``application/graphql-response+json`` when the client asks for it, else JSON."""
    for name, value in scope.get("headers") or ():
        if name == b"accept":
            if GRAPHQL_RESPONSE_JSON.encode() in value:
                return GRAPHQL_RESPONSE_JSON.encode() + b"; charset=utf-8"
            break
    return b"application/json"


def request_id_of(scope: Scope) -> str | None:
    """The request's id: asgi-correlation-id's (``gql.server.logs``), or one a scope carries."""
    state = scope.get("state") or {}
    found = state.get("request_id")
    return found if isinstance(found, str) else logs.current_request_id()


async def send_error(
    scope: Scope,
    send: Send,
    status: int,
    code: TopLevelCode,
    message: str,
    *,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    content_type = media_type(scope)
    modern = content_type != b"application/json"
    body = error_body(code, message, request_id_of(scope), modern=modern)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode("latin-1")),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own refusals (no such route: 404, a method the route does not take:
    405) as GraphQL errors too, instead of its ``text/plain``."""
    assert isinstance(exc, HTTPException)
    code = TopLevelCode.NOT_FOUND if exc.status_code == 404 else TopLevelCode.BAD_REQUEST
    content_type = media_type(request.scope)
    body = error_body(
        code,
        exc.detail,
        request_id_of(request.scope),
        modern=content_type != b"application/json",
    )
    return Response(
        body,
        status_code=exc.status_code,
        headers=dict(exc.headers or {}),
        media_type=content_type.decode(),
    )


class ErrorBoundaryMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] in ("http.response.start", "websocket.accept", "websocket.close"):
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            request_id = request_id_of(scope)
            if is_unavailable(exc):
                log.warning("database unavailable (request %s): %r", request_id, exc)
                code, status = TopLevelCode.UNAVAILABLE, 503
                message = "The database is unavailable; retry later."
            else:
                log.error("unexpected error (request %s)", request_id, exc_info=exc)
                code, status = TopLevelCode.INTERNAL, 500
                message = "Internal error."
            if started:  # the answer is under way: nothing sound is left to say
                return
            if scope["type"] == "http":
                await send_error(scope, send, status, code, message)
            else:  # a handshake that failed before it was accepted: refuse it
                await send({"type": "websocket.close", "code": 1011, "reason": code.value})

"""Reading a request's body once, handing it on (changed or not), answering an error."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.types import Message, Receive, Scope, Send

from gql.server import logs

GRAPHQL_RESPONSE_JSON = b"application/graphql-response+json"


def header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of a request header (as Starlette's ``Headers.get``)."""
    for key, value in scope["headers"]:
        if key == name:
            return value  # type: ignore[no-any-return]
    return None


def is_json(scope: Scope) -> bool:
    content_type = header(scope, b"content-type") or b""
    return content_type.split(b";", 1)[0].strip().lower() == b"application/json"


async def read_body(receive: Receive) -> bytes | None:
    """The whole body; None if the client left first."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def replaying(body: bytes, receive: Receive) -> Receive:
    """``receive`` with ``body`` given first (then whatever the client sends next)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def with_body(scope: Scope, body: bytes) -> Scope:
    """``scope`` with its content-length fitted to a rewritten body."""
    headers = [(k, v) for k, v in scope["headers"] if k != b"content-length"]
    headers.append((b"content-length", str(len(body)).encode("latin-1")))
    return {**scope, "headers": headers}


def load_json(body: bytes) -> Any:
    """The JSON of a body, or None when it is not JSON (the view then answers that)."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


class Refusal(Exception):
    """A request error answered before the view, as a GraphQL response."""

    def __init__(
        self, code: str, message: str, *, status: int = 400, plain_status: int = 200
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status  # for application/graphql-response+json
        self.plain_status = plain_status  # for application/json


async def refuse(scope: Scope, send: Send, refusal: Refusal) -> None:
    """The refusal as GraphQL over HTTP answers a request error (no ``data``), never
    cached (a CDN in front must not keep it for the URL of a GET)."""
    extensions: dict[str, Any] = {"code": refusal.code}
    request_id = logs.current_request_id()
    if request_id:
        extensions["requestId"] = request_id
    payload = orjson.dumps({"errors": [{"message": refusal.message, "extensions": extensions}]})
    modern = GRAPHQL_RESPONSE_JSON in (header(scope, b"accept") or b"")
    content_type = GRAPHQL_RESPONSE_JSON + b"; charset=utf-8" if modern else b"application/json"
    await send(
        {
            "type": "http.response.start",
            "status": refusal.status if modern else refusal.plain_status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(payload)).encode("latin-1")),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})

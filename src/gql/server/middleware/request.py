"""One pass over a GraphQL request on ``/graphql`` before the view reads it.

A POST body is read once (and handed on, changed or not); a GET's parameters are read
from the query string. Three steps, each in its own module:

- the request's shape: an ``operationName``, ``variables`` or ``extensions`` of the
  wrong JSON type is a malformed request, 400 ``BAD_REQUEST`` whatever the media type
  (GraphQL over HTTP allows it; the view would read past it);
- persisted queries (:mod:`gql.server.middleware.persisted`);
- the ``Idempotency-Key`` header (:mod:`gql.server.middleware.idempotency`).

Every JSON POST is parsed here once more than the view parses it: orjson takes a few
microseconds for a usual body, a small price for one place that reads requests.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from gql.guard.persisted import PersistedQueries
from gql.server.middleware.body import (
    Refusal,
    header,
    is_json,
    load_json,
    read_body,
    refuse,
    replaying,
    with_body,
)
from gql.server.middleware.idempotency import VALIDATION, with_key
from gql.server.middleware.persisted import PersistedQueryResolver

BAD_REQUEST = "BAD_REQUEST"
SHAPES: dict[str, tuple[type, ...]] = {
    "query": (str,),
    "operationName": (str,),
    "variables": (dict,),
    "extensions": (dict,),
}


def check_shape(payload: dict[str, Any]) -> None:
    for name, types in SHAPES.items():
        value = payload.get(name)
        if value is not None and not isinstance(value, types):
            raise Refusal(
                BAD_REQUEST,
                f"`{name}` must be a JSON {'string' if str in types else 'object'}.",
                status=400,
                plain_status=400,
            )


class GraphQLRequestMiddleware:
    def __init__(self, app: ASGIApp, *, store: PersistedQueries, path: str = "/graphql") -> None:
        self.app = app
        self.persisted = PersistedQueryResolver(store)
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == self.path:
            try:
                if scope["method"] == "GET":
                    scope = await self._get(scope)
                elif scope["method"] == "POST" and is_json(scope):
                    scope, receive = await self._post(scope, receive)
            except Refusal as refusal:
                await refuse(scope, send, refusal)
                return
        elif scope["type"] == "websocket" and scope["path"] == self.path:
            if self.persisted.store.only:
                receive = self.persisted.guarded(receive, send)
        await self.app(scope, receive, send)

    async def _get(self, scope: Scope) -> Scope:
        params = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
        payload = self.persisted.get_payload(dict(params))
        if payload is None:
            return scope
        resolved = await self.persisted.resolve(payload)
        kept = [(k, v) for k, v in params if k not in ("query", "extensions")]
        kept.append(("query", resolved["query"]))
        if "extensions" in resolved:
            kept.append(("extensions", orjson.dumps(resolved["extensions"]).decode()))
        return {**scope, "query_string": urlencode(kept).encode("latin-1")}

    async def _post(self, scope: Scope, receive: Receive) -> tuple[Scope, Receive]:
        body = await read_body(receive)
        if body is None:
            return scope, receive
        key = header(scope, b"idempotency-key")
        persisted = self.persisted.concerns(body)
        payload = load_json(body)
        if isinstance(payload, dict):
            changed: Any = await self._one(payload, persisted, key)
        elif isinstance(payload, list):  # a batch: each operation on its own
            if key is not None:
                raise Refusal(
                    VALIDATION, "An Idempotency-Key header needs a request of one mutation."
                )
            changed = [
                await self._one(p, persisted, None) if isinstance(p, dict) else p for p in payload
            ]
        else:
            return scope, replaying(body, receive)  # the view answers what is not JSON
        if changed == payload:
            return scope, replaying(body, receive)
        body = orjson.dumps(changed)
        return with_body(scope, body), replaying(body, receive)

    async def _one(
        self, payload: dict[str, Any], persisted: bool, key: bytes | None
    ) -> dict[str, Any]:
        check_shape(payload)
        if persisted:
            payload = await self.persisted.resolve(payload)
        if key is not None:
            payload = with_key(payload, key.decode("latin-1")) or payload
        return payload

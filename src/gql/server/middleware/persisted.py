"""Apollo's automatic persisted queries on ``/graphql``, over POST and GET.

A request whose ``extensions.persistedQuery`` is ``{"version": 1, "sha256Hash": h}``:

- without ``query``: runs the document registered under ``h``, or is answered
  ``PERSISTED_QUERY_NOT_FOUND`` (then Apollo's link sends the whole document);
- with ``query``: runs it once its SHA-256 is checked against ``h``
  (``PERSISTED_QUERY_HASH_MISMATCH`` else), and registers it for every instance.

A GET works as a POST does (``?extensions=…&variables=…``), so a CDN can cache a hashed
query's URL; refusals are sent with ``Cache-Control: no-store``. The request reaches the
view as an ordinary one (``query`` set, ``persistedQuery`` removed), so every later step,
the compiled paths included, treats it as any other.

In allow-list mode (:class:`gql.guard.persisted.PersistedQueries` ``only``), a document that
is not in the list is refused with ``PERSISTED_QUERY_NOT_ALLOWED``, over HTTP and on
WebSockets (``subscribe`` / ``start`` messages get an ``error`` for that operation).
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from starlette.types import Message, Receive, Send

from gql.guard.persisted import PersistedQueries, sha256_of
from gql.server.middleware.body import Refusal, load_json

NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
HASH_MISMATCH = "PERSISTED_QUERY_HASH_MISMATCH"
NOT_ALLOWED = "PERSISTED_QUERY_NOT_ALLOWED"
INVALID = "PERSISTED_QUERY_INVALID"
SHA256 = re.compile(r"[0-9a-fA-F]{64}")


class PersistedQueryResolver:
    """The persisted-query step of the request middleware (``request.GraphQLRequestMiddleware``)."""

    def __init__(self, store: PersistedQueries) -> None:
        self.store = store

    def concerns(self, body: bytes) -> bool:
        """Whether a POST body needs :meth:`resolve` (a cheap look before any parsing)."""
        return self.store.only or b"persistedQuery" in body

    def get_payload(self, params: dict[str, str]) -> dict[str, Any] | None:
        """The request of a GET's parameters that needs :meth:`resolve`, else None."""
        if "extensions" not in params and not (self.store.only and "query" in params):
            return None  # GraphiQL's page, or an ordinary GET
        extensions = load_json(params["extensions"].encode()) if "extensions" in params else None
        return {"query": params.get("query"), "extensions": extensions}

    async def resolve(self, payload: dict[str, Any]) -> dict[str, Any]:
        return await self._resolve(payload)

    async def _resolve(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The request with its document; Refusal when there is none to run."""
        extensions = payload.get("extensions")
        persisted = extensions.get("persistedQuery") if isinstance(extensions, dict) else None
        query = payload.get("query")
        if persisted is None:
            if self.store.only and not self.store.is_allowed(query):
                raise Refusal(NOT_ALLOWED, "Only registered operations run on this server.")
            return payload
        assert isinstance(extensions, dict)
        if (
            not isinstance(persisted, dict)
            or persisted.get("version") != 1
            or not isinstance(persisted.get("sha256Hash"), str)
            or not SHA256.fullmatch(persisted["sha256Hash"])
        ):
            raise Refusal(
                INVALID, 'extensions.persistedQuery must be {"version": 1, "sha256Hash": <hex>}.'
            )
        sha256 = persisted["sha256Hash"].lower()
        if isinstance(query, str):
            if sha256_of(query) != sha256:
                raise Refusal(HASH_MISMATCH, "sha256Hash is not the SHA-256 of the query.")
            if self.store.only:
                if not self.store.is_allowed(query):
                    raise Refusal(NOT_ALLOWED, "Only registered operations run on this server.")
            else:
                await self.store.register(sha256, query)
        else:
            query = await self.store.find(sha256)
            if query is None:
                # Apollo's link recognises the message as well as the code.
                raise Refusal(NOT_FOUND, "PersistedQueryNotFound", status=200)
        rest = {k: v for k, v in extensions.items() if k != "persistedQuery"}
        resolved = {k: v for k, v in payload.items() if k != "extensions"}
        resolved["query"] = query
        if rest:
            resolved["extensions"] = rest
        return resolved

    def guarded(self, receive: Receive, send: Send) -> Receive:
        """``receive`` that answers operations outside the allow-list with an error."""

        async def guarded() -> Message:
            while True:
                message = await receive()
                refused = self._refused_operation(message)
                if refused is None:
                    return message
                await send({"type": "websocket.send", "text": refused})

        return guarded

    def _refused_operation(self, message: Message) -> str | None:
        text = message.get("text") if message["type"] == "websocket.receive" else None
        if not text or '"query"' not in text:
            return None
        frame = load_json(text.encode())
        if not isinstance(frame, dict) or frame.get("type") not in ("subscribe", "start"):
            return None
        payload = frame.get("payload")
        if not isinstance(payload, dict) or self.store.is_allowed(payload.get("query")):
            return None
        error = {
            "message": "Only registered operations run on this server.",
            "extensions": {"code": NOT_ALLOWED},
        }
        # graphql-transport-ws sends a list of errors; the legacy graphql-ws one error.
        errors: Any = [error] if frame["type"] == "subscribe" else error
        return orjson.dumps({"id": frame.get("id"), "type": "error", "payload": errors}).decode()

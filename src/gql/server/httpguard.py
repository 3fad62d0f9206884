"""uvicorn's httptools protocol with a deadline and a size cap on request headers.

uvicorn arms its keep-alive timeout only after a response, and the httptools parser keeps
every header byte it is fed: a client that opens a connection and sends its headers a
byte at a time (slowloris), or sends endless headers, would hold a connection and its
memory for as long as it likes. Here a request's headers must arrive in full within
``header_timeout`` seconds of the connection (or of the request's first byte on a
kept-alive connection) and stay under ``max_header_bytes``; otherwise the server answers
408 or 431 and closes the connection. Bodies are bounded by :mod:`gql.server.bodylimit`.

``punchclock serve`` uses it; with plain uvicorn pass
``--http gql.server.httpguard:GuardedHttpToolsProtocol``.
"""

from __future__ import annotations

import asyncio
import functools
import logging

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gql.settings import Settings

log = logging.getLogger("punchclock.http")

PROTOCOL = "gql.server.httpguard:GuardedHttpToolsProtocol"
_TIMEOUT = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-length: 0\r\nconnection: close\r\n\r\n"
)


@functools.cache
def _limits() -> tuple[float, int]:
    settings = Settings()
    return settings.header_timeout_seconds, settings.max_header_bytes


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    _awaiting_headers = True
    _header_bytes = 0
    _header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._awaiting_headers and not self.transport.is_closing():
            self._header_bytes += len(data)
            if self._header_bytes > _limits()[1]:
                self._refuse(_TOO_LARGE, "request headers over %d bytes", _limits()[1])

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._await_headers()

    def on_headers_complete(self) -> None:
        self._awaiting_headers = False
        self._cancel_deadline()
        super().on_headers_complete()

    def _await_headers(self) -> None:
        if not self._awaiting_headers:
            self._awaiting_headers, self._header_bytes = True, 0
        if self._header_deadline is None:
            self._header_deadline = self.loop.call_later(_limits()[0], self._too_slow)

    def _cancel_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _too_slow(self) -> None:
        self._header_deadline = None
        if self._awaiting_headers and not self.transport.is_closing():
            self._refuse(_TIMEOUT, "request headers not complete within %.0f s", _limits()[0])

    def _refuse(self, response: bytes, why: str, limit: float) -> None:
        log.info("closing a connection from %s: " + why, self.client, limit)
        self._cancel_deadline()
        self.transport.write(response)
        self.transport.close()

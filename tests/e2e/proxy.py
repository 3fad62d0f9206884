"""A small round-robin TCP load balancer for tests: each new client connection goes to
the next backend, and bytes flow both ways untouched, so HTTP keep-alive and WebSocket
upgrades pass as they are (like nginx in ``docker/compose.yml``, at the connection level)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from urllib.parse import urlsplit


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


class RoundRobinProxy:
    def __init__(self, backends: list[str]) -> None:
        self.backends = [urlsplit(b) for b in backends]
        self._next = itertools.cycle(range(len(backends)))
        self.routed: list[int] = []  # backend index of every connection, in order
        self._tasks: set[asyncio.Task[None]] = set()

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        index = next(self._next)
        self.routed.append(index)
        backend = self.backends[index]
        try:
            upstream_r, upstream_w = await asyncio.open_connection(backend.hostname, backend.port)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(_pipe(client_r, upstream_w), _pipe(upstream_r, client_w))

    def _track(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        task = asyncio.ensure_future(self._handle(client_r, client_w))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[str]:
        """Serve on a free local port; yields the proxy's base URL."""
        server = await asyncio.start_server(self._track, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await server.wait_closed()

"""Graceful shutdown: what the server does between SIGTERM and exit.

uvicorn, on SIGTERM, stops accepting connections, lets in-flight requests finish (up to
``shutdown_timeout`` seconds) and then runs the app's lifespan shutdown. Before that it
cuts WebSockets with 1012; Punchclock's ``serve`` runs :class:`GracefulServer`, which
first marks every app of the process as draining (``/readyz`` answers 503, new
WebSockets are refused) and closes the open WebSockets with 1001 (going away), so
clients reconnect, through the load balancer, to another replica.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import uvicorn

log = logging.getLogger("punchclock.shutdown")

# The Services of the apps running in this process (one, in a server), registered by
# the app's lifespan: the server's shutdown reaches them without knowing the app.
_running: list[Any] = []


def register(services: Any) -> None:
    _running.append(services)


def unregister(services: Any) -> None:
    if services in _running:
        _running.remove(services)


async def going_away() -> int:
    """Drain every running app: refuse new WebSockets, close the open ones with 1001."""
    handlers = []
    for services in _running:
        services.draining = True
        handlers.extend(services.websockets)
    if handlers:
        await asyncio.gather(*(h.going_away() for h in handlers))
        log.info("closed %d WebSocket(s) with 1001 (going away)", len(handlers))
    return len(handlers)


class GracefulServer(uvicorn.Server):
    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await going_away()
        await super().shutdown(sockets)


def serve_forever(config: uvicorn.Config) -> None:
    """Run the server until a signal ends it (what ``punchclock serve`` does)."""
    if config.workers > 1:
        from uvicorn.supervisors import Multiprocess

        # uvicorn's worker processes run its own Server: WebSockets close with 1012
        # (service restart) there instead of 1001; requests still drain.
        Multiprocess(config, sockets=[config.bind_socket()]).run()
    else:
        GracefulServer(config).run()

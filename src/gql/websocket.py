"""graphql-transport-ws with server keep-alive pings.

Idle dashboards behind proxies that cut silent connections stay up: the server sends a
protocol ``ping`` every ``interval`` seconds after the connection is acknowledged (the
client answers ``pong``); uvicorn's WebSocket-level pings run underneath as well.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)


class KeepAliveTransportWSHandler(BaseGraphQLTransportWSHandler[Any, Any]):
    interval: float = 15.0

    async def handle(self) -> None:
        pinger = asyncio.create_task(self._ping_forever())
        try:
            await super().handle()
        finally:
            pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pinger

    async def _ping_forever(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            if self.connection_acknowledged:
                try:
                    await self.send_message({"type": "ping"})
                except Exception:  # the socket is going away; handle() will finish
                    return

"""A small graphql-transport-ws client for tests (on the ``websockets`` library)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection


class GraphQLWS:
    def __init__(self, conn: ClientConnection) -> None:
        self.conn = conn
        self._next_id = 0

    @classmethod
    async def open(cls, base: str, token: str | None, **kwargs: Any) -> GraphQLWS:
        url = base.replace("http://", "ws://") + "/graphql"
        conn = await websockets.connect(url, subprotocols=["graphql-transport-ws"], **kwargs)  # type: ignore[list-item]
        client = cls(conn)
        payload = {"authorization": f"Bearer {token}"} if token else {}
        await conn.send(json.dumps({"type": "connection_init", "payload": payload}))
        return client

    async def acked(self, timeout: float = 5) -> dict[str, Any]:
        return await self.receive(timeout)

    async def subscribe(self, query: str, variables: dict[str, Any] | None = None) -> str:
        self._next_id += 1
        op = str(self._next_id)
        await self.conn.send(
            json.dumps(
                {
                    "id": op,
                    "type": "subscribe",
                    "payload": {"query": query, "variables": variables or {}},
                }
            )
        )
        return op

    async def receive(self, timeout: float = 5) -> dict[str, Any]:
        """The next message that is not a keep-alive ping (pings are answered)."""
        while True:
            raw = await asyncio.wait_for(self.conn.recv(), timeout)
            assert isinstance(raw, str), "graphql-transport-ws frames must be text"
            message: dict[str, Any] = json.loads(raw)
            if message.get("type") == "ping":
                await self.conn.send(json.dumps({"type": "pong"}))
                continue
            return message

    async def next_data(self, timeout: float = 5) -> dict[str, Any]:
        message = await self.receive(timeout)
        assert message["type"] == "next", message
        assert "errors" not in message["payload"], message
        data: dict[str, Any] = message["payload"]["data"]
        return data

    async def nothing_for(self, seconds: float) -> None:
        try:
            message = await self.receive(seconds)
        except TimeoutError:
            return
        raise AssertionError(f"expected silence, got {message}")

    async def close(self) -> None:
        await self.conn.close()

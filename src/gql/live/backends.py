"""Broadcast backends that survive their server going away.

broadcaster's own Redis backend stops delivering for good after a disconnect, and its
Postgres backend shares one connection between LISTEN and publishing. These keep
broadcaster's ``BroadcastBackend`` interface (so ``Broadcast`` works as documented) and add:
reconnection with capped exponential backoff, re-subscription, separate connections for
listening and publishing, a bounded inbound queue, and a *resync* event on every
reconnect so subscribers can refresh state that may have changed during the outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from typing import Any
from urllib.parse import urlparse

import asyncpg  # type: ignore[import-untyped]
from broadcaster import Event
from broadcaster._backends.base import BroadcastBackend
from broadcaster._backends.memory import MemoryBackend
from redis import asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger("punchclock.broadcast")

RESYNC = '{"resync":true}'
INBOUND_LIMIT = 10_000
MAX_BACKOFF = 5.0
HEALTH_EVERY = 5.0


class _Resilient(BroadcastBackend):
    """Shared machinery: a supervisor task that keeps one listening connection alive."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._channels: set[str] = set()
        self._inbound: asyncio.Queue[Event] = asyncio.Queue(maxsize=INBOUND_LIMIT)
        self._supervisor: asyncio.Task[None] | None = None
        self._has_channels = asyncio.Event()
        self.connected = asyncio.Event()
        self.reconnects = 0

    async def connect(self) -> None:
        self._supervisor = asyncio.create_task(self._supervise(), name=f"{type(self).__name__}")

    async def disconnect(self) -> None:
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)
        self._has_channels.set()
        await self._listen_to(channel)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)
        await self._unlisten(channel)

    async def next_published(self) -> Event:
        return await self._inbound.get()

    def _deliver(self, channel: str, message: str) -> None:
        try:
            self._inbound.put_nowait(Event(channel=channel, message=message))
        except asyncio.QueueFull:  # the process cannot keep up; drop and say so
            log.warning("broadcast inbound queue full; dropping a message on %s", channel)

    async def _supervise(self) -> None:
        delay, first = 0.1, True
        while True:
            await self._has_channels.wait()
            try:
                async with self._listening():
                    self.connected.set()
                    if not first:
                        self.reconnects += 1
                        log.warning("broadcast backend reconnected; asking subscribers to resync")
                        for channel in list(self._channels):
                            self._deliver(channel, RESYNC)
                    first, delay = False, 0.1
                    await self._until_lost()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("broadcast listener lost: %r; retrying in %.1fs", exc, delay)
            finally:
                self.connected.clear()
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, MAX_BACKOFF)

    def _listening(self) -> contextlib.AbstractAsyncContextManager[None]:
        raise NotImplementedError

    async def _until_lost(self) -> None:
        raise NotImplementedError

    async def _listen_to(self, channel: str) -> None:
        raise NotImplementedError

    async def _unlisten(self, channel: str) -> None:
        raise NotImplementedError


class ResilientRedisBackend(_Resilient):
    def __init__(self, url: str) -> None:
        super().__init__(url)
        options: dict[str, Any] = {"socket_connect_timeout": 2, "socket_timeout": 2}
        self._publisher = aioredis.Redis.from_url(url, **options)
        self._pubsub: Any = None
        self._client: aioredis.Redis | None = None

    async def disconnect(self) -> None:
        await super().disconnect()
        await self._publisher.aclose()

    async def publish(self, channel: str, message: Any) -> None:
        await self._publisher.publish(channel, message)

    @contextlib.asynccontextmanager
    async def _listening(self) -> Any:
        client = aioredis.Redis.from_url(self._url, socket_connect_timeout=2, socket_keepalive=True)
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(*self._channels)
            self._client, self._pubsub = client, pubsub
            yield
        finally:
            self._pubsub = None
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]
            with contextlib.suppress(Exception):
                await client.aclose()

    async def _until_lost(self) -> None:
        pubsub = self._pubsub
        idle = 0.0
        while True:
            try:
                message = await pubsub.get_message(timeout=1.0)
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                raise ConnectionError(f"redis pub/sub connection lost: {exc!r}") from exc
            if message is None:
                idle += 1.0
                if idle >= HEALTH_EVERY:  # a silent peer may be gone: ask it
                    idle = 0.0
                    await pubsub.ping()
                continue
            idle = 0.0
            if message.get("type") == "message":
                channel = message["channel"]
                data = message["data"]
                self._deliver(
                    channel.decode() if isinstance(channel, bytes) else str(channel),
                    data.decode() if isinstance(data, bytes) else str(data),
                )

    async def _listen_to(self, channel: str) -> None:
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.subscribe(channel)

    async def _unlisten(self, channel: str) -> None:
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.unsubscribe(channel)


def _pg_dsn(url: str) -> str:
    parsed = urlparse(url)
    scheme = parsed.scheme.split("+")[0]
    return parsed._replace(
        scheme="postgresql" if scheme in ("postgres", "postgresql") else scheme
    ).geturl()


class ResilientPostgresBackend(_Resilient):
    """LISTEN/NOTIFY with one connection that only listens and a pool that only publishes."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self._dsn = _pg_dsn(url)
        self._pool: asyncpg.Pool | None = None
        self._pool_lock = asyncio.Lock()
        self._conn: asyncpg.Connection | None = None
        self._lost = asyncio.Event()

    async def disconnect(self) -> None:
        await super().disconnect()
        if self._pool is not None:
            await self._pool.close()

    async def publish(self, channel: str, message: Any) -> None:
        async with self._pool_lock:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(
                    self._dsn, min_size=0, max_size=4, timeout=2, command_timeout=2
                )
        await self._pool.execute("SELECT pg_notify($1, $2)", channel, str(message))

    def _on_notify(self, _conn: Any, _pid: int, channel: str, payload: str) -> None:
        self._deliver(channel, payload)

    @contextlib.asynccontextmanager
    async def _listening(self) -> Any:
        self._lost.clear()
        conn = await asyncpg.connect(self._dsn, timeout=2)
        conn.add_termination_listener(lambda _c: self._lost.set())
        try:
            for channel in list(self._channels):
                await conn.add_listener(channel, self._on_notify)
            self._conn = conn
            yield
        finally:
            self._conn = None
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 2)
            conn.terminate()

    async def _until_lost(self) -> None:
        conn = self._conn
        assert conn is not None
        while not self._lost.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._lost.wait(), HEALTH_EVERY)
            if conn.is_closed():
                break
            try:
                await conn.fetchval("SELECT 1", timeout=2)
            except Exception as exc:
                raise ConnectionError(f"postgres listener lost: {exc!r}") from exc
        raise ConnectionError("postgres listener connection closed")

    async def _listen_to(self, channel: str) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.add_listener(channel, self._on_notify)

    async def _unlisten(self, channel: str) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.remove_listener(channel, self._on_notify)


def make_backend(url: str) -> BroadcastBackend:
    scheme = urlparse(url).scheme
    if scheme == "memory":
        return MemoryBackend(url)
    if scheme in ("redis", "rediss"):
        return ResilientRedisBackend(url)
    if scheme in ("postgres", "postgresql"):
        return ResilientPostgresBackend(url)
    raise ValueError(f"unsupported broadcast URL {url!r}: use memory://, redis:// or postgres://")

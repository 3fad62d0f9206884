"""The single place committed changes are published from, and where subscribers get them.

``publish`` runs after a transaction commits: it calls in-process listeners and sends each
event through the broadcast backend, so every server instance sharing it receives it. A
broadcast failure (Redis down) is logged, never raised: the change is committed and the
client's answer stands. Each instance runs one pump that reads the broadcast channel and
fans events out to its own subscribers, each with a bounded queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from broadcaster import Broadcast

from gql.live.backends import RESYNC, make_backend
from store.events import EntryEvent

log = logging.getLogger("punchclock.pubsub")

CHANNEL = "punchclock.entries"
QUEUE_LIMIT = 256

Listener = Callable[[EntryEvent], None]
# Each team's last position, for the teams asked (store.outbox.last_positions).
Positions = Callable[[list[str]], Awaitable[dict[str, int]]]
POLL_SECONDS = 1.0


@dataclass(eq=False)
class Subscriber:
    """One live subscription of one team. ``queue`` holds events (None means: resync);
    when it is full the subscriber is marked ``overflowed`` and gets nothing more."""

    team_id: str
    queue: asyncio.Queue[EntryEvent | None] = field(
        default_factory=lambda: asyncio.Queue(maxsize=QUEUE_LIMIT)
    )
    overflowed: bool = False

    def offer(self, item: EntryEvent | None) -> None:
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.overflowed = True
            while not self.queue.empty():  # free the memory now; the reader will stop
                self.queue.get_nowait()
            self.queue.put_nowait(None)


class SharedReads:
    """One database read per event, shared by every subscriber of this process.

    Keyed by (entry id, version): a later change is a different key, so nobody gets a
    stale row. Only the most recent keys are kept."""

    def __init__(self, limit: int = 512) -> None:
        self._futures: OrderedDict[tuple[str, int], asyncio.Future[Any]] = OrderedDict()
        self._limit = limit

    async def get(self, key: tuple[str, int], fetch: Callable[[], Awaitable[Any]]) -> Any:
        future = self._futures.get(key)
        if future is None:
            future = asyncio.ensure_future(fetch())
            self._futures[key] = future
            if len(self._futures) > self._limit:
                self._futures.popitem(last=False)
        return await asyncio.shield(future)


class EventBus:
    def __init__(self, broadcast_url: str = "memory://") -> None:
        self.broadcast_url = broadcast_url
        self.broadcast = Broadcast(backend=make_backend(broadcast_url))
        self._listeners: list[Listener] = []
        self._subscribers: dict[str, set[Subscriber]] = defaultdict(set)
        self._pump: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self.reads = SharedReads()
        self._generations: dict[str, int] = defaultdict(int)
        # Member removals a subscription of the team met (gql.schema.subscriptions): the
        # subscribers of shared executions check their membership again after each.
        self._removals: dict[str, int] = defaultdict(int)
        self._resyncs = 0
        self.published = 0
        self.publish_failures = 0
        # The outbox poll: what the broadcast did not bring (store.outbox is the record).
        self._positions: Positions | None = None
        self._poll_every = POLL_SECONDS
        self._seen: dict[str, int] = {}
        self._poller: asyncio.Task[None] | None = None
        self.polls_found = 0

    def poll_with(self, positions: Positions, every: float = POLL_SECONDS) -> None:
        """Once ``every`` seconds, compare the last position of each team with
        subscribers here with the newest this instance has seen broadcast; where the
        outbox is ahead (the backend lost or has not yet brought events), wake the
        team's subscribers (``None``): they read what they miss from the outbox."""
        self._positions, self._poll_every = positions, every

    # -- publishing ------------------------------------------------------------------

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` in-process for every event this instance publishes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    async def publish(self, events: Sequence[EntryEvent]) -> None:
        for event in events:
            for listener in list(self._listeners):
                try:
                    listener(event)
                except Exception:
                    log.exception("event listener failed for %s", event)
            if self._pump is None:  # not started (in-process use without a lifespan)
                continue
            try:
                await self.broadcast.publish(CHANNEL, event.to_json())
                self.published += 1
            except Exception as exc:
                self.publish_failures += 1
                log.warning("could not broadcast %s %s: %r", event.kind, event.entry_id, exc)

    # -- receiving -------------------------------------------------------------------

    async def start(self) -> None:
        await self.broadcast.connect()
        self._pump = asyncio.create_task(self._run_pump(), name="punchclock-pubsub-pump")
        if self._positions is not None:
            self._poller = asyncio.create_task(self._run_poller(), name="punchclock-outbox-poll")
        await asyncio.wait_for(self._ready.wait(), 10)

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
        with contextlib.suppress(Exception):
            await self.broadcast.disconnect()

    async def _run_pump(self) -> None:
        async with self.broadcast.subscribe(CHANNEL) as subscription:
            self._ready.set()
            async for item in subscription:  # type: ignore[union-attr]
                if item is None:
                    continue
                if item.message == RESYNC:
                    self._resyncs += 1
                    for subscribers in list(self._subscribers.values()):
                        for subscriber in list(subscribers):
                            subscriber.offer(None)
                    continue
                try:
                    event = EntryEvent.from_json(item.message)
                except (ValueError, KeyError):
                    log.warning("ignoring a malformed broadcast message")
                    continue
                self._generations[event.team_id] += 1
                if event.position is not None:
                    self._seen[event.team_id] = max(
                        self._seen.get(event.team_id, 0), event.position
                    )
                for subscriber in list(self._subscribers.get(event.team_id, ())):
                    subscriber.offer(event)

    async def _run_poller(self) -> None:
        assert self._positions is not None
        while True:
            await asyncio.sleep(self._poll_every)
            teams = list(self._subscribers)
            if not teams:
                continue
            try:
                last = await self._positions(teams)
            except Exception as exc:  # a lost database must not end the loop
                log.warning("outbox poll failed: %r", exc)
                continue
            for team_id, position in last.items():
                seen = self._seen.get(team_id)
                self._seen[team_id] = max(seen or 0, position)
                if seen is None or position > seen:  # first look here: wake, to be sure
                    self.polls_found += 1
                    self._generations[team_id] += 1
                    for subscriber in list(self._subscribers.get(team_id, ())):
                        subscriber.offer(None)

    @contextlib.asynccontextmanager
    async def subscribe(
        self, team_id: str, *, limit: int = QUEUE_LIMIT
    ) -> AsyncIterator[Subscriber]:
        subscriber = Subscriber(team_id, asyncio.Queue(maxsize=limit))
        self._subscribers[team_id].add(subscriber)
        try:
            yield subscriber
        finally:
            subscribers = self._subscribers.get(team_id)
            if subscribers is not None:
                subscribers.discard(subscriber)
                if not subscribers:
                    del self._subscribers[team_id]

    def note_removal(self, team_id: str) -> None:
        """A member of the team was removed (a MEMBER DELETED event was met)."""
        self._removals[team_id] += 1

    def removals(self, team_id: str) -> int:
        """How many member removals of the team this process has met."""
        return self._removals.get(team_id, 0)

    def generation(self, team_id: str) -> int:
        """Grows with every event of the team (and every resync): a key for shared reads."""
        return self._generations.get(team_id, 0) * 1_000_000 + self._resyncs

    @property
    def healthy(self) -> bool:
        """The pump runs and, for a networked backend, its listener is connected."""
        if self._pump is None or self._pump.done():
            return False
        connected = getattr(self.broadcast._backend, "connected", None)
        return connected is None or bool(connected.is_set())

    @property
    def subscriber_count(self) -> int:
        return sum(len(s) for s in self._subscribers.values())

"""The event hub: fan-out per team, bounded queues, resync, publish never raising."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from gql.live.backends import RESYNC, make_backend
from gql.live.pubsub import CHANNEL, QUEUE_LIMIT, EventBus, Subscriber
from store.events import EntryEvent, EventKind


def event(team: str, n: int = 1) -> EntryEvent:
    return EntryEvent(EventKind.STARTED, f"e{n}", team, "u", 1, datetime(2025, 1, 1, tzinfo=UTC))


def test_event_json_round_trip() -> None:
    e = event("t")
    assert EntryEvent.from_json(e.to_json()) == e


def test_a_full_queue_marks_the_subscriber_and_frees_memory() -> None:
    async def run() -> None:
        subscriber = Subscriber("t")
        for n in range(QUEUE_LIMIT):
            subscriber.offer(event("t", n))
        assert not subscriber.overflowed and subscriber.queue.qsize() == QUEUE_LIMIT
        subscriber.offer(event("t", QUEUE_LIMIT))
        assert subscriber.overflowed and subscriber.queue.qsize() == 1
        for n in range(1000):
            subscriber.offer(event("t", n))
        assert subscriber.queue.qsize() == 1

    asyncio.run(run())


async def test_fan_out_by_team_and_resync() -> None:
    bus = EventBus("memory://")
    await bus.start()
    try:
        async with bus.subscribe("a") as a, bus.subscribe("b") as b:
            await bus.publish([event("a", 1), event("a", 2)])
            assert (await asyncio.wait_for(a.queue.get(), 2)) == event("a", 1)
            assert (await asyncio.wait_for(a.queue.get(), 2)) == event("a", 2)
            assert b.queue.empty()
            await bus.broadcast.publish(CHANNEL, RESYNC)
            assert await asyncio.wait_for(a.queue.get(), 2) is None
            assert await asyncio.wait_for(b.queue.get(), 2) is None
            assert bus.subscriber_count == 2 and bus.healthy
        assert bus.subscriber_count == 0
    finally:
        await bus.stop()


async def test_publish_survives_a_dead_backend() -> None:
    bus = EventBus("redis://127.0.0.1:1/0")  # nothing listens there
    seen: list[EntryEvent] = []
    bus.listen(seen.append)
    bus.broadcast.connect = bus.broadcast._backend.connect  # type: ignore[method-assign]
    await bus.broadcast._backend.connect()
    bus._pump = asyncio.create_task(asyncio.sleep(3600))
    try:
        await bus.publish([event("a")])  # does not raise
        assert seen == [event("a")] and bus.publish_failures == 1 and not bus.healthy
    finally:
        bus._pump.cancel()
        await bus.broadcast._backend.disconnect()


def test_unknown_broadcast_scheme_is_refused() -> None:
    try:
        make_backend("kafka://x")
    except ValueError as exc:
        assert "memory://" in str(exc)
    else:
        raise AssertionError("accepted an unsupported scheme")

"""The pace of a live report (``gql.live.reports.Paced``), on a real subscriber queue with a
short period: triggers, bursts, changes during a computation, and running-entry ticks."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from gql.live.pubsub import Subscriber
from gql.live.reports import Paced, triggers
from store.events import CatalogKind, EntryEvent, EventKind, Subject

EVERY = 0.3
AT = datetime(2026, 12, 7, tzinfo=UTC)


def entry_event(kind: EventKind = EventKind.LOGGED) -> EntryEvent:
    return EntryEvent(kind, "E1", "T1", "U1", 1, AT)


def catalogue_event(subject: Subject) -> EntryEvent:
    return EntryEvent(CatalogKind.UPDATED, "X1", "T1", None, 0, AT, subject)


def test_what_triggers_a_report() -> None:
    for kind in (EventKind.LOGGED, EventKind.STARTED, EventKind.STOPPED, EventKind.UPDATED):
        assert triggers(entry_event(kind))
    assert triggers(entry_event(EventKind.DELETED))
    assert not triggers(entry_event(EventKind.COMMENTED))
    assert triggers(catalogue_event(Subject.TASK)) and triggers(catalogue_event(Subject.CATEGORY))
    assert not triggers(catalogue_event(Subject.MEMBER))
    assert triggers(None)  # the outbox poll or a resync: something may be missing


class Counter:
    """A computation that records when it ran, and says whether entries run."""

    def __init__(self, running: bool = False, takes: float = 0.0) -> None:
        self.at: list[float] = []
        self.firsts: list[bool] = []
        self.running = running
        self.takes = takes

    async def __call__(self, first: bool) -> int:
        self.at.append(time.monotonic())
        self.firsts.append(first)
        if self.takes:
            await asyncio.sleep(self.takes)
        return len(self.at)


async def collect(results: AsyncIterator[tuple[int, bool]], into: list[tuple[int, bool]]) -> None:
    async for item in results:
        into.append(item)


async def test_a_burst_is_computed_at_once_then_at_the_end_of_the_period() -> None:
    subscriber = Subscriber("T1")
    compute = Counter()
    got: list[tuple[int, bool]] = []
    task = asyncio.create_task(
        collect(Paced[int](subscriber, every=EVERY).run(compute, lambda _: False), got)
    )
    await asyncio.sleep(EVERY * 2)
    assert got == [(1, True)]  # the first, at once, and nothing since
    for _ in range(20):
        subscriber.offer(entry_event())
        await asyncio.sleep(EVERY / 40)
    await asyncio.sleep(EVERY * 3)
    task.cancel()
    # 20 changes within one period: one computation at once, one at the period's end.
    assert [n for n, _ in got] == [1, 2, 3], got
    gaps = [b - a for a, b in itertools.pairwise(compute.at)]
    assert all(gap >= EVERY * 0.95 for gap in gaps), gaps
    assert compute.firsts == [True, False, False]


async def test_nothing_but_triggers_computes_and_a_change_during_a_computation_is_kept() -> None:
    subscriber = Subscriber("T1")
    compute = Counter(takes=EVERY / 2)
    got: list[tuple[int, bool]] = []
    paced = Paced[int](subscriber, every=EVERY)
    task = asyncio.create_task(collect(paced.run(compute, lambda _: False), got))
    await asyncio.sleep(EVERY * 2)
    subscriber.offer(entry_event(EventKind.COMMENTED))
    subscriber.offer(catalogue_event(Subject.MEMBER))
    await asyncio.sleep(EVERY * 2)
    assert len(compute.at) == 1  # neither a comment nor a membership change
    subscriber.offer(catalogue_event(Subject.TASK))
    await asyncio.sleep(EVERY / 4)  # the computation has begun and takes a while
    subscriber.offer(entry_event())  # lands during it
    await asyncio.sleep(EVERY * 3)
    task.cancel()
    assert len(compute.at) == 3, compute.at
    # The task change is sent even when equal by value; the entry change after it is not
    # forced (only compared).
    assert got[1] == (2, True) and got[2] == (3, False), got


async def test_running_entries_tick_once_a_period_and_only_while_they_run() -> None:
    subscriber = Subscriber("T1")
    compute = Counter(running=True)
    got: list[tuple[int, bool]] = []
    task = asyncio.create_task(
        collect(Paced[int](subscriber, every=EVERY).run(compute, lambda _: compute.running), got)
    )
    await asyncio.sleep(EVERY * 4.5)
    ticks = len(compute.at)
    assert 4 <= ticks <= 5, compute.at
    gaps = [b - a for a, b in itertools.pairwise(compute.at)]
    assert all(gap >= EVERY * 0.95 for gap in gaps), gaps
    compute.running = False  # the next computation sees no running entry: ticks stop
    await asyncio.sleep(EVERY * 3)
    stopped = len(compute.at)
    await asyncio.sleep(EVERY * 3)
    task.cancel()
    assert len(compute.at) == stopped <= ticks + 1

"""When a live report (``timeReportUpdates``) is computed again: its triggers and its pace.

A report is a state, not a stream of events: what a subscriber needs is the newest one,
never each step. So, as ``runningTimers`` does, a live report watches its team's
subscriber queue (``gql.live.pubsub``) for any change that can alter it and computes the
report again, instead of reading each event:

- *Triggers*: every entry event but COMMENTED (a comment changes no sum), and every
  change of a task or a category (a task moved to another category moves its time
  between CATEGORY buckets and in or out of a ``categoryId`` filter; a title shows in the
  buckets). Membership changes do not: an entry keeps the rate it was logged with. A
  wake-up without an event (the outbox poll found the broadcast behind, a backend
  reconnected, the queue overflowed) counts as a change: the outbox poll
  (``EventBus.poll_with``) is what makes a Redis outage delay a report, never lose it.
- *Pace*: at most one computation per second. The first change after a quiet second is
  computed at once; the changes that follow within the second are computed together at
  its end. A change that arrives while a report is being computed leaves the queue
  non-empty, so it is computed next: the last update is never lost.
- *Running entries* grow every second, so while the report counts any
  (``runningCount > 0``) it is computed again once a second even without a change, and
  only then.

One computation serves every subscriber of the same report: the shared execution of
:mod:`gql.live.fanout` runs this loop once per group and sends the encoded report only
when its bytes differ from the last it sent.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Generic, TypeVar

from gql.live.pubsub import Subscriber
from store.events import EntryEvent, EventKind, Subject

EVERY = 1.0  # seconds between two computations of one live report, at least
TRIGGERS = frozenset({Subject.ENTRY, Subject.TASK, Subject.CATEGORY, Subject.TAG, Subject.TEAM})

T = TypeVar("T")


def triggers(event: EntryEvent | None) -> bool:
    """Whether ``event`` (None: something may be missing) can change a report."""
    if event is None:
        return True
    if event.subject not in TRIGGERS:
        return False
    return event.subject is not Subject.ENTRY or event.kind is not EventKind.COMMENTED


class Paced(Generic[T]):
    """The computations of one live report, paced. ``watch`` sees every item taken from
    the queue, triggering or not (it may raise to end the subscription). ``catalogue``
    notes a change of a task or a category since the last computation: a per-subscriber
    execution, which compares reports by their values rather than by their encoded bytes,
    sends that one anyway (a title may have changed)."""

    def __init__(
        self,
        subscriber: Subscriber,
        *,
        every: float = EVERY,
        watch: Callable[[EntryEvent | None], None] | None = None,
    ) -> None:
        self.subscriber = subscriber
        self.watch = watch
        self.every = every
        self.catalogue = False
        self._last = -float("inf")

    async def _wait(self, timeout: float | None) -> bool:
        """Until a triggering change (True) or ``timeout`` seconds (False)."""
        queue = self.subscriber.queue
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                item = await asyncio.wait_for(queue.get(), remaining)
            except TimeoutError:
                return False
            if self._take(item):
                return True

    def _take(self, item: EntryEvent | None) -> bool:
        if self.watch is not None:  # sees every item (a member's removal ends access)
            self.watch(item)
        if self.subscriber.overflowed:  # a report is a state: just compute it again
            self.subscriber.overflowed = False
            return True
        if item is not None and item.subject is not Subject.ENTRY:
            self.catalogue = True
        return triggers(item)

    def _drain(self) -> None:
        """Take what queued up until now: this computation covers it."""
        queue = self.subscriber.queue
        while not queue.empty():
            self._take(queue.get_nowait())

    async def run(
        self, compute: Callable[[bool], Awaitable[T]], running: Callable[[T], bool]
    ) -> AsyncIterator[tuple[T, bool]]:
        """``compute(first)`` at once, then after each triggering change and, while
        ``running`` says the last result counts running entries, every second; never
        twice within ``every`` seconds. Yields each result and whether it must be sent
        even when equal to the last (the first, or a task or category changed)."""
        first, ticking = True, False
        while True:
            if not first:
                since = time.monotonic() - self._last
                # A change, or the tick of a report with running entries.
                await self._wait(max(0.0, self.every - since) if ticking else None)
            delay = self._last + self.every - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            self._drain()
            forced, self.catalogue = first or self.catalogue, False
            self._last = time.monotonic()
            result = await compute(first)
            first, ticking = False, running(result)
            yield result, forced

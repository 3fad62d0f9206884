"""A team's events for one subscriber, in position order, each exactly once.

The outbox (``store.outbox``) is the record: every committed change has its event there,
at a gap-free position. The broadcast backend only carries the news fast. A subscriber
keeps the last position it delivered and takes an event from the live queue when it is
the next one; anything else (a gap: an event published by another instance arrived
first, or the backend lost messages while it was down; a resync; a quiet second) makes it
read what it is missing from the outbox. So a Redis outage delays events, never loses
them: each instance polls the outbox every second (``EventBus.poll_with``: one read of
the last positions of all teams with subscribers there) and wakes the subscribers of a
team that is ahead of what the broadcast brought; duplicates from the live queue are
skipped by position.

Resuming: a subscriber that passes ``after`` (the cursor of the last event it saw) first
gets everything after it from the outbox, then the live events, with no gap and no
duplicate. A cursor older than the retention gets ``CURSOR_EXPIRED``: the client must
resync from the API (its pages and reports) and subscribe again without a cursor.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from gql.live.pubsub import Subscriber
from gql.schema.context import Context
from gql.schema.errors import CodedError, TopLevelCode
from store import outbox
from store.events import EntryEvent

PAGE = 500

log = logging.getLogger("punchclock.subscriptions")


async def last_position(ctx: Context, team_id: str) -> int:
    async with ctx.db.read() as session:
        return await outbox.last_position(session, team_id)


async def check_retained(ctx: Context, team_id: str, after: int) -> None:
    """CURSOR_EXPIRED when events after ``after`` were pruned (or never existed)."""
    async with ctx.db.read() as session:
        oldest = await outbox.oldest_position(session, team_id=team_id)
        last = await outbox.last_position(session, team_id)
    if after + 1 < oldest or after > last:
        raise CodedError(
            TopLevelCode.CURSOR_EXPIRED,
            "This cursor is older than the kept events (or not this team's): read the "
            "current state and subscribe again without `after`.",
        )


async def read_after(ctx: Context, team_id: str, after: int) -> list[EntryEvent]:
    """Every event of the team after ``after``, oldest first."""
    found: list[EntryEvent] = []
    async with ctx.db.read() as session:
        while True:
            page = await outbox.read_after(session, team_id=team_id, after=after, limit=PAGE)
            found.extend(page)
            if len(page) < PAGE:
                return found
            after = page[-1].position or after


def _too_slow(subscriber: Subscriber) -> CodedError:
    log.warning(
        "a subscription of team %s fell more than %d events behind: SUBSCRIBER_TOO_SLOW",
        subscriber.team_id,
        subscriber.queue.maxsize,
    )
    return CodedError(
        TopLevelCode.SUBSCRIBER_TOO_SLOW,
        f"More than {subscriber.queue.maxsize} events waited unread; subscribe again "
        "with the last cursor you saw.",
    )


async def team_events(
    ctx: Context, team_id: str, subscriber: Subscriber, after: int
) -> AsyncIterator[EntryEvent]:
    """The team's events after position ``after``, in order, then as they come.

    ``subscriber`` must be registered (``EventBus.subscribe``) before ``after`` was read,
    so that nothing committed after that read can be missed."""
    bus = ctx.services.events
    last = after
    for event in await read_after(ctx, team_id, after):  # the replay, if any
        assert event.position is not None
        last = event.position
        yield event
    while True:
        item = await subscriber.queue.get()
        if subscriber.overflowed:
            raise _too_slow(subscriber)
        if item is not None and item.position is not None:
            if item.position <= last:
                continue  # delivered already (from the outbox, or a second publish)
            if item.position == last + 1:
                last = item.position
                yield item
                continue
            target = item.position
        else:
            # The outbox poll (or a resync) says the broadcast missed something: how far?
            target = await bus.reads.get(
                (f"last:{team_id}", bus.generation(team_id)), lambda: last_position(ctx, team_id)
            )
            if target <= last:
                continue
        # What is missing comes from the outbox: one read per (from, to) shared by the
        # team's subscribers on this instance; ``target`` is committed, so it is in it.
        backlog = await bus.reads.get(
            (f"after:{team_id}:{last}", target), lambda at=last: read_after(ctx, team_id, at)
        )
        for event in backlog:
            assert event.position is not None
            if event.position > last:
                last = event.position
                yield event

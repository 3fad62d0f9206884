"""Subscriptions: ``timerEvents`` and ``runningTimers`` of one team.

Every event is authorised for the subscriber before it is sent: the subscriber's token
and membership are checked again when they were last checked more than a few seconds ago.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import AsyncGenerator
from datetime import datetime

import strawberry

from gql.auth import authenticate
from gql.context import Context
from gql.errors import CodedError, TopLevelCode
from gql.loaders import Loaders
from gql.pubsub import QUEUE_LIMIT, Subscriber
from gql.types.entry import TimeEntry
from store import entries, models
from store.events import EventKind
from store.timeutil import utcnow

Info = strawberry.Info[Context, None]

log = logging.getLogger("punchclock.subscriptions")

REAUTHORISE_EVERY = 5.0
SEEN_LIMIT = 10_000
RUNNING_KINDS = frozenset(
    {EventKind.STARTED, EventKind.STOPPED, EventKind.DELETED, EventKind.UPDATED}
)

strawberry.enum(EventKind, name="TimerEventKind")


@strawberry.type
class TimerEvent:
    kind: EventKind
    time_entry: TimeEntry
    occurred_at: datetime


class Gate:
    """Re-checks the subscriber's right to see the team at most every few seconds."""

    def __init__(self, ctx: Context, team_id: str) -> None:
        self.ctx, self.team_id = ctx, team_id
        self.checked = time.monotonic()

    def due(self) -> bool:
        """Whether ``allowed`` would check again now (a cheap test before awaiting it)."""
        return self.ctx.shared is False and time.monotonic() - self.checked >= REAUTHORISE_EVERY

    async def allowed(self) -> bool:
        if self.ctx.shared:  # a shared execution: each member is checked on its own
            return True
        if time.monotonic() - self.checked < REAUTHORISE_EVERY:
            return True
        ctx = self.ctx
        # Subscribers with the same token share one check per period.
        period = int(time.monotonic() // REAUTHORISE_EVERY)
        found = await ctx.services.events.reads.get(
            (f"auth:{ctx.token}", period), lambda: authenticate(ctx.db, ctx.token)
        )
        self.checked = time.monotonic()
        if found is None:
            return False
        user, memberships = found
        ctx.viewer, ctx.memberships = user, memberships
        return self.team_id in memberships


async def _refuse_revoked(ctx: Context, key: tuple[str, int] | None) -> None:
    """Learn revocations before a delivery (shared per ``key`` by the process's
    subscribers; ``None``: a read of this subscription's own), then refuse this
    subscriber if its token is one. A shared execution checks each member instead."""
    revocations = ctx.services.revocations
    if key is None:
        await revocations.refresh()
    else:
        await ctx.services.events.reads.get(key, revocations.refresh)
    if not ctx.shared and revocations.revoked(ctx.token):
        raise CodedError(TopLevelCode.UNAUTHENTICATED, "The token was revoked.")


def _require_member(ctx: Context, team_id: str) -> None:
    if ctx.viewer is None or not ctx.is_member(team_id):
        raise CodedError(TopLevelCode.NOT_FOUND, "No such team.")


def _fresh(ctx: Context) -> None:
    """Each delivery reads current data: new loaders, the current instant."""
    ctx.loaders = Loaders(ctx.db)
    ctx.now = utcnow()


async def _read_entry(ctx: Context, entry_id: str) -> models.TimeEntry | None:
    async with ctx.db.read() as session:
        return (await entries.entries_by_ids(session, ids=[entry_id])).get(entry_id)


async def _read_running(ctx: Context, team_id: str) -> list[models.TimeEntry]:
    async with ctx.db.read() as session:
        return (await entries.running_by_team_ids(session, team_ids=[team_id])).get(team_id, [])


def _too_slow(subscriber: Subscriber) -> CodedError:
    log.warning(
        "a subscription of team %s fell more than %d events behind: SUBSCRIBER_TOO_SLOW",
        subscriber.team_id,
        subscriber.queue.maxsize,
    )
    return CodedError(
        TopLevelCode.SUBSCRIBER_TOO_SLOW,
        f"More than {subscriber.queue.maxsize} events waited unread; subscribe again.",
    )


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Every committed change of a time entry of the team, in commit order "
        "per entry; optionally only one user's."
    )
    async def timer_events(
        self, info: Info, team_id: strawberry.ID, user_id: strawberry.ID | None = None
    ) -> AsyncGenerator[TimerEvent, None]:
        ctx = info.context
        _require_member(ctx, str(team_id))
        gate = Gate(ctx, str(team_id))
        seen: OrderedDict[str, int] = OrderedDict()
        # A shared execution (gql.fanout) reads for all its members: its queue absorbs
        # the bursts that outrun one execution per event (`comments` costs a read each).
        limit = ctx.services.settings.shared_subscription_queue if ctx.shared else QUEUE_LIMIT
        async with ctx.services.events.subscribe(str(team_id), limit=limit) as subscriber:
            while True:
                event = await subscriber.queue.get()
                if subscriber.overflowed:
                    raise _too_slow(subscriber)
                if event is None:  # the backend came back; nothing to replay here
                    continue
                if user_id is not None and event.user_id != str(user_id):
                    continue
                # Two instances may publish one entry's changes out of commit order:
                # never send an older version after a newer one.
                if seen.get(event.entry_id, 0) > event.version:
                    continue
                seen[event.entry_id] = event.version
                seen.move_to_end(event.entry_id)
                if len(seen) > SEEN_LIMIT:
                    seen.popitem(last=False)
                await _refuse_revoked(ctx, (f"revoked:{event.entry_id}", event.version))
                if not await gate.allowed():
                    raise CodedError(TopLevelCode.NOT_FOUND, "No such team.")
                _fresh(ctx)
                row = await ctx.services.events.reads.get(
                    (event.entry_id, event.version), lambda e=event: _read_entry(ctx, e.entry_id)
                )
                if row is None or row.team_id != str(team_id):
                    continue
                ctx.loaders.entry.prime(row.id, row)
                yield TimerEvent(
                    kind=event.kind,
                    time_entry=TimeEntry.from_row(row),
                    occurred_at=event.occurred_at,
                )

    @strawberry.subscription(
        description="The team's running entries at once, then the whole list after each change."
    )
    async def running_timers(
        self, info: Info, team_id: strawberry.ID
    ) -> AsyncGenerator[list[TimeEntry], None]:
        ctx = info.context
        team = str(team_id)
        _require_member(ctx, team)
        gate = Gate(ctx, team)
        async with ctx.services.events.subscribe(team) as subscriber:
            last: list[tuple[str, int]] | None = None
            force = True
            bus = ctx.services.events
            while True:
                _fresh(ctx)
                rows = await bus.reads.get(
                    (f"running:{team}", bus.generation(team)), lambda: _read_running(ctx, team)
                )
                state = [(r.id, r.version) for r in rows]
                if force or state != last:
                    # The first list is this subscription's own read; later ones follow a
                    # change, one read per change shared by the team's subscribers.
                    first = last is None
                    await _refuse_revoked(
                        ctx, None if first else (f"revoked:running:{team}", bus.generation(team))
                    )
                    ctx.loaders.prime_entries(rows)
                    yield [TimeEntry.from_row(r) for r in rows]
                    last = state
                # Wait for a change that can touch the list (or a resync); coalesce bursts.
                force = False
                while True:
                    event = await subscriber.queue.get()
                    if subscriber.overflowed:
                        subscriber.overflowed = False  # a list is a state: just refresh it
                        force = True
                        break
                    if event is None:
                        force = True
                        break
                    if event.kind in RUNNING_KINDS:
                        break
                while not subscriber.queue.empty():
                    if subscriber.queue.get_nowait() is None:
                        force = True
                if not await gate.allowed():
                    raise CodedError(TopLevelCode.NOT_FOUND, "No such team.")

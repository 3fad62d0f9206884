"""Subscriptions of one team: ``timerEvents``, ``catalogEvents``, ``runningTimers`` and
the live report ``timeReportUpdates`` (paced by :mod:`gql.live.reports`).

Every event is authorised for the subscriber before it is sent: the subscriber's token
and membership are checked again when they were last checked more than a few seconds ago.

A removed member loses the team at once. A subscription reads the membership afresh when
it starts (a WebSocket authenticates once, in ``connection_init``), and the removal's
MEMBER DELETED event, which comes in the team's order of events, ends the removed
member's subscriptions before anything after it reaches them; for a shared execution
(``gql.live.fanout``) it makes every subscriber check its membership again before the
next item (``Gate``).
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import datetime
from typing import Any

import strawberry

from gql.live import stream
from gql.live.pubsub import QUEUE_LIMIT
from gql.live.reports import Paced
from gql.schema.changes import CatalogEvent
from gql.schema.context import Context, Info
from gql.schema.errors import CodedError, TopLevelCode
from gql.schema.filters import TimeEntryFilter
from gql.schema.loaders import Loaders
from gql.schema.types.entry import TimeEntry
from gql.schema.types.pagination import decode_event_cursor, event_cursor
from gql.schema.types.report import GroupBy, TimeReport, time_report_of
from gql.server.auth import authenticate_token
from store import lookups
from store.events import CatalogKind, EntryEvent, EventKind, Subject
from store.models import Membership
from store.timeutil import utcnow

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
    cursor: str = strawberry.field(
        description="Where this event stands in the team's events: pass it as `after` to "
        "resume (subscriptions) or to read on (`teamChanges`)."
    )


class Gate:
    """Re-checks the subscriber's right to see the team at most every few seconds."""

    def __init__(self, ctx: Context, team_id: str) -> None:
        self.ctx, self.team_id = ctx, team_id
        self.checked = time.monotonic()
        self.removals = ctx.services.events.removals(team_id)

    def _removed_since(self) -> bool:
        """Whether a member of the team was removed since the last check."""
        return bool(self.ctx.services.events.removals(self.team_id) != self.removals)

    def due(self) -> bool:
        """Whether ``allowed`` would check again now (a cheap test before awaiting it)."""
        return self.ctx.shared is False and (
            time.monotonic() - self.checked >= REAUTHORISE_EVERY or self._removed_since()
        )

    async def allowed(self) -> bool:
        if self.ctx.shared:  # a shared execution: each member is checked on its own
            return True
        ctx = self.ctx
        if self._removed_since():
            # After a removal, afresh (shared by the token's subscribers per removal).
            self.removals = ctx.services.events.removals(self.team_id)
            key: tuple[str, int] = (f"auth:{ctx.token}:removal:{self.team_id}", self.removals)
        elif time.monotonic() - self.checked < REAUTHORISE_EVERY:
            return True
        else:  # subscribers with the same token share one check per period
            key = (f"auth:{ctx.token}", int(time.monotonic() // REAUTHORISE_EVERY))
        found = await ctx.services.events.reads.get(
            key, lambda: authenticate_token(ctx.db, ctx.token)
        )
        self.checked = time.monotonic()
        if found is None:
            return False
        ctx.viewer, ctx.memberships, ctx.bearer = found.user, found.memberships, found.token
        return self.team_id in found.memberships


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


async def require_member(ctx: Context, team_id: str) -> None:
    """NOT_FOUND unless the viewer is a member of the team now: the connection's
    memberships are those of its ``connection_init``, so a subscription of a single
    subscriber reads its membership afresh (one primary-key read)."""
    if ctx.viewer is None or not ctx.is_member(team_id):
        raise CodedError(TopLevelCode.NOT_FOUND, "No such team.")
    if ctx.shared:  # each member of a shared execution was checked when it joined
        return
    async with ctx.db.read() as session:
        member = await session.get(Membership, (team_id, ctx.viewer.id))
    if member is None:
        ctx.memberships.pop(team_id, None)
        raise CodedError(TopLevelCode.NOT_FOUND, "No such team.")


def ends_access(ctx: Context, event: EntryEvent | None) -> bool:
    """Whether ``event`` removed the viewer from its team: their subscription ends before
    anything later. A shared execution notes every removal instead, so that each of its
    subscribers checks its membership before the next item (``Gate``)."""
    if event is None or event.subject is not Subject.MEMBER or event.kind != CatalogKind.DELETED:
        return False
    if ctx.shared:
        ctx.services.events.note_removal(event.team_id)
        return False
    return ctx.viewer is not None and event.entry_id == ctx.viewer.id


def _fresh(ctx: Context) -> None:
    """Each delivery reads current data: new loaders, the current instant."""
    ctx.loaders = Loaders(ctx.db)
    ctx.now = utcnow()


async def _read_entry(ctx: Context, entry_id: str) -> Any:
    return (await lookups.load(ctx.db, lookups.ENTRIES, [entry_id])).get(entry_id)


async def _read_running(ctx: Context, team_id: str) -> list[Any]:
    found: list[Any] = (await lookups.load(ctx.db, lookups.TEAM_RUNNING, [team_id])).get(
        team_id, []
    )
    return found


async def _authorised_events(
    ctx: Context, team: str, after: str | None, entries: Subject | None
) -> AsyncIterator[EntryEvent]:
    """The team's events after the cursor ``after`` (without one: from now), entry events
    (``entries``) or catalogue ones (None), each checked for this subscriber (revoked
    token, membership) and with fresh loaders."""
    await require_member(ctx, team)
    start = decode_event_cursor(after) if after is not None else None
    gate = Gate(ctx, team)
    # A shared execution (gql.live.fanout) reads for all its members: its queue absorbs the
    # bursts that outrun one execution per event (`comments` costs a read each).
    limit = ctx.services.settings.shared_subscription_queue if ctx.shared else QUEUE_LIMIT
    async with ctx.services.events.subscribe(team, limit=limit) as subscriber:
        # Registered first: nothing committed after the position read below is missed.
        if start is None:
            start = await stream.last_position(ctx, team)
        else:
            await stream.check_retained(ctx, team, start)
        async for event in stream.team_events(ctx, team, subscriber, start):
            if ends_access(ctx, event):
                raise CodedError(TopLevelCode.NOT_FOUND, "No such team.")
            if (event.subject is Subject.ENTRY) != (entries is Subject.ENTRY):
                continue
            await _refuse_revoked(ctx, (f"revoked:{event.team_id}", event.position or 0))
            if not await gate.allowed():
                raise CodedError(TopLevelCode.NOT_FOUND, "No such team.")
            _fresh(ctx)
            yield event


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Every committed change of a time entry of the team, in commit order, "
        "each once; optionally only one user's. With `after` (an event's `cursor`), first "
        "every event after it (CURSOR_EXPIRED when it is older than the kept events), then "
        "live ones, with no gap and no duplicate."
    )
    async def timer_events(
        self,
        info: Info,
        team_id: strawberry.ID,
        user_id: strawberry.ID | None = None,
        after: str | None = None,
    ) -> AsyncGenerator[TimerEvent, None]:
        ctx, team = info.context, str(team_id)
        async for event in _authorised_events(ctx, team, after, Subject.ENTRY):
            if user_id is not None and event.user_id != str(user_id):
                continue
            row = await ctx.services.events.reads.get(
                (event.entry_id, event.version), lambda e=event: _read_entry(ctx, e.entry_id)
            )
            if row is None or row.team_id != team:
                continue
            ctx.loaders.entry.prime(row.id, row)
            assert event.position is not None
            yield TimerEvent(
                kind=EventKind(event.kind),
                time_entry=TimeEntry.from_row(row),
                occurred_at=event.occurred_at,
                cursor=event_cursor(event.position),
            )

    @strawberry.subscription(
        description="Every committed change of the team's tasks, categories and members "
        "(what task pickers show), in commit order; `after` resumes as for `timerEvents`."
    )
    async def catalog_events(
        self, info: Info, team_id: strawberry.ID, after: str | None = None
    ) -> AsyncGenerator[CatalogEvent, None]:
        async for event in _authorised_events(info.context, str(team_id), after, None):
            yield CatalogEvent.of(event)

    @strawberry.subscription(
        description="The team's running entries at once, then the whole list after each change."
    )
    async def running_timers(
        self, info: Info, team_id: strawberry.ID
    ) -> AsyncGenerator[list[TimeEntry], None]:
        ctx = info.context
        team = str(team_id)
        await require_member(ctx, team)
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
                    if ends_access(ctx, event):
                        raise CodedError(TopLevelCode.NOT_FOUND, "No such team.")
                    if subscriber.overflowed:
                        subscriber.overflowed = False  # a list is a state: just refresh it
                        force = True
                        break
                    if event is None:
                        force = True
                        break
                    if event.subject is Subject.ENTRY and event.kind in RUNNING_KINDS:
                        break
                while not subscriber.queue.empty():
                    event = subscriber.queue.get_nowait()
                    if ends_access(ctx, event):
                        raise CodedError(TopLevelCode.NOT_FOUND, "No such team.")
                    if event is None:
                        force = True
                if force:  # the broadcast may have lost a removal: check afresh
                    await require_member(ctx, team)
                if not await gate.allowed():
                    raise CodedError(TopLevelCode.NOT_FOUND, "No such team.")

    @strawberry.subscription(
        description="`timeReport`'s answer at once, then again after each change that alters "
        "it, at most once a second; while it counts running entries, once a second. The "
        "same arguments and errors as `timeReport`, but another team's report ends with "
        "NOT_FOUND and sends nothing. Subscribers of the same report share its computation."
    )
    async def time_report_updates(
        self,
        info: Info,
        filter: TimeEntryFilter,
        group_by: list[GroupBy],
        time_zone: str | None = None,
        week_start: int | None = None,
    ) -> AsyncGenerator[TimeReport, None]:
        ctx = info.context
        team = str(filter.team_id)
        await require_member(ctx, team)
        gate = Gate(ctx, team)
        bus = ctx.services.events

        def watch(event: EntryEvent | None) -> None:
            if ends_access(ctx, event):
                raise CodedError(TopLevelCode.NOT_FOUND, "No such team.")

        async def compute(first: bool) -> TimeReport:
            # The first report is this subscription's own; later ones follow a change or
            # a second, with one revocation read per change and second for the team.
            key = (f"revoked:report:{team}:{bus.generation(team)}", int(time.monotonic()))
            await _refuse_revoked(ctx, None if first else key)
            if not await gate.allowed():
                raise CodedError(TopLevelCode.NOT_FOUND, "No such team.")
            _fresh(ctx)
            return await time_report_of(
                ctx, filter=filter, group_by=group_by, time_zone=time_zone, week_start=week_start
            )

        async with bus.subscribe(team) as subscriber:
            paced = Paced[TimeReport](subscriber, watch=watch)
            last: tuple[Any, ...] | None = None
            async for report, forced in paced.run(compute, _counts_running):
                # A shared execution sends every report to gql.live.fanout, which compares
                # the encoded bytes; on its own, a subscription compares the values.
                state = (report.rows, report.time_zone, report.week_start)
                if ctx.shared or forced or state != last:
                    last = state
                    yield report


def _counts_running(report: TimeReport) -> bool:
    return report.totals.running_count > 0

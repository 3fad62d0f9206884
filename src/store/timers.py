"""Timers: start (stopping the running one at the same instant), stop, and the server's
stop at the team's limit (``Team.max_timer_hours``, 1 to 24 hours: ``rules.timer_limit``).

Every timer change of a user locks the user's row first (``store.locks`` step 3, after the
team's ``FOR KEY SHARE``), then their running entry: starts and stops of one user run one
at a time, "now" is read after the lock, so the order of commits is the order of instants
and entries never overlap. The idempotency record (step 1) is claimed before, and its
foreign key takes only ``FOR KEY SHARE`` on the user row, which the user lock (``FOR NO
KEY UPDATE``) does not conflict with: two double-clicked starts wait, never deadlock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from store import catalog, locks, overlap, rules, tags
from store.accounts import check_name
from store.errors import DomainError, DomainWarning, ErrorCode
from store.events import CatalogKind, EventKind, EventLog, Subject
from store.ids import new_id, parse_ulid
from store.models import Category, InputType, Membership, Source, Task, Team, TimeEntry
from store.rules import ResolvedScope
from store.rules import field as f
from store.timesheet import Scope, check_client_id, new_entry_values, resolve_scope
from store.timesheet.access import member_rate
from store.timeutil import utcnow


@dataclass(frozen=True)
class ParentCategoryRef:
    key: str
    title: str | None = None


@dataclass(frozen=True)
class TaskRef:
    key: str
    title: str | None = None
    url: str | None = None
    category_id: str | None = None
    parent_category: ParentCategoryRef | None = None


@dataclass(frozen=True)
class StartTimer:
    team_id: str
    entry_id: str | None = None
    task_id: str | None = None
    task: TaskRef | None = None
    category_id: str | None = None
    description: str | None = None
    billable: bool | None = None
    started_at: datetime | None = None
    tag_ids: tuple[str, ...] | None = None  # store.tags.set_entry_tags


@dataclass
class Started:
    entry: TimeEntry
    stopped: TimeEntry | None
    is_new_task: bool
    replayed: bool


async def _task_for_ref(
    session: AsyncSession,
    *,
    team: Team,
    actor: Membership,
    ref: TaskRef,
    now: datetime,
    events: EventLog,
) -> tuple[ResolvedScope, bool]:
    """The scope of the task with ``ref.key``, created (with its parent category) when
    missing; the field of a refusal is the one that was sent."""
    catalog.check_key(ref.key, f("task", "key"), catalog.MAX_TASK_KEY)
    task = await catalog.task_by_key(session, team_id=team.id, key=ref.key)
    is_new = task is None
    category_field = f("task", "key")
    if task is None:
        if team.tasks_readonly:
            raise DomainError(
                ErrorCode.TASKS_READONLY, "This team does not allow new tasks.", f("task", "key")
            )
        category: Category | None = None
        if ref.category_id is not None:
            category_field = f("task", "categoryId")
            category = await rules.category_of_team(
                session, team_id=team.id, category_id=ref.category_id, field=category_field
            )
        elif ref.parent_category is not None:
            parent = ref.parent_category
            category_field = f("task", "parentCategory", "key")
            catalog.check_key(parent.key, category_field, catalog.MAX_KEY)
            category = await catalog.category_by_key(session, team_id=team.id, key=parent.key)
            if category is None:
                if not rules.is_admin(actor):
                    raise DomainError(
                        ErrorCode.FORBIDDEN, "Only admins create categories.", category_field
                    )
                category = Category(
                    id=new_id(),
                    team_id=team.id,
                    key=parent.key,
                    title=check_name(
                        parent.title or parent.key, f("task", "parentCategory", "title")
                    ),
                    created_at=now,
                    updated_at=now,
                )
                session.add(category)
                await session.flush()
                events.catalog(
                    CatalogKind.CREATED,
                    Subject.CATEGORY,
                    team_id=team.id,
                    subject_id=category.id,
                    at=now,
                )
        task = Task(
            id=new_id(),
            team_id=team.id,
            category_id=category.id if category else None,
            key=ref.key,
            title=check_name(ref.title or ref.key, f("task", "title"), 500),
            url=ref.url,
            created_at=now,
            updated_at=now,
        )
        chain = await rules.category_chain(
            session, team_id=team.id, category_id=task.category_id, lock=True
        )
        scope = rules.decide_scope(task=task, chain=chain, field=category_field)
        session.add(task)
        await session.flush()
        events.catalog(
            CatalogKind.CREATED, Subject.TASK, team_id=team.id, subject_id=task.id, at=now
        )
        return scope, True
    chain = await rules.category_chain(
        session, team_id=team.id, category_id=task.category_id, lock=True
    )
    return rules.decide_scope(task=task, chain=chain, field=category_field), is_new


async def _last_instant(session: AsyncSession, user_id: str, now: datetime) -> datetime:
    """The latest start or stop of the user's entries, when it lies after ``now`` (the
    user's lock is held); else ``now``. A stopped entry's latest instant is its stop, a
    running one's its start: the latest stop (``ix_time_entries_user_id_stopped_at``,
    from its end) and the running entry's start (one row at most), not a scan of every
    entry of the user."""
    live = (TimeEntry.user_id == user_id, col(TimeEntry.deleted_at).is_(None))
    stop = select(func.max(col(TimeEntry.stopped_at))).where(*live, col(TimeEntry.stopped_at) > now)
    start = select(func.max(col(TimeEntry.started_at))).where(
        *live, col(TimeEntry.stopped_at).is_(None), col(TimeEntry.started_at) > now
    )
    both = select(stop.scalar_subquery(), start.scalar_subquery())
    latest: list[datetime] = [v for v in (await session.exec(both)).one() if v is not None]
    return max([now, *latest])


def stop_entry(
    entry: TimeEntry, at: datetime, now: datetime, events: EventLog, max_timer_hours: int
) -> None:
    """Stop a running entry at ``at``: it lasts at least 1 second, at most its team's limit
    (``max_timer_hours``); a stop past the limit is the server's (``autoStopped``), at
    exactly the limit."""
    end = rules.stop_instant(entry.started_at, at, max_timer_hours)
    entry.stopped_at = end
    entry.duration_seconds = int((end - entry.started_at).total_seconds())
    entry.auto_stopped = at > entry.started_at + rules.timer_limit(max_timer_hours)
    rules.touch(entry, now)
    events.add(EventKind.STOPPED, entry, now)


async def _limit_of(session: AsyncSession, entry: TimeEntry) -> int:
    """The timer limit of the entry's team, in hours."""
    team = await session.get(Team, entry.team_id)
    assert team is not None  # an entry's team is a foreign key
    return team.max_timer_hours


async def start_timer(
    session: AsyncSession,
    *,
    actor_id: str,
    data: StartTimer,
    digest: str,
    events: EventLog,
    warnings: list[DomainWarning],
) -> Started:
    """Start a timer for the actor; their running one stops at the new start. The team's
    overlap policy (``store.overlap``) may refuse it or add to ``warnings``: the new timer
    occupies [start, start + the team's limit), and the stopped one ends where it begins,
    which is no overlap."""
    team, actor = await rules.team_and_membership(
        session, team_id=data.team_id, user_id=actor_id, field=f("teamId"), lock=True
    )
    await locks.users(session, [actor_id])
    await rules.keep_membership(session, team_id=team.id, user_id=actor_id, field=f("teamId"))
    start_field = f("startedAt") if data.started_at is not None else f("teamId")
    entry_id: str | None = None
    if data.entry_id is not None:
        entry_id, stored = await check_client_id(
            session, entry_id=data.entry_id, user_id=actor_id, digest=digest
        )
        if stored is not None:
            await overlap.replay_warnings(
                session, team=team, entry=stored, field=start_field, warnings=warnings
            )
            return Started(stored, None, False, True)
    now = utcnow()
    running = await rules.running_entry_of(session, actor_id)
    given = [
        n
        for n, v in (
            ("taskId", data.task_id),
            ("task", data.task),
            ("categoryId", data.category_id),
        )
        if v is not None
    ]
    if len(given) != 1:
        raise DomainError(
            ErrorCode.VALIDATION,
            "Give exactly one of taskId, task or categoryId.",
            f(*given[1:2]),
        )
    is_new_task = False
    if data.task is not None:
        scope, is_new_task = await _task_for_ref(
            session, team=team, actor=actor, ref=data.task, now=now, events=events
        )
    else:
        scope = await resolve_scope(session, team=team, scope=Scope(data.task_id, data.category_id))
    started_at = (data.started_at or now).replace(microsecond=0)
    rules.check_timer_start(
        started_at, now=now, max_timer_hours=team.max_timer_hours, field=f("startedAt")
    )
    rules.check_period_open(team, started_at, start_field)
    description = rules.check_description(data.description, f("description"))

    if data.started_at is None:
        # "Now" while the user's last entry began or ended within this second (a burst of
        # clicks; an entry lasts at least one second): the new one follows it.
        started_at = max(started_at, await _last_instant(session, actor_id, now))
    if running is not None:
        if started_at < running.started_at:
            raise DomainError(
                ErrorCode.VALIDATION,
                "startedAt lies before the start of your running timer.",
                f("startedAt"),
            )
        # The running timer may be of another team: its own team's limit applies.
        stop_entry(running, started_at, now, events, await _limit_of(session, running))
        # An entry lasts at least a second: a start within the running one's first
        # second begins when that one ends, so the two never overlap.
        assert running.stopped_at is not None
        started_at = max(started_at, running.stopped_at)
        await session.flush()  # the running-entry index admits the new one only after this
    await overlap.check(
        session,
        team=team,
        user_id=actor_id,
        started_at=started_at,
        stopped_at=None,
        entry_id=None,
        field=start_field,
        warnings=warnings,
    )

    billing = rules.billing(
        team=team,
        member_rate=await member_rate(session, team_id=team.id, user_id=actor_id),
        chain=scope.chain,
        explicit_billable=data.billable,
    )
    entry = TimeEntry(
        **new_entry_values(
            team=team,
            user_id=actor_id,
            scope=scope,
            billing=billing,
            started_at=started_at,
            seconds=None,
            description=description,
            input_type=InputType.REALTIME.value,
            source=Source.API.value,
            now=now,
            digest=digest,
            entry_id=entry_id,
        )
    )
    session.add(entry)
    await session.flush()
    await tags.set_entry_tags(session, entry=entry, tag_ids=data.tag_ids, new=True)
    events.add(EventKind.STARTED, entry, now)
    return Started(entry, running, is_new_task, False)


async def stop_timer(
    session: AsyncSession,
    *,
    actor_id: str,
    entry_id: str | None,
    stopped_at: datetime | None,
    events: EventLog,
) -> TimeEntry:
    entry_field = f("timeEntryId") if entry_id is not None else f()
    key: str | None = None
    if entry_id is not None:
        key = parse_ulid(entry_id)
        seen = await session.get(TimeEntry, key) if key else None
        member = await session.get(Membership, (seen.team_id, actor_id)) if seen else None
        if seen is None or member is None or seen.deleted_at is not None:
            raise DomainError(ErrorCode.NOT_FOUND, "No such time entry.", entry_field)
        if seen.user_id != actor_id and not rules.is_admin(member):
            raise DomainError(
                ErrorCode.FORBIDDEN, "Members stop only their own timers.", entry_field
            )
        owner_id = seen.user_id
    else:
        owner_id = actor_id
    await locks.users(session, [owner_id])
    now = utcnow()
    if key is not None:
        entry = (await locks.entries(session, [key])).get(key)
    else:
        entry = await rules.running_entry_of(session, owner_id)
    if entry is None or entry.stopped_at is not None or entry.user_id != owner_id:
        raise DomainError(ErrorCode.TIMER_NOT_RUNNING, "No timer is running.", entry_field)
    if entry.status in rules.FROZEN_STATUSES:
        raise DomainError(ErrorCode.ENTRY_LOCKED, f"The entry is {entry.status}.", entry_field)
    # Without a stoppedAt, now; a timer that began within this second (after a switch,
    # store.rules.stop_instant) then lasts its one second.
    at = stopped_at.replace(microsecond=0) if stopped_at else max(now, entry.started_at)
    if at < entry.started_at:
        raise DomainError(ErrorCode.VALIDATION, "stoppedAt lies before the start.", f("stoppedAt"))
    if stopped_at is not None and at > now:
        raise DomainError(ErrorCode.VALIDATION, "stoppedAt lies in the future.", f("stoppedAt"))
    stop_entry(entry, at, now, events, await _limit_of(session, entry))
    session.add(entry)
    await session.flush()
    return entry


SWEEP_BATCH = 500


def _overdue(now: datetime) -> ColumnElement[bool]:
    """A running timer past its team's limit (joined with ``teams``)."""
    return and_(
        rules.live_condition(),
        col(TimeEntry.started_at) < rules.overdue_cutoff(col(Team.max_timer_hours), now),
    )


async def any_overdue(session: AsyncSession, *, now: datetime) -> bool:
    """Whether a timer has run past its team's limit (a cheap read before the sweep)."""
    stmt = (
        select(TimeEntry.id)
        .join(Team, col(Team.id) == col(TimeEntry.team_id))
        .where(_overdue(now))
        .limit(1)
    )
    return (await session.exec(stmt)).first() is not None


async def stop_overdue(
    session: AsyncSession, *, now: datetime, events: EventLog
) -> list[TimeEntry]:
    """The server's stop: every timer still running its team's limit after its start is
    stopped at exactly that instant (``autoStopped``); after an admin lowered the limit,
    that instant may lie in the past. Entries another transaction holds are skipped
    (``SKIP LOCKED``, only the entry rows: ``OF time_entries``): that one is stopping or
    changing them, and the next sweep looks again, so several instances sweeping at once
    never stop one timer twice."""
    stmt = (
        select(TimeEntry, Team.max_timer_hours)
        .join(Team, col(Team.id) == col(TimeEntry.team_id))
        .where(_overdue(now))
        .order_by(col(TimeEntry.started_at))
        .limit(SWEEP_BATCH)
        .with_for_update(skip_locked=True, of=TimeEntry)
        .execution_options(populate_existing=True)
    )
    rows = list((await session.exec(stmt)).all())
    stopped: list[TimeEntry] = []
    for entry, max_timer_hours in rows:
        stop_entry(entry, now, now, events, max_timer_hours)
        session.add(entry)
        stopped.append(entry)
    await session.flush()
    return stopped

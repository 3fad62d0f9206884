"""The domain rules of time entries, each written once: who may change what, periods and
locks, scopes, texts, instants and billing defaults.

Every path that needs a rule calls the function here: the ORM commands
(``store.timesheet``, ``store.timers``), the direct write path (``store.entry_writes``)
and the GraphQL layer. Rules that SQL must evaluate too (the effective category, running
seconds, live entries) have their SQL builder beside the Python function, in
``store.entry_rules``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, ColumnExpressionArgument, case, literal
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from store import entry_rules, locks
from store.entries import live_entries
from store.errors import DomainError, ErrorCode
from store.models import (
    Category,
    EntryStatus,
    Membership,
    Role,
    ScopeType,
    Task,
    TaskState,
    Team,
    TimeEntry,
)
from store.pricing import Priced, resolve_billable, resolve_rate_cents
from store.timeutil import utcnow_precise
from store.types import UTCDateTime

MAX_DESCRIPTION = 10_000
MAX_COMMENT = 10_000
# A logged entry may be planned a day ahead, no further.
MAX_LOG_AHEAD = timedelta(days=1)
# A timer runs 1 second to its team's limit (``Team.max_timer_hours``, 1 to 24 hours, 24
# unless an admin lowers it): it may start at most that far back, and the server stops it
# that long after its start (store.timers.stop_overdue). ``timer_limit`` is the one rule;
# ``overdue_cutoff`` is the same rule in SQL.
MIN_TIMER_HOURS = 1
MAX_TIMER_HOURS = entry_rules.MAX_TIMER_HOURS
MIN_ENTRY = timedelta(seconds=1)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
FROZEN_STATUSES = frozenset({EntryStatus.LOCKED.value, EntryStatus.INVOICED.value})
# What a member may still change of their own entries (the amendment "who may change what").
MEMBER_EDITABLE = frozenset({EntryStatus.DRAFT.value, EntryStatus.REJECTED.value})

Field = tuple[str, ...]


def field(*names: str) -> Field:
    """An input path: every ``userErrors.field`` starts with ``input``."""
    return ("input", *names)


class TeamTerms(Protocol):
    """What the entry rules read of a team; :class:`store.models.Team` fits, and so do the
    plain rows of the direct write path (``store.entry_writes``)."""

    @property
    def id(self) -> str: ...

    @property
    def time_zone(self) -> str: ...

    @property
    def locked_before(self) -> datetime | None: ...

    @property
    def default_billable(self) -> bool: ...

    @property
    def default_rate_cents(self) -> int: ...

    @property
    def archived_at(self) -> datetime | None: ...


class CategoryTerms(Priced, Protocol):
    """What the entry rules read of a category; :class:`store.models.Category` fits."""

    @property
    def id(self) -> str: ...

    @property
    def title(self) -> str: ...

    @property
    def archived(self) -> bool: ...


class TaskTerms(Protocol):
    """What the entry rules read of a task; :class:`store.models.Task` fits."""

    @property
    def id(self) -> str: ...

    @property
    def title(self) -> str: ...

    @property
    def state(self) -> str: ...

    @property
    def category_id(self) -> str | None: ...

    @property
    def archived_at(self) -> datetime | None: ...


def is_admin(member: Membership | None) -> bool:
    return member is not None and member.role in (Role.ADMIN.value, Role.OWNER.value)


async def team_and_membership(
    session: AsyncSession, *, team_id: str, user_id: str, field: Field, lock: bool = False
) -> tuple[Team, Membership]:
    """The team and the user's membership; NOT_FOUND (revealing nothing) if not a member.

    ``lock``: the team is read ``FOR KEY SHARE`` (``store.locks`` step 2 of entry writers;
    they lock the membership after their users: :func:`keep_membership`), and an archived
    team is refused (TEAM_ARCHIVED): entry writers pass ``lock``."""
    if lock:  # one statement: the team locked, the membership read
        found = await locks.team_and_member_for_entries(session, team_id, user_id)
        if found is None:
            raise DomainError(ErrorCode.NOT_FOUND, "No such team.", field)
        check_team_active(found[0], field)
        return found
    member = await session.get(Membership, (team_id, user_id))
    team = await session.get(Team, team_id) if member is not None else None
    if team is None or member is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such team.", field)
    return team, member


async def keep_membership(
    session: AsyncSession, *, team_id: str, user_id: str, field: Field, what: str = "team"
) -> Membership:
    """The writer is still a member once it holds its users' locks (``store.locks`` step
    3): their membership, locked ``FOR KEY SHARE``, so a removal waits for this write; a
    write that began before a removal and reaches here after it is refused, revealing
    nothing (NOT_FOUND)."""
    member = await locks.own_membership(session, team_id, user_id)
    if member is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"No such {what}.", field)
    return member


async def team_categories(session: AsyncSession, team_id: str) -> list[Category]:
    return list((await session.exec(select(Category).where(Category.team_id == team_id))).all())


def chain_from(categories: Sequence[Category], category_id: str | None) -> list[Category]:
    """The category and its ancestors, nearest first."""
    by_id = {c.id: c for c in categories}
    chain: list[Category] = []
    current = by_id.get(category_id) if category_id else None
    while current is not None and len(chain) <= len(by_id):
        chain.append(current)
        current = by_id.get(current.parent_id) if current.parent_id else None
    return chain


async def category_chain(
    session: AsyncSession, *, team_id: str, category_id: str | None, lock: bool = False
) -> list[Category]:
    """The category and its ancestors, nearest first: one primary-key look-up per level.

    ``lock``: each is read ``FOR SHARE`` (``store.locks`` step 5), so an archive or a
    change of rates cannot commit between the checks and the write."""
    chain: list[Category] = []
    seen: set[str] = set()
    current = category_id
    while current is not None and current not in seen:
        seen.add(current)
        category = (
            await locks.shared_row(session, Category, current)
            if lock
            else await session.get(Category, current)
        )
        if category is None or category.team_id != team_id:
            break
        chain.append(category)
        current = category.parent_id
    return chain


async def task_of_team(
    session: AsyncSession, *, team_id: str, task_id: str, field: Field, lock: bool = False
) -> Task:
    task = await (locks.shared_row(session, Task, task_id) if lock else session.get(Task, task_id))
    if task is None or task.team_id != team_id:
        raise DomainError(ErrorCode.NOT_FOUND, "No such task in this team.", field)
    return task


async def category_of_team(
    session: AsyncSession, *, team_id: str, category_id: str, field: Field
) -> Category:
    category = await session.get(Category, category_id)
    if category is None or category.team_id != team_id:
        raise DomainError(ErrorCode.NOT_FOUND, "No such category in this team.", field)
    return category


def check_not_archived(chain: Sequence[CategoryTerms], field: Field) -> None:
    """An archived category closes its whole subtree to new time."""
    for category in chain:
        if category.archived:
            raise DomainError(
                ErrorCode.CATEGORY_ARCHIVED, f"Category {category.title!r} is archived.", field
            )


def check_team_active(team: TeamTerms, field: Field) -> None:
    """An archived team is read-only: no entry or catalogue change until it is restored."""
    if team.archived_at is not None:
        raise DomainError(
            ErrorCode.TEAM_ARCHIVED, "The team is archived: an owner may restore it.", field
        )


def check_task_open(task: TaskTerms, field: Field) -> None:
    """New time goes only on an active, OPEN task."""
    if task.archived_at is not None:
        raise DomainError(ErrorCode.TASK_ARCHIVED, f"Task {task.title!r} is archived.", field)
    if task.state == TaskState.CLOSED.value:
        raise DomainError(ErrorCode.VALIDATION, f"Task {task.title!r} is closed.", field)


@dataclass(frozen=True, slots=True)
class ResolvedScope:
    """Where time goes: a task (its category is the task's) or a category."""

    scope_type: str
    task_id: str | None
    category_id: str | None
    chain: Sequence[CategoryTerms]  # the effective category and its ancestors


def decide_scope(
    *, task: TaskTerms | None, chain: Sequence[CategoryTerms], field: Field
) -> ResolvedScope:
    """The scope of new time on ``task`` (or, without one, on ``chain[0]``), checked: an
    open task, no archived category above it. Finding the rows is the caller's."""
    if task is not None:
        check_task_open(task, field)
        check_not_archived(chain, field)
        return ResolvedScope(ScopeType.TASK.value, task.id, None, chain)
    check_not_archived(chain, field)
    return ResolvedScope(ScopeType.CATEGORY.value, None, chain[0].id, chain)


def check_period_open(team: TeamTerms, started_at: datetime, field: Field) -> None:
    if team.locked_before is not None and started_at < team.locked_before:
        raise DomainError(
            ErrorCode.ENTRY_LOCKED,
            f"Entries before {team.locked_before.isoformat()} are locked for this team.",
            field,
        )


def check_entry_editable(entry: TimeEntry, team: Team, actor: Membership, field: Field) -> None:
    """Who may change or delete an entry: admins any of their team's but LOCKED and
    INVOICED ones; a member only their own DRAFT and REJECTED ones; nobody an entry inside
    the team's locked period or of an archived team."""
    check_team_active(team, field)
    admin = is_admin(actor)
    if entry.user_id != actor.user_id and not admin:
        raise DomainError(
            ErrorCode.FORBIDDEN, "Only admins may change other members' entries.", field
        )
    if entry.status in FROZEN_STATUSES or (not admin and entry.status not in MEMBER_EDITABLE):
        raise DomainError(ErrorCode.ENTRY_LOCKED, f"The entry is {entry.status}.", field)
    check_period_open(team, entry.started_at, field)


def clean_text(text: str | None, field: Field, *, limit: int, required: bool) -> str | None:
    """One rule for free text (descriptions, comments, reasons): text that is only white
    space is no text; optional text is then absent (None), required text is refused."""
    if text is None or not text.strip():
        if required:
            raise DomainError(ErrorCode.VALIDATION, f"Must be 1 to {limit} characters.", field)
        return None
    if len(text) > limit:
        raise DomainError(ErrorCode.VALIDATION, f"Must be at most {limit} characters.", field)
    return text


def check_description(text: str | None, field: Field) -> str | None:
    return clean_text(text, field, limit=MAX_DESCRIPTION, required=False)


def check_start(started_at: datetime, *, now: datetime, ahead: timedelta, field: Field) -> None:
    if started_at > now + ahead:
        raise DomainError(ErrorCode.VALIDATION, "The start lies too far in the future.", field)
    if started_at < EARLIEST:
        raise DomainError(ErrorCode.VALIDATION, "The start lies before the year 2000.", field)


def timer_limit(max_timer_hours: int) -> timedelta:
    """How long a timer of a team with ``max_timer_hours`` may run: the start may lie at
    most this far back, and the server stops a timer this long after its start."""
    return timedelta(hours=max_timer_hours)


def overdue_cutoff(
    max_timer_hours: ColumnExpressionArgument[int], now: datetime
) -> ColumnElement[datetime]:
    """``now - timer_limit(max_timer_hours)`` in SQL, for a column of team limits: a timer
    that started before it has run past its team's limit. A CASE over the 24 possible
    limits, each cutoff computed by :func:`timer_limit` and bound as a UTC instant, so
    PostgreSQL and SQLite compare the same values (no dialect's interval arithmetic)."""
    return case(
        {
            hours: literal(now - timer_limit(hours), UTCDateTime())
            for hours in range(MIN_TIMER_HOURS, MAX_TIMER_HOURS + 1)
        },
        value=max_timer_hours,
        else_=literal(now - timer_limit(MAX_TIMER_HOURS), UTCDateTime()),
    )


def check_timer_hours(hours: int, field: Field) -> None:
    if not MIN_TIMER_HOURS <= hours <= MAX_TIMER_HOURS:
        raise DomainError(
            ErrorCode.VALIDATION,
            f"maxTimerHours is {MIN_TIMER_HOURS} to {MAX_TIMER_HOURS}.",
            field,
        )


def check_timer_start(
    started_at: datetime, *, now: datetime, max_timer_hours: int, field: Field
) -> None:
    """A timer starts now or up to its team's limit back, never in the future."""
    if started_at > now:
        raise DomainError(ErrorCode.VALIDATION, "A timer cannot start in the future.", field)
    if started_at < now - timer_limit(max_timer_hours):
        raise DomainError(
            ErrorCode.VALIDATION,
            f"A timer of this team may start at most {max_timer_hours} hours in the past.",
            field,
        )


def stop_instant(started_at: datetime, at: datetime, max_timer_hours: int) -> datetime:
    """When an entry that is stopped at ``at`` ends: at least 1 second, at most its team's
    limit after its start."""
    return min(max(at, started_at + MIN_ENTRY), started_at + timer_limit(max_timer_hours))


def work_date_of(team: TeamTerms, started_at: datetime) -> date:
    return started_at.astimezone(ZoneInfo(team.time_zone)).date()


def start_of_work_date(team: TeamTerms, day: date) -> datetime:
    """09:00 on ``day`` in the team's time zone, as UTC."""
    return datetime.combine(day, time(9, 0), ZoneInfo(team.time_zone)).astimezone(UTC)


def entry_start(
    team: TeamTerms, *, started_at: datetime | None, work_date: date | None
) -> tuple[datetime, Field] | None:
    """When an entry starts, from ``startedAt`` or ``workDate`` (09:00 team time), and the
    field it came from; a ``workDate`` that is not the local date of ``startedAt`` is
    refused. None when neither was given."""
    if started_at is not None:
        start = started_at.replace(microsecond=0)
        if work_date is not None and work_date != work_date_of(team, start):
            raise DomainError(
                ErrorCode.VALIDATION,
                f"workDate {work_date.isoformat()} is not the team's date of startedAt.",
                field("workDate"),
            )
        return start, field("startedAt")
    if work_date is not None:
        return start_of_work_date(team, work_date), field("workDate")
    return None


@dataclass(frozen=True, slots=True)
class Billing:
    billable: bool
    rate_snapshot_cents: int


def billing(
    *,
    team: TeamTerms,
    member_rate: int | None,
    chain: Sequence[Priced],
    explicit_billable: bool | None,
) -> Billing:
    """An entry's billable flag and rate, as a new entry gets them: an explicit flag, else
    the nearest category's, else the team's; the member's rate, else the nearest
    category's, else the team's."""
    return Billing(
        resolve_billable(explicit_billable, chain, team.default_billable),
        resolve_rate_cents(member_rate, chain, team.default_rate_cents),
    )


def live_condition() -> ColumnElement[bool]:
    return live_entries()


async def running_entry_of(session: AsyncSession, user_id: str) -> TimeEntry | None:
    """The user's running entry, as committed (the caller holds the user's lock)."""
    stmt = (
        select(TimeEntry)
        .where(TimeEntry.user_id == user_id, live_condition())
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.exec(stmt)).first()


ENTRY_STATE = tuple(
    c.name
    for c in TimeEntry.__table__.columns  # type: ignore[attr-defined]
    if c.name not in ("version", "updated_at", "request_hash")
)


def entry_state(entry: TimeEntry) -> tuple[object, ...]:
    """The stored values of an entry that a change may alter (not its bookkeeping)."""
    return tuple(getattr(entry, name) for name in ENTRY_STATE)


def touch(entry: TimeEntry, now: datetime, before: tuple[object, ...] | None = None) -> bool:
    """Record a change: version grows by one, updated_at moves (never backwards). With
    ``before`` (:func:`entry_state` before the change), only if a stored value changed:
    versions count changes. Whether it did."""
    if before is not None and entry_state(entry) == before:
        return False
    entry.version += 1
    entry.updated_at = max(utcnow_precise(), now)
    return True

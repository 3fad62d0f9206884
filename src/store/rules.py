"""Checks and derivations shared by the entry commands: who may do what, locks, defaults."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from store.errors import DomainError, ErrorCode
from store.ids import new_id
from store.models import (
    Category,
    EntryStatus,
    Membership,
    Role,
    ScopeType,
    Task,
    Team,
    TimeEntry,
    User,
)
from store.pricing import Priced, resolve_billable, resolve_rate_cents
from store.timeutil import utcnow_precise

MAX_DESCRIPTION = 10_000
# How far ahead of the server's clock a start may lie (clients' clocks drift a little).
FUTURE_SKEW = timedelta(minutes=1)
# A logged entry may be planned a day ahead, no further.
MAX_LOG_AHEAD = timedelta(days=1)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
FROZEN_STATUSES = frozenset({EntryStatus.LOCKED.value, EntryStatus.INVOICED.value})

Field = tuple[str, ...]


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


class CategoryTerms(Priced, Protocol):
    """What the entry rules read of a category; :class:`store.models.Category` fits."""

    @property
    def title(self) -> str: ...

    @property
    def archived(self) -> bool: ...


def is_admin(member: Membership | None) -> bool:
    return member is not None and member.role in (Role.ADMIN.value, Role.OWNER.value)


async def team_and_membership(
    session: AsyncSession, *, team_id: str, user_id: str, field: Field
) -> tuple[Team, Membership]:
    """The team and the user's membership; NOT_FOUND (revealing nothing) if not a member."""
    member = await session.get(Membership, (team_id, user_id))
    team = await session.get(Team, team_id) if member is not None else None
    if team is None or member is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such team.", field)
    return team, member


async def lock_user(session: AsyncSession, user_id: str) -> None:
    """Serialise timer changes of one user (PostgreSQL row lock; SQLite writers are serial)."""
    await session.exec(select(User.id).where(User.id == user_id).with_for_update())


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
    session: AsyncSession, *, team_id: str, category_id: str | None
) -> list[Category]:
    """``chain_from(team_categories(...), category_id)`` without reading the whole team:
    one primary-key look-up per level (the session's identity map answers repeats)."""
    chain: list[Category] = []
    seen: set[str] = set()
    current = category_id
    while current is not None and current not in seen:
        seen.add(current)
        category = await session.get(Category, current)
        if category is None or category.team_id != team_id:
            break
        chain.append(category)
        current = category.parent_id
    return chain


async def task_of_team(session: AsyncSession, *, team_id: str, task_id: str, field: Field) -> Task:
    task = await session.get(Task, task_id)
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
    for category in chain[:1]:
        if category.archived:
            raise DomainError(
                ErrorCode.CATEGORY_ARCHIVED, f"Category {category.title!r} is archived.", field
            )


def check_period_open(team: TeamTerms, started_at: datetime, field: Field) -> None:
    if team.locked_before is not None and started_at < team.locked_before:
        raise DomainError(
            ErrorCode.ENTRY_LOCKED,
            f"Entries before {team.locked_before.isoformat()} are locked for this team.",
            field,
        )


def check_entry_editable(entry: TimeEntry, team: Team, actor: Membership, field: Field) -> None:
    """Own entries, or any entry of the team for admins; never LOCKED/INVOICED or locked periods."""
    if entry.user_id != actor.user_id and not is_admin(actor):
        raise DomainError(
            ErrorCode.FORBIDDEN, "Only admins may change other members' entries.", field
        )
    if entry.status in FROZEN_STATUSES:
        raise DomainError(ErrorCode.ENTRY_LOCKED, f"The entry is {entry.status}.", field)
    check_period_open(team, entry.started_at, field)


def check_description(text: str | None, field: Field) -> str | None:
    if text is not None and len(text) > MAX_DESCRIPTION:
        raise DomainError(
            ErrorCode.VALIDATION, f"description is at most {MAX_DESCRIPTION} characters.", field
        )
    return text


def check_start(started_at: datetime, *, now: datetime, ahead: timedelta, field: Field) -> None:
    if started_at > now + ahead:
        raise DomainError(ErrorCode.VALIDATION, "The start lies too far in the future.", field)
    if started_at < EARLIEST:
        raise DomainError(ErrorCode.VALIDATION, "The start lies before the year 2000.", field)


def work_date_of(team: TeamTerms, started_at: datetime) -> date:
    return started_at.astimezone(ZoneInfo(team.time_zone)).date()


def start_of_work_date(team: TeamTerms, day: date) -> datetime:
    """09:00 on ``day`` in the team's time zone, as UTC."""
    return datetime.combine(day, time(9, 0), ZoneInfo(team.time_zone)).astimezone(UTC)


async def billing_defaults(
    session: AsyncSession,
    *,
    team: Team,
    user_id: str,
    category_id: str | None,
    explicit_billable: bool | None,
    chain: Sequence[Category] | None = None,
) -> tuple[bool, int]:
    """(billable, rateSnapshotCents) per the contract: explicit / member / category chain / team.

    ``chain``: the category's chain, when the caller has just read it (not read twice)."""
    if chain is None:
        chain = await category_chain(session, team_id=team.id, category_id=category_id)
    member = await session.get(Membership, (team.id, user_id))
    billable = resolve_billable(explicit_billable, chain, team.default_billable)
    rate = resolve_rate_cents(member.rate_cents if member else None, chain, team.default_rate_cents)
    return billable, rate


async def running_entry_of(session: AsyncSession, user_id: str) -> TimeEntry | None:
    stmt = select(TimeEntry).where(
        TimeEntry.user_id == user_id, col(TimeEntry.stopped_at).is_(None)
    )
    return (await session.exec(stmt)).first()


def touch(entry: TimeEntry, now: datetime) -> None:
    """Record a change: version grows by one, updated_at moves (never backwards)."""
    entry.version += 1
    entry.updated_at = max(utcnow_precise(), now)


async def new_entry(
    session: AsyncSession,
    *,
    team: Team,
    user_id: str,
    entry_id: str | None,
    task_id: str | None,
    category_id: str | None,
    defaults_category: str | None,
    started_at: datetime,
    description: str | None,
    explicit_billable: bool | None,
    input_type: str,
    source: str,
    digest: str,
    now: datetime,
    external_ref: tuple[str, str, str] | None = None,
    chain: Sequence[Category] | None = None,
) -> TimeEntry:
    """A new (running) entry with its billing defaults resolved; the caller adds it.

    ``request_hash`` is kept only when the client chose the id (see check_client_id)."""
    billable, rate = await billing_defaults(
        session,
        team=team,
        user_id=user_id,
        category_id=defaults_category,
        explicit_billable=explicit_billable,
        chain=chain,
    )
    provider, ext_type, ext_id = external_ref or (None, None, None)
    return TimeEntry(
        id=entry_id or new_id(),
        team_id=team.id,
        user_id=user_id,
        scope_type=ScopeType.TASK.value if task_id else ScopeType.CATEGORY.value,
        task_id=task_id,
        category_id=category_id,
        started_at=started_at,
        work_date=work_date_of(team, started_at),
        description=description,
        billable=billable,
        rate_snapshot_cents=rate,
        input_type=input_type,
        source=source,
        ext_provider=provider,
        ext_type=ext_type,
        ext_id=ext_id,
        request_hash=digest if entry_id else None,
        created_at=now,
        updated_at=now,
    )

"""Commands on time entries: log, update, delete, comment, transition, lock a period."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from store import rules
from store.durations import resolve_duration
from store.errors import DomainError, DomainErrors, ErrorCode
from store.events import EventKind, EventLog
from store.ids import is_ulid, new_id
from store.models import (
    Category,
    Comment,
    EntryStatus,
    InputType,
    Membership,
    ScopeType,
    Source,
    Team,
    TimeEntry,
)
from store.pricing import resolve_billable, resolve_rate_cents

MAX_COMMENT = 10_000
EXT_LIMITS = {"provider": 100, "externalType": 100, "externalId": 255}


@dataclass(frozen=True)
class ExternalRefInput:
    provider: str
    external_type: str
    external_id: str


@dataclass(frozen=True)
class Scope:
    task_id: str | None = None
    category_id: str | None = None


@dataclass(frozen=True)
class HowLong:
    """The ways to say how long; the first given wins (contract order)."""

    duration_seconds: int | None = None
    minutes: int | None = None
    hours: str | None = None
    duration: str | None = None
    stopped_at: datetime | None = None

    def given(self) -> bool:
        return any(
            v is not None
            for v in (
                self.duration_seconds,
                self.minutes,
                self.hours,
                self.duration,
                self.stopped_at,
            )
        )

    def seconds(self, started_at: datetime) -> int:
        return resolve_duration(
            duration_seconds=self.duration_seconds,
            minutes=self.minutes,
            hours=self.hours,
            duration=self.duration,
            stopped_at=self.stopped_at,
            started_at=started_at,
        )


@dataclass(frozen=True)
class LogEntry:
    team_id: str
    scope: Scope
    how_long: HowLong
    entry_id: str | None = None
    user_id: str | None = None
    started_at: datetime | None = None
    work_date: date | None = None
    description: str | None = None
    billable: bool | None = None
    input_type: str = InputType.MANUAL.value
    source: str = Source.API.value
    external_ref: ExternalRefInput | None = None


UNSET: object = object()


@dataclass
class EntryChanges:
    """What an update changes; fields left at UNSET stay as they are."""

    expected_version: int | None = None
    scope: Scope | None = None
    user_id: str | None = None
    started_at: datetime | None = None
    work_date: date | None = None
    how_long: HowLong = field(default_factory=HowLong)
    description: object = UNSET  # str | None
    billable: bool | None = None
    input_type: str | None = None
    source: str | None = None
    external_ref: ExternalRefInput | None = None
    team_id: str | None = None


def _f(*names: str) -> tuple[str, ...]:
    return ("input", *names)


async def check_client_id(
    session: AsyncSession, *, entry_id: str, user_id: str, digest: str
) -> TimeEntry | None:
    """A client-supplied id is permanent: the stored entry if this is the same create by the
    same user, None if the id is free, IDEMPOTENCY_CONFLICT otherwise (revealing nothing)."""
    if not is_ulid(entry_id):
        raise DomainError(ErrorCode.VALIDATION, "id must be a ULID (26 characters).", _f("id"))
    existing = await session.get(TimeEntry, entry_id)
    if existing is None:
        return None
    if existing.user_id == user_id and existing.request_hash == digest:
        return existing
    raise DomainError(
        ErrorCode.IDEMPOTENCY_CONFLICT,
        "This id was already used for a different request.",
        _f("id"),
    )


async def resolve_scope(
    session: AsyncSession, *, team: Team, scope: Scope
) -> tuple[str, str | None, str | None, str | None, list[Category]]:
    """(scope_type, task_id, category_id, defaults category, its chain) for one of task or
    category."""
    if scope.task_id is not None and scope.category_id is not None:
        raise DomainError(
            ErrorCode.VALIDATION, "Give taskId or categoryId, not both.", _f("taskId")
        )
    if scope.task_id is not None:
        task = await rules.task_of_team(
            session, team_id=team.id, task_id=scope.task_id, field=_f("taskId")
        )
        chain = await rules.category_chain(session, team_id=team.id, category_id=task.category_id)
        rules.check_not_archived(chain, _f("taskId"))
        return ScopeType.TASK.value, task.id, None, task.category_id, chain
    if scope.category_id is not None:
        category = await rules.category_of_team(
            session, team_id=team.id, category_id=scope.category_id, field=_f("categoryId")
        )
        rules.check_not_archived([category], _f("categoryId"))
        chain = await rules.category_chain(session, team_id=team.id, category_id=category.id)
        return ScopeType.CATEGORY.value, None, category.id, category.id, chain
    raise DomainError(ErrorCode.VALIDATION, "Give taskId or categoryId.", _f("taskId"))


def _check_external_ref(ref: ExternalRefInput) -> None:
    for name, value in (
        ("provider", ref.provider),
        ("externalType", ref.external_type),
        ("externalId", ref.external_id),
    ):
        if not value.strip() or len(value) > EXT_LIMITS[name]:
            raise DomainError(
                ErrorCode.VALIDATION,
                f"{name} must be 1 to {EXT_LIMITS[name]} characters.",
                _f("externalRef", name),
            )


def _check_enum(value: str, allowed: type[InputType] | type[Source], name: str) -> None:
    if value not in allowed.__members__:
        raise DomainError(ErrorCode.VALIDATION, f"Unknown {name} {value!r}.", _f(name))


async def _target_user(
    session: AsyncSession, *, team: Team, actor: Membership, user_id: str | None
) -> str:
    if user_id is None or user_id == actor.user_id:
        return actor.user_id
    if not rules.is_admin(actor):
        raise DomainError(ErrorCode.FORBIDDEN, "Only admins log time for others.", _f("userId"))
    if await session.get(Membership, (team.id, user_id)) is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such member in this team.", _f("userId"))
    return user_id


async def log_entry(
    session: AsyncSession,
    *,
    actor_id: str,
    data: LogEntry,
    now: datetime,
    digest: str,
    events: EventLog,
) -> tuple[TimeEntry, bool]:
    """Create a stopped entry (or upsert by external ref). Returns (entry, replayed)."""
    team, actor = await rules.team_and_membership(
        session, team_id=data.team_id, user_id=actor_id, field=_f("teamId")
    )
    user_id = await _target_user(session, team=team, actor=actor, user_id=data.user_id)
    if data.entry_id is not None:
        stored = await check_client_id(
            session, entry_id=data.entry_id, user_id=user_id, digest=digest
        )
        if stored is not None:
            return stored, True
    _check_enum(data.input_type, InputType, "inputType")
    _check_enum(data.source, Source, "source")
    scope_type, task_id, category_id, _defaults, chain = await resolve_scope(
        session, team=team, scope=data.scope
    )
    timing = log_timing(team, data, now)
    if data.external_ref is not None:
        _check_external_ref(data.external_ref)
        existing = await _by_external_ref(session, team_id=team.id, ref=data.external_ref)
        if existing is not None:
            rules.check_entry_editable(existing, team, actor, _f("externalRef"))
            existing.user_id = user_id
            existing.scope_type, existing.task_id, existing.category_id = (
                scope_type,
                task_id,
                category_id,
            )
            _set_span(existing, team, timing.started_at, timing.seconds)
            existing.description = timing.description
            if data.billable is not None:
                existing.billable = data.billable
            existing.input_type, existing.source = data.input_type, data.source
            rules.touch(existing, now)
            session.add(existing)
            await session.flush()
            events.add(EventKind.UPDATED, existing, now)
            return existing, False
    # The identity map has the actor's membership; another member's was read by _target_user.
    member = await session.get(Membership, (team.id, user_id))
    entry = TimeEntry(
        **logged_entry_values(
            team=team,
            user_id=user_id,
            scope_type=scope_type,
            task_id=task_id,
            category_id=category_id,
            chain=chain,
            member_rate=member.rate_cents if member is not None else None,
            timing=timing,
            data=data,
            now=now,
            digest=digest,
        )
    )
    session.add(entry)
    await session.flush()
    events.add(EventKind.LOGGED, entry, now)
    return entry, False


@dataclass(frozen=True, slots=True)
class Timing:
    """When a logged entry starts, how long it lasts, its description: checked."""

    started_at: datetime
    seconds: int
    description: str | None


def log_timing(team: rules.TeamTerms, data: LogEntry, now: datetime) -> Timing:
    """The checks of a log's start, duration, period and description, in contract order."""
    if data.started_at is not None:
        started_at = data.started_at.replace(microsecond=0)
    elif data.work_date is not None:
        started_at = rules.start_of_work_date(team, data.work_date)
    else:
        raise DomainError(
            ErrorCode.VALIDATION, "Give startedAt, or workDate (09:00 team time).", _f("startedAt")
        )
    rules.check_start(started_at, now=now, ahead=rules.MAX_LOG_AHEAD, field=_f("startedAt"))
    seconds = data.how_long.seconds(started_at)
    rules.check_period_open(team, started_at, _f("startedAt"))
    description = rules.check_description(data.description, _f("description"))
    return Timing(started_at, seconds, description)


def logged_entry_values(
    *,
    team: rules.TeamTerms,
    user_id: str,
    scope_type: str,
    task_id: str | None,
    category_id: str | None,
    chain: Sequence[rules.CategoryTerms],
    member_rate: int | None,
    timing: Timing,
    data: LogEntry,
    now: datetime,
    digest: str,
) -> dict[str, Any]:
    """Every column of a newly logged entry (billing defaults resolved), by column name:
    what ``log_entry`` inserts through the ORM and ``store.entry_writes`` directly.

    ``request_hash`` is kept only when the client chose the id (see check_client_id)."""
    ref = data.external_ref
    started_at = timing.started_at
    return {
        "id": data.entry_id or new_id(),
        "team_id": team.id,
        "user_id": user_id,
        "scope_type": scope_type,
        "task_id": task_id,
        "category_id": category_id,
        "started_at": started_at,
        "stopped_at": started_at + timedelta(seconds=timing.seconds),
        "duration_seconds": timing.seconds,
        "work_date": rules.work_date_of(team, started_at),
        "description": timing.description,
        "billable": resolve_billable(data.billable, chain, team.default_billable),
        "rate_snapshot_cents": resolve_rate_cents(member_rate, chain, team.default_rate_cents),
        "status": EntryStatus.DRAFT.value,
        "input_type": data.input_type,
        "source": data.source,
        "ext_provider": ref.provider if ref else None,
        "ext_type": ref.external_type if ref else None,
        "ext_id": ref.external_id if ref else None,
        "locked_at": None,
        "deleted_at": None,
        "created_at": now,
        "updated_at": now,
        "version": 1,
        "request_hash": digest if data.entry_id else None,
    }


def _set_span(entry: TimeEntry, team: Team, started_at: datetime, seconds: int) -> None:
    entry.started_at = started_at
    entry.stopped_at = started_at + timedelta(seconds=seconds)
    entry.duration_seconds = seconds
    entry.work_date = rules.work_date_of(team, started_at)


async def _by_external_ref(
    session: AsyncSession, *, team_id: str, ref: ExternalRefInput
) -> TimeEntry | None:
    stmt = select(TimeEntry).where(
        TimeEntry.team_id == team_id,
        TimeEntry.ext_provider == ref.provider,
        TimeEntry.ext_type == ref.external_type,
        TimeEntry.ext_id == ref.external_id,
    )
    return (await session.exec(stmt)).first()


async def editable_entry(
    session: AsyncSession, *, actor_id: str, entry_id: str, field: tuple[str, ...]
) -> tuple[TimeEntry, Team, Membership]:
    """An entry the actor may change, with its team and the actor's membership."""
    entry = await session.get(TimeEntry, entry_id) if is_ulid(entry_id) else None
    member = await session.get(Membership, (entry.team_id, actor_id)) if entry else None
    if entry is None or member is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such time entry.", field)
    team = await session.get(Team, entry.team_id)
    assert team is not None
    return entry, team, member


async def update_entry(
    session: AsyncSession,
    *,
    actor_id: str,
    entry_id: str,
    changes: EntryChanges,
    now: datetime,
    events: EventLog,
) -> TimeEntry:
    entry, team, actor = await editable_entry(
        session, actor_id=actor_id, entry_id=entry_id, field=_f("id")
    )
    if entry.deleted_at is not None:
        raise DomainError(ErrorCode.NOT_FOUND, "The entry is deleted.", _f("id"))
    if changes.expected_version is not None and changes.expected_version != entry.version:
        raise DomainError(
            ErrorCode.VERSION_CONFLICT,
            f"The entry is at version {entry.version}, not {changes.expected_version}.",
            _f("expectedVersion"),
        )
    rules.check_entry_editable(entry, team, actor, _f("id"))
    if changes.team_id is not None and changes.team_id != entry.team_id:
        raise DomainError(ErrorCode.VALIDATION, "Entries do not move between teams.", _f("teamId"))
    if changes.external_ref is not None:
        ref = changes.external_ref
        _check_external_ref(ref)
        holder = await _by_external_ref(session, team_id=team.id, ref=ref)
        if holder is not None and holder.id != entry.id:
            raise DomainError(
                ErrorCode.VALIDATION, "Another entry has this externalRef.", _f("externalRef")
            )
        entry.ext_provider, entry.ext_type, entry.ext_id = (
            ref.provider,
            ref.external_type,
            ref.external_id,
        )
    if changes.user_id is not None and changes.user_id != entry.user_id:
        entry.user_id = await _target_user(session, team=team, actor=actor, user_id=changes.user_id)
    if changes.scope is not None and (
        changes.scope.task_id is not None or changes.scope.category_id is not None
    ):
        entry.scope_type, entry.task_id, entry.category_id, *_ = await resolve_scope(
            session, team=team, scope=changes.scope
        )
    running = entry.stopped_at is None
    started_at = entry.started_at
    if changes.started_at is not None:
        started_at = changes.started_at.replace(microsecond=0)
    elif changes.work_date is not None:
        started_at = rules.start_of_work_date(team, changes.work_date)
    if started_at != entry.started_at:
        rules.check_start(started_at, now=now, ahead=rules.MAX_LOG_AHEAD, field=_f("startedAt"))
        rules.check_period_open(team, started_at, _f("startedAt"))
    if running:
        if changes.how_long.given():
            raise DomainError(
                ErrorCode.VALIDATION,
                "A running entry has no duration yet: stop it first.",
                _f("durationSeconds"),
            )
        if started_at > now:
            raise DomainError(
                ErrorCode.VALIDATION, "A running entry cannot start in the future.", _f("startedAt")
            )
        entry.started_at = started_at
        entry.work_date = rules.work_date_of(team, started_at)
    else:
        assert entry.duration_seconds is not None
        seconds = (
            changes.how_long.seconds(started_at)
            if changes.how_long.given()
            else entry.duration_seconds
        )
        _set_span(entry, team, started_at, seconds)
    if changes.description is not UNSET:
        assert changes.description is None or isinstance(changes.description, str)
        entry.description = rules.check_description(changes.description, _f("description"))
    if changes.billable is not None:
        entry.billable = changes.billable
    if changes.input_type is not None:
        _check_enum(changes.input_type, InputType, "inputType")
        entry.input_type = changes.input_type
    if changes.source is not None:
        _check_enum(changes.source, Source, "source")
        entry.source = changes.source
    rules.touch(entry, now)
    session.add(entry)
    await session.flush()
    events.add(EventKind.UPDATED, entry, now)
    return entry


async def delete_entry(
    session: AsyncSession, *, actor_id: str, entry_id: str, now: datetime, events: EventLog
) -> TimeEntry:
    """Soft delete; a running entry is stopped now as well. Deleting twice changes nothing."""
    entry, team, actor = await editable_entry(
        session, actor_id=actor_id, entry_id=entry_id, field=_f("id")
    )
    if entry.deleted_at is not None:
        return entry
    rules.check_entry_editable(entry, team, actor, _f("id"))
    if entry.stopped_at is None:
        stop = max(now, entry.started_at)
        entry.stopped_at = stop
        entry.duration_seconds = int((stop - entry.started_at).total_seconds())
    entry.deleted_at = now
    rules.touch(entry, now)
    session.add(entry)
    await session.flush()
    events.add(EventKind.DELETED, entry, now)
    return entry


async def add_comment(
    session: AsyncSession,
    *,
    actor_id: str,
    entry_id: str,
    content: str,
    now: datetime,
    events: EventLog,
) -> tuple[Comment, TimeEntry]:
    entry = await session.get(TimeEntry, entry_id) if is_ulid(entry_id) else None
    if entry is None or await session.get(Membership, (entry.team_id, actor_id)) is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such time entry.", _f("timeEntryId"))
    if entry.deleted_at is not None:
        raise DomainError(ErrorCode.NOT_FOUND, "The entry is deleted.", _f("timeEntryId"))
    if not content.strip() or len(content) > MAX_COMMENT:
        raise DomainError(
            ErrorCode.VALIDATION, f"content must be 1 to {MAX_COMMENT} characters.", _f("content")
        )
    comment = Comment(
        id=new_id(),
        time_entry_id=entry.id,
        team_id=entry.team_id,
        user_id=actor_id,
        content=content,
        created_at=now,
    )
    session.add(comment)
    await session.flush()
    events.add(EventKind.COMMENTED, entry, now)
    return comment, entry


# (from, to) → who may make the move: "user" (the entry's own user) or "admin".
TRANSITIONS: dict[tuple[str, str], str] = {
    (EntryStatus.DRAFT.value, EntryStatus.SUBMITTED.value): "user",
    (EntryStatus.REJECTED.value, EntryStatus.SUBMITTED.value): "user",
    (EntryStatus.SUBMITTED.value, EntryStatus.APPROVED.value): "admin",
    (EntryStatus.SUBMITTED.value, EntryStatus.REJECTED.value): "admin",
    (EntryStatus.APPROVED.value, EntryStatus.LOCKED.value): "admin",
    (EntryStatus.LOCKED.value, EntryStatus.INVOICED.value): "admin",
    (EntryStatus.LOCKED.value, EntryStatus.APPROVED.value): "admin",
}
MAX_BATCH = 500


async def transition_entries(
    session: AsyncSession,
    *,
    actor_id: str,
    entry_ids: Sequence[str],
    to: str,
    now: datetime,
    events: EventLog,
) -> list[TimeEntry]:
    """Move every entry to ``to``, or none of them: all failures are reported together."""
    if to not in EntryStatus.__members__:
        raise DomainError(ErrorCode.VALIDATION, f"Unknown status {to!r}.", _f("to"))
    if not entry_ids or len(entry_ids) > MAX_BATCH:
        raise DomainError(ErrorCode.VALIDATION, f"Give 1 to {MAX_BATCH} ids.", _f("ids"))
    unique_ids = list(dict.fromkeys(entry_ids))
    found = {
        e.id: e
        for e in (
            await session.exec(
                select(TimeEntry).where(
                    col(TimeEntry.id).in_([i for i in unique_ids if is_ulid(i)])
                )
            )
        ).all()
    }
    team_ids = {e.team_id for e in found.values()}
    members = {
        m.team_id: m
        for m in (
            await session.exec(
                select(Membership).where(
                    Membership.user_id == actor_id, col(Membership.team_id).in_(team_ids)
                )
            )
        ).all()
    }
    teams = {
        t.id: t for t in (await session.exec(select(Team).where(col(Team.id).in_(team_ids)))).all()
    }
    errors: list[DomainError] = []
    moved: list[TimeEntry] = []
    for index, entry_id in enumerate(unique_ids):
        field = _f("ids", str(index))
        entry = found.get(entry_id)
        member = members.get(entry.team_id) if entry else None
        if entry is None or member is None or entry.deleted_at is not None:
            errors.append(
                DomainError(ErrorCode.NOT_FOUND, f"No such time entry {entry_id}.", field)
            )
            continue
        who = TRANSITIONS.get((entry.status, to))
        if who is None:
            errors.append(
                DomainError(
                    ErrorCode.INVALID_TRANSITION,
                    f"Entry {entry_id} cannot move from {entry.status} to {to}.",
                    field,
                )
            )
            continue
        if (who == "user" and entry.user_id != actor_id) or (
            who == "admin" and not rules.is_admin(member)
        ):
            errors.append(
                DomainError(
                    ErrorCode.FORBIDDEN,
                    f"Moving {entry_id} to {to} is for "
                    + ("the entry's own user." if who == "user" else "admins."),
                    field,
                )
            )
            continue
        if entry.stopped_at is None and to == EntryStatus.SUBMITTED.value:
            errors.append(
                DomainError(ErrorCode.VALIDATION, f"Entry {entry_id} is still running.", field)
            )
            continue
        try:
            rules.check_period_open(teams[entry.team_id], entry.started_at, field)
        except DomainError as exc:
            errors.append(exc)
            continue
        moved.append(entry)
    if errors:
        raise DomainErrors(errors)
    for entry in moved:
        entry.status = to
        entry.locked_at = (
            now
            if to == EntryStatus.LOCKED.value
            else (entry.locked_at if to == EntryStatus.INVOICED.value else None)
        )
        rules.touch(entry, now)
        session.add(entry)
        events.add(EventKind.UPDATED, entry, now)
    await session.flush()
    return moved


async def lock_team_entries(
    session: AsyncSession, *, actor_id: str, team_id: str, before: datetime, now: datetime
) -> Team:
    team, member = await rules.team_and_membership(
        session, team_id=team_id, user_id=actor_id, field=_f("teamId")
    )
    if not rules.is_admin(member):
        raise DomainError(ErrorCode.FORBIDDEN, "Only admins lock periods.", _f("teamId"))
    if before > now + timedelta(days=366):
        raise DomainError(ErrorCode.VALIDATION, "before lies too far in the future.", _f("before"))
    team.locked_before = before.replace(microsecond=0)
    team.updated_at = now
    session.add(team)
    await session.flush()
    return team

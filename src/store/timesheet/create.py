"""Creating entries: a client's own id, the scope, the span and every column of a new entry,
and ``logTimeEntry`` (with its upsert by external reference).

The pure pieces (:func:`log_timing`, :func:`new_entry_values`) are also what the direct
write path (``store.entry_writes``) and the timers (``store.timers``) call.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from store import locks, overlap, rules, tags
from store.errors import DomainError, DomainWarning, ErrorCode, Retry
from store.events import EventKind, EventLog
from store.ids import new_id, parse_ulid
from store.models import EntryStatus, InputType, Source, Team, TimeEntry
from store.rules import Billing, ResolvedScope
from store.rules import field as f
from store.timesheet.access import member_rate, target_user
from store.timesheet.inputs import (
    ExternalRefInput,
    LogEntry,
    Scope,
    check_enum,
    check_external_ref,
)


async def check_client_id(
    session: AsyncSession, *, entry_id: str, user_id: str, digest: str
) -> tuple[str, TimeEntry | None]:
    """A client-supplied id is permanent: (the id as stored, upper-case; the stored entry
    if this is the same create by the same user, None if the id is free), else
    IDEMPOTENCY_CONFLICT (revealing nothing)."""
    key = parse_ulid(entry_id)
    if key is None:
        raise DomainError(ErrorCode.VALIDATION, "id must be a ULID (26 characters).", f("id"))
    existing = await session.get(TimeEntry, key)
    if existing is None:
        return key, None
    if existing.user_id == user_id and existing.request_hash == digest:
        return key, existing
    raise DomainError(
        ErrorCode.IDEMPOTENCY_CONFLICT, "This id was already used for a different request.", f("id")
    )


async def resolve_scope(session: AsyncSession, *, team: Team, scope: Scope) -> ResolvedScope:
    """The scope of new time on one of a task or a category of the team, found and
    checked (``rules.decide_scope``), the rows it reads locked ``FOR SHARE``."""
    if scope.task_id is not None and scope.category_id is not None:
        raise DomainError(ErrorCode.VALIDATION, "Give taskId or categoryId, not both.", f("taskId"))
    if scope.task_id is not None:
        task = await rules.task_of_team(
            session, team_id=team.id, task_id=scope.task_id, field=f("taskId"), lock=True
        )
        chain = await rules.category_chain(
            session, team_id=team.id, category_id=task.category_id, lock=True
        )
        return rules.decide_scope(task=task, chain=chain, field=f("taskId"))
    if scope.category_id is not None:
        category = await rules.category_of_team(
            session, team_id=team.id, category_id=scope.category_id, field=f("categoryId")
        )
        chain = await rules.category_chain(
            session, team_id=team.id, category_id=category.id, lock=True
        )
        return rules.decide_scope(task=None, chain=chain, field=f("categoryId"))
    raise DomainError(ErrorCode.VALIDATION, "Give taskId or categoryId.", f())


@dataclass(frozen=True, slots=True)
class Timing:
    """When a logged entry starts, how long it lasts, its description: checked."""

    started_at: datetime
    seconds: int
    description: str | None


def log_timing(team: rules.TeamTerms, data: LogEntry, now: datetime) -> Timing:
    """The checks of a log's start, duration, period and description, in contract order."""
    start = rules.entry_start(team, started_at=data.started_at, work_date=data.work_date)
    if start is None:
        raise DomainError(
            ErrorCode.VALIDATION, "Give startedAt, or workDate (09:00 team time).", f()
        )
    started_at, start_field = start
    rules.check_start(started_at, now=now, ahead=rules.MAX_LOG_AHEAD, field=start_field)
    seconds = data.how_long.seconds(started_at)
    rules.check_period_open(team, started_at, start_field)
    description = rules.check_description(data.description, f("description"))
    return Timing(started_at, seconds, description)


def new_entry_values(
    *,
    team: rules.TeamTerms,
    user_id: str,
    scope: ResolvedScope,
    billing: Billing,
    started_at: datetime,
    seconds: int | None,
    description: str | None,
    input_type: str,
    source: str,
    now: datetime,
    digest: str,
    entry_id: str | None = None,
    external_ref: ExternalRefInput | None = None,
) -> dict[str, Any]:
    """Every column of a new entry, by column name: stopped after ``seconds``, or running
    (``seconds`` None). What the ORM commands insert and ``store.entry_writes`` too.

    ``request_hash`` is kept only when the client chose the id (see check_client_id)."""
    ref = external_ref
    return {
        "id": entry_id or new_id(),
        "team_id": team.id,
        "user_id": user_id,
        "scope_type": scope.scope_type,
        "task_id": scope.task_id,
        "category_id": scope.category_id,
        "started_at": started_at,
        "stopped_at": None if seconds is None else started_at + timedelta(seconds=seconds),
        "duration_seconds": seconds,
        "work_date": rules.work_date_of(team, started_at),
        "description": description,
        "billable": billing.billable,
        "rate_snapshot_cents": billing.rate_snapshot_cents,
        "status": EntryStatus.DRAFT.value,
        "input_type": input_type,
        "source": source,
        "ext_provider": ref.provider if ref else None,
        "ext_type": ref.external_type if ref else None,
        "ext_id": ref.external_id if ref else None,
        "locked_at": None,
        "deleted_at": None,
        "created_at": now,
        "updated_at": now,
        "version": 1,
        "auto_stopped": False,
        "frozen_rounded_seconds": None,
        "frozen_amount_cents": None,
        "request_hash": digest if entry_id else None,
    }


def set_span(entry: TimeEntry, team: rules.TeamTerms, started_at: datetime, seconds: int) -> None:
    entry.started_at = started_at
    entry.stopped_at = started_at + timedelta(seconds=seconds)
    entry.duration_seconds = seconds
    entry.work_date = rules.work_date_of(team, started_at)


async def external_ref_holder(
    session: AsyncSession, *, team_id: str, ref: ExternalRefInput
) -> tuple[str, str] | None:
    """(id, user id) of the team's entry with this external reference, if any (unlocked)."""
    stmt = select(TimeEntry.id, TimeEntry.user_id).where(
        TimeEntry.team_id == team_id,
        TimeEntry.ext_provider == ref.provider,
        TimeEntry.ext_type == ref.external_type,
        TimeEntry.ext_id == ref.external_id,
    )
    found = (await session.exec(stmt)).first()
    return (found[0], found[1]) if found else None


async def log_entry(
    session: AsyncSession,
    *,
    actor_id: str,
    data: LogEntry,
    now: datetime,
    digest: str,
    events: EventLog,
    warnings: list[DomainWarning],
) -> tuple[TimeEntry, bool]:
    """Create a stopped entry (or update the one with the same external reference).
    Returns (entry, replayed); the team's overlap policy (``store.overlap``) may refuse
    it or add to ``warnings``."""
    team, actor = await rules.team_and_membership(
        session, team_id=data.team_id, user_id=actor_id, field=f("teamId"), lock=True
    )
    user_id = await target_user(
        session, team=team, actor=actor, user_id=data.user_id, field=f("userId")
    )
    # The field of the start that was sent (log_timing refuses a log without either).
    start_field = f("startedAt") if data.started_at is not None else f("workDate")
    entry_id: str | None = None
    if data.entry_id is not None:
        entry_id, stored = await check_client_id(
            session, entry_id=data.entry_id, user_id=user_id, digest=digest
        )
        if stored is not None:
            await overlap.replay_warnings(
                session, team=team, entry=stored, field=start_field, warnings=warnings
            )
            return stored, True
    check_enum(data.input_type, InputType, "inputType")
    check_enum(data.source, Source, "source")
    existing: TimeEntry | None = None
    if data.external_ref is not None:
        check_external_ref(data.external_ref)
        # Whoever holds it now is locked with the new user before the entry (locks step 3).
        holder = await external_ref_holder(session, team_id=team.id, ref=data.external_ref)
        await locks.users(session, {user_id, *([holder[1]] if holder else [])})
        if holder is not None:
            existing = (await locks.entries(session, [holder[0]])).get(holder[0])
            if existing is None or existing.user_id not in (user_id, holder[1]):
                raise Retry  # moved or gone between the look and the lock
    else:
        await locks.users(session, [user_id])
    await rules.keep_membership(session, team_id=team.id, user_id=actor_id, field=f("teamId"))
    scope = await resolve_scope(session, team=team, scope=data.scope)
    timing = log_timing(team, data, now)
    billing = rules.billing(
        team=team,
        member_rate=await member_rate(session, team_id=team.id, user_id=user_id),
        chain=scope.chain,
        explicit_billable=data.billable,
    )
    if existing is not None:
        span = (existing.user_id, existing.started_at, existing.stopped_at, existing.deleted_at)
        entry = await _upsert(
            session, existing, team, actor, user_id, scope, timing, billing, data, now, events
        )
        if (entry.user_id, entry.started_at, entry.stopped_at, entry.deleted_at) != span:
            # Moved, re-owned or restored by the repeat: as a new entry would be.
            await overlap.check(
                session,
                team=team,
                user_id=entry.user_id,
                started_at=entry.started_at,
                stopped_at=entry.stopped_at,
                entry_id=entry.id,
                field=start_field,
                warnings=warnings,
            )
        return entry, False
    await overlap.check(
        session,
        team=team,
        user_id=user_id,
        started_at=timing.started_at,
        stopped_at=timing.started_at + timedelta(seconds=timing.seconds),
        entry_id=None,
        field=start_field,
        warnings=warnings,
    )
    entry = TimeEntry(
        **new_entry_values(
            team=team,
            user_id=user_id,
            scope=scope,
            billing=billing,
            started_at=timing.started_at,
            seconds=timing.seconds,
            description=timing.description,
            input_type=data.input_type,
            source=data.source,
            now=now,
            digest=digest,
            entry_id=entry_id,
            external_ref=data.external_ref,
        )
    )
    session.add(entry)
    await session.flush()
    await tags.set_entry_tags(session, entry=entry, tag_ids=data.tag_ids, new=True)
    events.add(EventKind.LOGGED, entry, now)
    return entry, False


async def _upsert(
    session: AsyncSession,
    entry: TimeEntry,
    team: Team,
    actor: Any,
    user_id: str,
    scope: ResolvedScope,
    timing: Timing,
    billing: Billing,
    data: LogEntry,
    now: datetime,
    events: EventLog,
) -> TimeEntry:
    """A repeat of an external reference makes the stored entry what the log says, as a
    new entry would be (billing included); a soft-deleted one is restored. Nothing that
    changes no stored value counts as a change."""
    rules.check_entry_editable(entry, team, actor, f("externalRef"))
    before = rules.entry_state(entry)
    entry.user_id = user_id
    entry.scope_type, entry.task_id, entry.category_id = (
        scope.scope_type,
        scope.task_id,
        scope.category_id,
    )
    set_span(entry, team, timing.started_at, timing.seconds)
    entry.description = timing.description
    entry.billable, entry.rate_snapshot_cents = billing.billable, billing.rate_snapshot_cents
    entry.input_type, entry.source = data.input_type, data.source
    entry.deleted_at = None
    tagged = await tags.set_entry_tags(session, entry=entry, tag_ids=data.tag_ids)
    if rules.touch(entry, now, before) or (tagged.changed and rules.touch(entry, now)):
        session.add(entry)
        await session.flush()
        events.add(EventKind.UPDATED, entry, now)
    return entry

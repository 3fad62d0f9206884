"""Continue and duplicate: a new entry made from an existing one.

Neither has rules of its own. ``continue_entry`` asks :func:`store.timers.start_timer`
and ``duplicate_entry`` asks :func:`store.timesheet.log_entry` with the source entry's
team, scope, description, billable flag and tags, so archived or closed tasks, archived
categories and teams, locked periods, the 24-hour rules, membership, locks, billing (the
rate is derived again from today's rules, as for any new entry) and events are those of
``startTimer`` and ``logTimeEntry``. What is theirs here: finding the source entry, and
naming the input's ``id`` in a refusal about a value that came from it (the client sent
no ``taskId``; the entry it named carries it).

Tags: a copy carries the source entry's live tags; archived ones are left off (an
archived tag takes no new entries, and refusing the copy for it would make an entry with
an archived tag impossible to continue). The tags are read unlocked and locked ``FOR
SHARE`` when put on the copy: one archived in between refuses the copy (TAG_ARCHIVED on
``input.id``), as any log of it would be.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from store import tags, timers
from store.errors import DomainError, DomainErrors, DomainWarning, ErrorCode
from store.events import EventLog
from store.ids import parse_ulid
from store.models import InputType, Membership, Source, TimeEntry
from store.rules import field as f
from store.timesheet import HowLong, LogEntry, Scope, log_entry

# The fields of a refusal that name what the client sent; any other came from the entry.
_SENT = frozenset({"startedAt", "workDate", "idempotencyKey"})


async def source_entry(session: AsyncSession, *, actor_id: str, entry_id: str) -> TimeEntry:
    """The entry to copy: any live entry of a team the actor belongs to (members read
    every entry of their team, so any of them may serve as a template); else NOT_FOUND on
    ``id``, revealing nothing."""
    key = parse_ulid(entry_id)
    entry = await session.get(TimeEntry, key) if key else None
    member = await session.get(Membership, (entry.team_id, actor_id)) if entry else None
    if entry is None or member is None or entry.deleted_at is not None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such time entry.", f("id"))
    return entry


def _scope(entry: TimeEntry) -> Scope:
    """The entry's scope: its task, or (without one) its category."""
    if entry.task_id is not None:
        return Scope(entry.task_id, None)
    return Scope(None, entry.category_id)


def _renamed(exc: DomainError) -> DomainError:
    if exc.field[1:2] and exc.field[1] in _SENT:
        return exc
    return DomainError(exc.code, exc.message, f("id"))


async def continue_entry(
    session: AsyncSession,
    *,
    actor_id: str,
    entry_id: str,
    started_at: datetime | None,
    digest: str,
    events: EventLog,
    warnings: list[DomainWarning],
) -> timers.Started:
    """A timer for the actor with the entry's team, scope, description and billable flag
    (``startTimer``: the actor's running timer stops at the same instant)."""
    entry = await source_entry(session, actor_id=actor_id, entry_id=entry_id)
    scope = _scope(entry)
    data = timers.StartTimer(
        team_id=entry.team_id,
        task_id=scope.task_id,
        category_id=scope.category_id,
        description=entry.description,
        billable=entry.billable,
        started_at=started_at,
        tag_ids=tuple(await tags.live_tag_ids(session, entry.id)),
    )
    try:
        return await timers.start_timer(
            session,
            actor_id=actor_id,
            data=data,
            digest=digest,
            events=events,
            warnings=warnings,
        )
    except DomainError as exc:
        raise _renamed(exc) from exc
    except DomainErrors as exc:
        raise DomainErrors([_renamed(e) for e in exc.errors]) from exc


async def duplicate_entry(
    session: AsyncSession,
    *,
    actor_id: str,
    entry_id: str,
    started_at: datetime | None,
    work_date: date | None,
    now: datetime,
    digest: str,
    events: EventLog,
    warnings: list[DomainWarning],
) -> TimeEntry:
    """A logged copy of a stopped entry for the actor (``logTimeEntry``): its team, scope,
    description, billable flag and duration, at ``startedAt`` or on ``workDate``."""
    if (started_at is None) == (work_date is None):
        raise DomainError(
            ErrorCode.VALIDATION,
            "Give exactly one of startedAt or workDate.",
            f("workDate") if started_at is not None else f(),
        )
    entry = await source_entry(session, actor_id=actor_id, entry_id=entry_id)
    if entry.duration_seconds is None:
        raise DomainError(
            ErrorCode.VALIDATION,
            "A running entry cannot be duplicated: stop it, or continue it.",
            f("id"),
        )
    data = LogEntry(
        team_id=entry.team_id,
        scope=_scope(entry),
        how_long=HowLong(duration_seconds=entry.duration_seconds),
        started_at=started_at,
        work_date=work_date,
        description=entry.description,
        billable=entry.billable,
        input_type=InputType.MANUAL.value,
        source=Source.API.value,
        tag_ids=tuple(await tags.live_tag_ids(session, entry.id)),
    )
    try:
        copy, _replayed = await log_entry(
            session,
            actor_id=actor_id,
            data=data,
            now=now,
            digest=digest,
            events=events,
            warnings=warnings,
        )
    except DomainError as exc:
        raise _renamed(exc) from exc
    except DomainErrors as exc:
        raise DomainErrors([_renamed(e) for e in exc.errors]) from exc
    return copy

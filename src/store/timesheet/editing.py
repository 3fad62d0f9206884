"""Changing and deleting entries.

Both lock in ``store.locks``' order (team ``FOR KEY SHARE``, the users, the entry ``FOR
UPDATE``) before they read what they decide on, so a stale ``expectedVersion`` has exactly
one winner, no acknowledged change is lost, and none commits inside a period lock that
was acknowledged before it.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from store import overlap, rules, tags
from store.entry_rules import effective_category_id
from store.errors import DomainError, DomainWarning, ErrorCode
from store.events import EventKind, EventLog
from store.models import InputType, Membership, Source, Task, Team, TimeEntry
from store.rules import field as f
from store.timesheet.access import entry_for_change, member_rate, target_user
from store.timesheet.create import external_ref_holder, resolve_scope, set_span
from store.timesheet.inputs import UNSET, EntryChanges, check_enum, check_external_ref


async def update_entry(
    session: AsyncSession,
    *,
    actor_id: str,
    entry_id: str,
    changes: EntryChanges,
    now: datetime,
    events: EventLog,
    warnings: list[DomainWarning],
) -> TimeEntry:
    """Apply ``changes``; ``version`` grows by one when a stored value changed. A change
    of the entry's interval or user meets the team's overlap policy (``store.overlap``:
    refused, or added to ``warnings``)."""
    new_user = changes.user_id
    entry, team, actor = await entry_for_change(
        session,
        actor_id=actor_id,
        entry_id=entry_id,
        field=f("id"),
        users=[new_user] if new_user else [],
    )
    if entry.deleted_at is not None:
        raise DomainError(ErrorCode.NOT_FOUND, "The entry is deleted.", f("id"))
    if changes.expected_version is not None and changes.expected_version != entry.version:
        raise DomainError(
            ErrorCode.VERSION_CONFLICT,
            f"The entry is at version {entry.version}, not {changes.expected_version}.",
            f("expectedVersion"),
        )
    rules.check_entry_editable(entry, team, actor, f("id"))
    span = (entry.user_id, entry.started_at, entry.stopped_at)
    if changes.team_id is not None and changes.team_id != entry.team_id:
        raise DomainError(ErrorCode.VALIDATION, "Entries do not move between teams.", f("teamId"))
    before = rules.entry_state(entry)
    if changes.external_ref is not None:
        ref = changes.external_ref
        check_external_ref(ref)
        holder = await external_ref_holder(session, team_id=team.id, ref=ref)
        if holder is not None and holder[0] != entry.id:
            raise DomainError(
                ErrorCode.VALIDATION, "Another entry has this externalRef.", f("externalRef")
            )
        entry.ext_provider, entry.ext_type, entry.ext_id = (
            ref.provider,
            ref.external_type,
            ref.external_id,
        )
    moved = False
    if new_user is not None and new_user != entry.user_id:
        entry.user_id = await target_user(
            session, team=team, actor=actor, user_id=new_user, field=f("userId")
        )
        moved = True
    chain = None
    if changes.scope is not None and changes.scope.given():
        scope = await resolve_scope(session, team=team, scope=changes.scope)
        if (scope.task_id, scope.category_id) != (entry.task_id, entry.category_id):
            moved = True
        entry.scope_type, entry.task_id, entry.category_id = (
            scope.scope_type,
            scope.task_id,
            scope.category_id,
        )
        chain = scope.chain
    _apply_timing(entry, team, changes, now)
    if changes.description is not UNSET:
        assert changes.description is None or isinstance(changes.description, str)
        entry.description = rules.check_description(changes.description, f("description"))
    if moved:
        # As a new entry on the new task, category or user would get them, unless given.
        if chain is None:  # moved to another user only: the entry's own category chain
            chain = await rules.category_chain(
                session, team_id=team.id, category_id=await _category_of(session, entry), lock=True
            )
        billing = rules.billing(
            team=team,
            member_rate=await member_rate(session, team_id=team.id, user_id=entry.user_id),
            chain=chain,
            explicit_billable=changes.billable,
        )
        entry.billable, entry.rate_snapshot_cents = billing.billable, billing.rate_snapshot_cents
    elif changes.billable is not None:
        entry.billable = changes.billable
    if changes.input_type is not None:
        check_enum(changes.input_type, InputType, "inputType")
        entry.input_type = changes.input_type
    if changes.source is not None:
        check_enum(changes.source, Source, "source")
        entry.source = changes.source
    tagged = await tags.set_entry_tags(session, entry=entry, tag_ids=changes.tag_ids)
    if (entry.user_id, entry.started_at, entry.stopped_at) != span:
        await overlap.check(
            session,
            team=team,
            user_id=entry.user_id,
            started_at=entry.started_at,
            stopped_at=entry.stopped_at,
            entry_id=entry.id,
            field=_moving_field(changes),
            warnings=warnings,
        )
    if rules.touch(entry, now, before) or (tagged.changed and rules.touch(entry, now)):
        session.add(entry)
        await session.flush()
        events.add(EventKind.UPDATED, entry, now)
    return entry


def _moving_field(changes: EntryChanges) -> rules.Field:
    """The input field of a change that moved the entry (or gave it to another user): the
    first that was sent of its start, its duration and its user."""
    how_long = changes.how_long
    for name, value in (
        ("startedAt", changes.started_at),
        ("workDate", changes.work_date),
        ("durationSeconds", how_long.duration_seconds),
        ("minutes", how_long.minutes),
        ("hours", how_long.hours),
        ("duration", how_long.duration),
        ("stoppedAt", how_long.stopped_at),
        ("userId", changes.user_id),
    ):
        if value is not None:
            return f(name)
    return f("id")


async def _category_of(session: AsyncSession, entry: TimeEntry) -> str | None:
    if entry.task_id is None:
        return entry.category_id
    task = await session.get(Task, entry.task_id)
    return effective_category_id(
        entry.task_id, entry.category_id, task.category_id if task else None
    )


def _apply_timing(entry: TimeEntry, team: Team, changes: EntryChanges, now: datetime) -> None:
    """The new start (``startedAt``, or ``workDate`` at 09:00 team time) and duration."""
    start = rules.entry_start(team, started_at=changes.started_at, work_date=changes.work_date)
    started_at, start_field = entry.started_at, f("startedAt")
    if start is not None:
        started_at, start_field = start
        if changes.started_at is None and changes.work_date == entry.work_date:
            started_at = entry.started_at  # the same day again: the start stays
    if started_at != entry.started_at:
        rules.check_start(started_at, now=now, ahead=rules.MAX_LOG_AHEAD, field=start_field)
        rules.check_period_open(team, started_at, start_field)
    if entry.stopped_at is None:
        if changes.how_long.given():
            raise DomainError(
                ErrorCode.VALIDATION,
                "A running entry has no duration yet: stop it first.",
                f("durationSeconds"),
            )
        if started_at != entry.started_at:
            rules.check_timer_start(
                started_at, now=now, max_timer_hours=team.max_timer_hours, field=start_field
            )
        entry.started_at = started_at
        entry.work_date = rules.work_date_of(team, started_at)
        return
    assert entry.duration_seconds is not None
    seconds = (
        changes.how_long.seconds(started_at) if changes.how_long.given() else entry.duration_seconds
    )
    set_span(entry, team, started_at, seconds)


async def delete_entry(
    session: AsyncSession, *, actor_id: str, entry_id: str, now: datetime, events: EventLog
) -> TimeEntry:
    """Soft delete; a running entry is stopped now as well. Deleting twice changes nothing."""
    entry, team, actor = await entry_for_change(
        session, actor_id=actor_id, entry_id=entry_id, field=f("id")
    )
    if entry.deleted_at is not None:
        return entry
    rules.check_entry_editable(entry, team, actor, f("id"))
    if entry.stopped_at is None:
        stop = rules.stop_instant(entry.started_at, now, team.max_timer_hours)
        entry.stopped_at = stop
        entry.duration_seconds = int((stop - entry.started_at).total_seconds())
    entry.deleted_at = now
    rules.touch(entry, now)
    session.add(entry)
    await session.flush()
    events.add(EventKind.DELETED, entry, now)
    return entry


async def restore_entry(
    session: AsyncSession,
    *,
    actor_id: str,
    entry_id: str,
    now: datetime,
    events: EventLog,
    warnings: list[DomainWarning],
) -> TimeEntry:
    """Bring a soft-deleted entry back (``version`` + 1, an UPDATED event), under the
    rights of deleting it (``rules.check_entry_editable``: a member only their own DRAFT
    and REJECTED entries, nothing inside a locked period or an archived team) and the
    rules of creating it: its user is still a member, its task is open and active, no
    category above it is archived. An entry that is not deleted: NOT_DELETED. The team's
    overlap policy applies as to a new entry (``store.overlap``: refused, or added to
    ``warnings``)."""
    entry, team, actor = await entry_for_change(
        session, actor_id=actor_id, entry_id=entry_id, field=f("id")
    )
    if entry.deleted_at is None:
        raise DomainError(ErrorCode.NOT_DELETED, "The entry is not deleted.", f("id"))
    rules.check_entry_editable(entry, team, actor, f("id"))
    if await session.get(Membership, (team.id, entry.user_id)) is None:
        raise DomainError(
            ErrorCode.VALIDATION, "The entry's user is no longer a member of the team.", f("id")
        )
    task = (
        await rules.task_of_team(
            session, team_id=team.id, task_id=entry.task_id, field=f("id"), lock=True
        )
        if entry.task_id is not None
        else None
    )
    chain = await rules.category_chain(
        session,
        team_id=team.id,
        category_id=effective_category_id(
            entry.task_id, entry.category_id, task.category_id if task else None
        ),
        lock=True,
    )
    rules.decide_scope(task=task, chain=chain, field=f("id"))
    # Back among the live entries: as if it were logged again (the team's overlap policy).
    await overlap.check(
        session,
        team=team,
        user_id=entry.user_id,
        started_at=entry.started_at,
        stopped_at=entry.stopped_at,
        entry_id=entry.id,
        field=f("id"),
        warnings=warnings,
    )
    entry.deleted_at = None
    rules.touch(entry, now)
    session.add(entry)
    await session.flush()
    events.add(EventKind.UPDATED, entry, now)
    return entry

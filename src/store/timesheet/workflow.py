"""The approval workflow (status transitions) and period locks.

A transition locks its entries ``FOR UPDATE`` in id order (``store.locks`` step 4) before it
reads their status, so of two concurrent moves of one entry exactly one wins; it takes no
team lock, since a period lock freezes data, not the workflow. ``lockTeamEntries`` locks
the team ``FOR UPDATE``: it waits for the entry writers in flight, and holds back the next
ones until it has committed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from store import locks, rules
from store.entry_rules import entry_amount_cents, entry_rounded_seconds
from store.errors import DomainError, DomainErrors, ErrorCode
from store.events import EventKind, EventLog
from store.ids import parse_ulid
from store.models import EntryStatus, Membership, Team, TimeEntry
from store.rules import field as f
from store.timesheet.comments import new_comment

# (from, to) → who may make the move: "user" (the entry's own user) or "admin".
TRANSITIONS: dict[tuple[str, str], str] = {
    (EntryStatus.DRAFT.value, EntryStatus.SUBMITTED.value): "user",
    (EntryStatus.SUBMITTED.value, EntryStatus.DRAFT.value): "user",  # withdraw
    (EntryStatus.REJECTED.value, EntryStatus.SUBMITTED.value): "user",
    (EntryStatus.SUBMITTED.value, EntryStatus.APPROVED.value): "admin",
    (EntryStatus.SUBMITTED.value, EntryStatus.REJECTED.value): "admin",
    (EntryStatus.APPROVED.value, EntryStatus.LOCKED.value): "admin",
    (EntryStatus.LOCKED.value, EntryStatus.INVOICED.value): "admin",
    (EntryStatus.LOCKED.value, EntryStatus.APPROVED.value): "admin",
}
MAX_BATCH = 500


def _move(entry: TimeEntry, team: Team, to: str, now: datetime) -> None:
    """The new status; locking freezes the entry's money (rounded seconds and amount),
    unlocking thaws it, invoicing keeps it."""
    if to == EntryStatus.LOCKED.value:
        assert entry.duration_seconds is not None
        rounded = entry_rounded_seconds(
            None, entry.duration_seconds, team.rounding, team.rounding_minutes
        )
        entry.frozen_rounded_seconds = rounded
        entry.frozen_amount_cents = entry_amount_cents(
            None, entry.rate_snapshot_cents, rounded, billable=entry.billable
        )
        entry.locked_at = now
    elif to != EntryStatus.INVOICED.value:
        entry.frozen_rounded_seconds = entry.frozen_amount_cents = None
        entry.locked_at = None
    entry.status = to


async def transition_entries(
    session: AsyncSession,
    *,
    actor_id: str,
    entry_ids: Sequence[str],
    to: str,
    reason: str | None,
    now: datetime,
    events: EventLog,
) -> list[TimeEntry]:
    """Move every entry to ``to``, or none of them: all failures are reported together.
    ``reason`` becomes a comment on each moved entry."""
    if to not in EntryStatus.__members__:
        raise DomainError(ErrorCode.VALIDATION, f"Unknown status {to!r}.", f("to"))
    if not entry_ids or len(entry_ids) > MAX_BATCH:
        raise DomainError(ErrorCode.VALIDATION, f"Give 1 to {MAX_BATCH} ids.", f("ids"))
    if reason is not None:
        reason = rules.clean_text(reason, f("reason"), limit=rules.MAX_COMMENT, required=True)
    keys = [parse_ulid(i) for i in entry_ids]
    found = await locks.entries(session, {k for k in keys if k is not None})
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
    seen: set[str] = set()
    for index, (entry_id, key) in enumerate(zip(entry_ids, keys, strict=True)):
        if key in seen:
            continue
        field = f("ids", str(index))
        entry = found.get(key) if key else None
        member = members.get(entry.team_id) if entry else None
        if entry is None or member is None or entry.deleted_at is not None:
            errors.append(
                DomainError(ErrorCode.NOT_FOUND, f"No such time entry {entry_id}.", field)
            )
            continue
        seen.add(entry.id)
        try:
            rules.check_team_active(teams[entry.team_id], field)
        except DomainError as exc:
            errors.append(exc)
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
        if entry.stopped_at is None:
            errors.append(
                DomainError(ErrorCode.VALIDATION, f"Entry {entry_id} is still running.", field)
            )
            continue
        moved.append(entry)
    if errors:
        raise DomainErrors(errors)
    for entry in moved:
        _move(entry, teams[entry.team_id], to, now)
        rules.touch(entry, now)
        session.add(entry)
        if reason is not None:
            session.add(new_comment(entry, actor_id=actor_id, text=reason, now=now))
        events.add(EventKind.UPDATED, entry, now)
    await session.flush()
    return moved


async def lock_team_entries(
    session: AsyncSession, *, actor_id: str, team_id: str, before: datetime, now: datetime
) -> Team:
    member = await session.get(Membership, (team_id, actor_id))
    team = await locks.team_for_period_lock(session, team_id) if member is not None else None
    if team is None or member is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such team.", f("teamId"))
    if not rules.is_admin(member):
        raise DomainError(ErrorCode.FORBIDDEN, "Only admins lock periods.", f("teamId"))
    rules.check_team_active(team, f("teamId"))
    if before > now + timedelta(days=366):
        raise DomainError(ErrorCode.VALIDATION, "before lies too far in the future.", f("before"))
    locked_before = before.replace(microsecond=0)
    if team.locked_before != locked_before:
        team.locked_before = locked_before
        team.updated_at = now
        session.add(team)
        await session.flush()
    return team

"""Archiving and restoring a team: a read-only team its members still read.

An archived team keeps everything (entries, reports, members, its event feed), refuses
every change of its entries and catalogue (``TEAM_ARCHIVED``, ``store.rules
.check_team_active``) and comes back as it was with ``restoreTeam``. Both are for owners:
the change closes the team to every member.

Archiving locks the team ``FOR UPDATE`` (``store.locks`` step 2), as a period lock does:
the entry writers in flight commit first, the next ones find the team archived. The
timers running in it stop at that instant (a STOPPED event each), so no time runs in a
team nobody may write to; its entries are otherwise untouched.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from store import locks, rules, timers
from store.errors import DomainError, ErrorCode
from store.events import EventLog
from store.models import Membership, Role, Team, TimeEntry
from store.rules import field as f


async def _owned_team(session: AsyncSession, *, team_id: str, actor_id: str) -> Team:
    seen = await session.get(Membership, (team_id, actor_id))
    team = await locks.team_for_archive(session, team_id) if seen is not None else None
    actor = await locks.membership(session, team_id, actor_id, lock=False) if team else None
    if team is None or actor is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such team.", f("id"))
    if actor.role != Role.OWNER.value:
        raise DomainError(ErrorCode.FORBIDDEN, "Only owners archive or restore a team.", f("id"))
    return team


async def archive_team(
    session: AsyncSession, *, actor_id: str, team_id: str, now: datetime, events: EventLog
) -> tuple[Team, list[TimeEntry]]:
    """Archive the team (again: nothing changes) and stop its running timers now; the
    team and the entries stopped."""
    team = await _owned_team(session, team_id=team_id, actor_id=actor_id)
    if team.archived_at is not None:
        return team, []
    running = select(TimeEntry.user_id).where(TimeEntry.team_id == team.id, rules.live_condition())
    users = list((await session.exec(running)).all())
    stopped: list[TimeEntry] = []
    if users:
        # Steps 3 and 4: no new timer starts in the team (it is locked), but one of these
        # may stop or switch to another team before its user's lock is granted.
        await locks.users(session, users)
        for user_id in sorted(set(users)):
            entry = await rules.running_entry_of(session, user_id)
            if entry is not None and entry.team_id == team.id:
                timers.stop_entry(entry, now, now, events, team.max_timer_hours)
                session.add(entry)
                stopped.append(entry)
    team.archived_at = now
    team.updated_at = now
    session.add(team)
    await session.flush()
    events.team_changed(team.id, now)
    return team, stopped


async def restore_team(
    session: AsyncSession, *, actor_id: str, team_id: str, now: datetime, events: EventLog
) -> Team:
    """Make an archived team writable again (an active one: nothing changes)."""
    team = await _owned_team(session, team_id=team_id, actor_id=actor_id)
    if team.archived_at is not None:
        team.archived_at = None
        team.updated_at = now
        session.add(team)
        await session.flush()
        events.team_changed(team.id, now)
    return team

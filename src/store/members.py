"""Changing and removing team members, and the owner rules every member change obeys.

Who may: admins and owners manage members; only owners make or unmake owners (an admin
cannot demote or remove an owner); any member may leave a team (remove themselves); no
change leaves a team without an owner (``LAST_OWNER``). Member changes of a team run one
at a time (the team ``FOR NO KEY UPDATE``, ``store.locks`` step 2), and the roles they
decide on are read after that lock: two owners demoting or removing each other at once
leave one owner.

A removed member's entries stay, attributed to them; the member loses the team at once:
their running timer in it stops at the removal instant (a STOPPED event), their
membership row is deleted (writes of theirs in flight commit first, later ones find no
membership: ``store.locks``), and a MEMBER DELETED event ends their subscriptions of the
team (``gql.schema.subscriptions``).
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from store import accounts, catalog, locks, rules, timers
from store.errors import DomainError, ErrorCode
from store.events import CatalogKind, EventLog, Subject
from store.ids import parse_ulid
from store.models import Membership, Role, Team, TimeEntry
from store.rules import field as f

UNSET: object = object()


async def member_team(
    session: AsyncSession, *, team_id: str, actor_id: str
) -> tuple[Team, Membership]:
    """The team of a member change, locked ``FOR NO KEY UPDATE``, and the actor's
    membership read after the lock; NOT_FOUND (``input.teamId``) when the actor is not a
    member, TEAM_ARCHIVED when the team is archived."""
    seen = await session.get(Membership, (team_id, actor_id))
    team = await locks.team_for_catalogue(session, team_id) if seen is not None else None
    actor = await locks.membership(session, team_id, actor_id, lock=False) if team else None
    if team is None or actor is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such team.", f("teamId"))
    rules.check_team_active(team, f("teamId"))
    return team, actor


async def _target(
    session: AsyncSession, *, team_id: str, user_id: str, lock: bool = True
) -> Membership:
    key = parse_ulid(user_id)
    target = await locks.membership(session, team_id, key, lock=lock) if key else None
    if target is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such member in this team.", f("userId"))
    return target


async def remove_member(
    session: AsyncSession,
    *,
    actor_id: str,
    team_id: str,
    user_id: str,
    now: datetime,
    events: EventLog,
) -> TimeEntry | None:
    """Remove a member (or leave the team: ``user_id`` is the actor's); their running
    timer in the team is stopped now and returned."""
    team, actor = await member_team(session, team_id=team_id, actor_id=actor_id)
    # Read here (member changes of the team run one at a time), locked after its user.
    target = await _target(session, team_id=team.id, user_id=user_id, lock=False)
    await accounts.check_member_change(
        session,
        actor=actor,
        target_role=target.role,
        new_role=None,
        leaving=True,
        own=target.user_id == actor.user_id,
        field=f("userId"),
    )
    # Step 3: their user row, their membership (their writes in flight commit first),
    # then their running entry (step 4).
    await locks.users(session, [target.user_id])
    await locks.membership(session, team.id, target.user_id, removal=True)
    running = await rules.running_entry_of(session, target.user_id)
    stopped = None
    if running is not None and running.team_id == team.id:
        timers.stop_entry(running, now, now, events, team.max_timer_hours)
        session.add(running)
        stopped = running
    await session.delete(target)
    await session.flush()
    events.catalog(
        CatalogKind.DELETED, Subject.MEMBER, team_id=team.id, subject_id=target.user_id, at=now
    )
    return stopped


async def update_member(
    session: AsyncSession,
    *,
    actor_id: str,
    team_id: str,
    user_id: str,
    role: str | None,
    rate_cents: object,
    now: datetime,
    events: EventLog,
) -> Membership:
    """Change a member's role and/or rate (``rate_cents``: ``UNSET`` keeps it, None clears
    it, so their new entries take the category's or the team's rate). Entries already
    made keep the rate they were created with (``rateSnapshotCents``)."""
    team, actor = await member_team(session, team_id=team_id, actor_id=actor_id)
    target = await _target(session, team_id=team.id, user_id=user_id)
    if role is not None and role not in Role.__members__:
        raise DomainError(ErrorCode.VALIDATION, "role is OWNER, ADMIN or MEMBER.", f("role"))
    if rate_cents is not UNSET:
        assert rate_cents is None or isinstance(rate_cents, int)
        catalog.check_rate(rate_cents, f("rateCents"))
    await accounts.check_member_change(
        session,
        actor=actor,
        target_role=target.role,
        new_role=role,
        leaving=False,
        field=f("role") if role is not None else f("userId"),
    )
    before = (target.role, target.rate_cents)
    if role is not None:
        target.role = role
    if rate_cents is not UNSET:
        assert rate_cents is None or isinstance(rate_cents, int)
        target.rate_cents = rate_cents
    if (target.role, target.rate_cents) != before:
        session.add(target)
        await session.flush()
        events.catalog(
            CatalogKind.UPDATED, Subject.MEMBER, team_id=team.id, subject_id=target.user_id, at=now
        )
    return target

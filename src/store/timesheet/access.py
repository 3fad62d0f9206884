"""Finding what an entry command works on, and locking it in ``store.locks``' order."""

from __future__ import annotations

from collections.abc import Iterable

from sqlmodel.ext.asyncio.session import AsyncSession

from store import locks, rules
from store.errors import DomainError, ErrorCode, Retry
from store.ids import parse_ulid
from store.models import Membership, Team, TimeEntry
from store.rules import Field


async def entry_for_change(
    session: AsyncSession,
    *,
    actor_id: str,
    entry_id: str,
    field: Field,
    users: Iterable[str] = (),
) -> tuple[TimeEntry, Team, Membership]:
    """The entry (locked ``FOR UPDATE``, as committed), its team (``FOR KEY SHARE``) and the
    actor's membership (``FOR KEY SHARE`` after the users: ``rules.keep_membership``);
    the entry's user and ``users`` are locked before the entry.

    NOT_FOUND, revealing nothing, when there is no such entry or the actor is not in its
    team."""
    key = parse_ulid(entry_id)
    seen = await session.get(TimeEntry, key) if key else None
    # The team (FOR KEY SHARE) and the actor's membership (locked after the users).
    found = (
        await locks.team_and_member_for_entries(session, seen.team_id, actor_id) if seen else None
    )
    if seen is None or found is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such time entry.", field)
    team, member = found
    owners = {seen.user_id, *users}
    await locks.users(session, owners)
    member = await rules.keep_membership(
        session, team_id=team.id, user_id=actor_id, field=field, what="time entry"
    )
    entry = (await locks.entries(session, [seen.id])).get(seen.id)
    if entry is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such time entry.", field)
    if entry.user_id not in owners:
        raise Retry  # moved to another user between the look and the lock
    return entry, team, member


async def target_user(
    session: AsyncSession, *, team: Team, actor: Membership, user_id: str | None, field: Field
) -> str:
    """Whose entry it is: the actor's own, or (admins only) another member's."""
    if user_id is None or user_id == actor.user_id:
        return actor.user_id
    if not rules.is_admin(actor):
        raise DomainError(ErrorCode.FORBIDDEN, "Only admins log time for others.", field)
    if await session.get(Membership, (team.id, user_id)) is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such member in this team.", field)
    return user_id


async def member_rate(session: AsyncSession, *, team_id: str, user_id: str) -> int | None:
    member = await session.get(Membership, (team_id, user_id))
    return member.rate_cents if member is not None else None

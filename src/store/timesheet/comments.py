"""Comments on entries.

A comment locks its team and then the writer's membership ``FOR KEY SHARE``
(``store.locks`` steps 2 and 3: none lands in an archived team or after its writer's
removal) and its entry
``FOR SHARE`` (step 4): a concurrent delete waits for it, and it never lands on an entry
deleted before it committed. A comment
changes no stored value of the entry, so its ``version`` stays.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from store import locks, rules
from store.errors import DomainError, ErrorCode
from store.events import EventKind, EventLog
from store.ids import new_id, parse_ulid
from store.models import Comment, TimeEntry
from store.rules import field as f


def new_comment(entry: TimeEntry, *, actor_id: str, text: str, now: datetime) -> Comment:
    """A comment on ``entry`` (a transition's reason is one too); the caller adds it."""
    return Comment(
        id=new_id(),
        time_entry_id=entry.id,
        team_id=entry.team_id,
        user_id=actor_id,
        content=text,
        created_at=now,
    )


async def add_comment(
    session: AsyncSession,
    *,
    actor_id: str,
    entry_id: str,
    content: str,
    now: datetime,
    events: EventLog,
) -> tuple[Comment, TimeEntry]:
    key = parse_ulid(entry_id)
    seen = await session.get(TimeEntry, key) if key else None
    found = (
        await locks.team_and_member_for_entries(session, seen.team_id, actor_id) if seen else None
    )
    if seen is None or found is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such time entry.", f("timeEntryId"))
    rules.check_team_active(found[0], f("timeEntryId"))
    await rules.keep_membership(
        session, team_id=seen.team_id, user_id=actor_id, field=f("timeEntryId"), what="time entry"
    )
    entry = await locks.entry_unchanged(session, seen.id)
    if entry is None or entry.deleted_at is not None:
        raise DomainError(ErrorCode.NOT_FOUND, "The entry is deleted.", f("timeEntryId"))
    text = rules.clean_text(content, f("content"), limit=rules.MAX_COMMENT, required=True)
    assert text is not None
    comment = new_comment(entry, actor_id=actor_id, text=text, now=now)
    session.add(comment)
    await session.flush()
    events.add(EventKind.COMMENTED, entry, now)
    return comment, entry

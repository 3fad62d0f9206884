"""Row locks of the write path, taken in one order by every command.

PostgreSQL runs each write in READ COMMITTED: a decision read in one statement and written
in another races unless the rows it reads are locked (or the write is conditional). Every
command takes the locks it needs in this order, never another, so no two commands wait on
each other in a circle (a deadlock costs PostgreSQL's ``deadlock_timeout``, 1 s, before
anyone may retry):

1. the idempotency record: ``gql.schema.mutations.runner`` claims it first, and a concurrent
   repeat waits on its unique key;
2. the team row, by the kind of change:
   - ``FOR KEY SHARE`` (:func:`team_for_entries`, or :func:`team_and_member_for_entries`
     with the writer's membership) by every command that creates, changes
     or deletes entries: it then reads the committed ``locked_before``; and by
     ``pinTask`` (``store.pins.pin``), whose new row names the team;
   - ``FOR UPDATE`` (:func:`team_for_period_lock`) by ``lockTeamEntries``, which so waits
     for the entry writers in flight and holds new ones back until it commits: no change
     commits inside a lock that was acknowledged before it;
   - ``FOR NO KEY UPDATE`` (:func:`team_for_catalogue`) by changes of the team, its
     members, categories, tasks and tags (``store.tags``, which so reads the names of the
     team's live tags as committed): serialised per team, never waiting for entry writers;
   - ``FOR UPDATE`` (:func:`team_for_archive`) by ``archiveTeam`` and ``restoreTeam``,
     which so wait for the entry writers in flight, as a period lock does;
   then the membership of a member change (:func:`membership`), ``FOR NO KEY UPDATE``
   (``updateTeamMember``, ``addTeamMember``): member changes of a team run one at a time
   under the team's ``FOR NO KEY UPDATE``, so the roles they decide on (the last owner)
   are read as committed;
3. user rows, by id, ``FOR NO KEY UPDATE`` (:func:`users`): every change of a user's
   entries runs one at a time (one running timer, the order of their instants), and so
   do changes of the user's own settings, tokens and pins (``accounts.update_viewer``,
   ``tokens.issue_own``, which counts the live tokens under this lock, and
   ``pins.pin``/``pins.unpin``, which read the membership and count the pins of the team
   under it);
   the overlap policy (``store.overlap``) reads the user's entries under this lock, so its
   check holds until the commit;
   ``removeTeamMember`` and ``archiveTeam`` lock the users whose running timers they stop;
   then the writer's own membership, ``FOR KEY SHARE`` (:func:`own_membership`), read
   afresh after the users' locks (one holder per user at a time: no growing list of
   lockers); ``removeTeamMember`` locks the removed member's user row, then their
   membership ``FOR UPDATE`` (:func:`membership`) before it deletes it: the member's
   writes in flight commit first, and a later one finds no membership here;
4. entry rows, by id, ``FOR UPDATE`` (:func:`entries`), or ``FOR SHARE`` where a command
   only needs the entry to stay as it is (a comment);
5. catalogue rows: a task, then its category chain from the leaf upward, then the tags
   put on an entry (by id), ``FOR SHARE`` by entry writers
   (:func:`store.rules.category_chain`, ``store.tags.set_entry_tags``), ``FOR NO KEY
   UPDATE`` by the catalogue change of that row (:func:`catalogue_row`: a task, a category,
   a tag); an archive of a tag so waits for the entries being tagged with it, and a writer
   that waited reads it archived;
6. a webhook row (``store.webhooks``), ``FOR NO KEY UPDATE`` by the admin command that
   changes it, after its team (step 2). The webhook deliverer locks webhook rows only
   (``FOR UPDATE SKIP LOCKED``), one short transaction at a time.
7. last of all, the team's event counter (``store.outbox.append``), raised with the
   events in the last statement before the commit: the gap-free positions make one
   team's writers commit one at a time from there, so nothing else may run in between.

A batch (``store.timesheet.bulk``: ``logTimeEntries``, ``updateTimeEntries``,
``deleteTimeEntries``) takes steps 2 to 4 for all of its items before it applies the
first: its teams ``FOR KEY SHARE`` in id order (only those the actor is a member of),
all the users whose entries change in id order (for an import, the members it logs for
and the users holding its external references; for an update, also the user it moves
entries to), the actor's own memberships, then every entry it changes (or whose external
reference it takes) ``FOR UPDATE`` in id order. The single commands then run per item
and take their locks again: on rows the transaction already holds in that mode a lock is
a no-op (PostgreSQL does not downgrade or requeue it), so no item takes a user's lock
after an entry's, and a batch and single edits of the same entries queue in one order.
Only the catalogue rows of an item (step 5) are first locked inside its SAVEPOINT, and
released with it when the item is refused.

An insert takes ``FOR KEY SHARE`` on the rows its foreign keys name; that conflicts only
with ``FOR UPDATE``, which only ``lockTeamEntries``, ``archiveTeam`` and ``restoreTeam``
take on a team, at step 2 (no foreign key names a membership). The change rows of an
entry's history (``store.history``) are such inserts, written with the flush of the
entry's change: their keys name the entry (the writer's own, held at step 4 or new), its
team (held at step 2 by entry writers; the timer sweep, which locks no team, takes it
with this insert, as its events' insert at step 7 takes it anyway) and the actor's user row
(held at step 3): no new lock and no new order.

Every lock re-reads its row (``populate_existing``): the session may hold an older copy
read before the lock was granted.

SQLite has one writer at a time (write transactions begin IMMEDIATE), so there the order
holds trivially and SQLAlchemy renders no locking clause.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from store.models import Membership, Team, TimeEntry, User

M = TypeVar("M", bound=SQLModel)

_FRESH: dict[str, Any] = {"populate_existing": True}


async def _one(session: AsyncSession, stmt: Any) -> Any:
    return (await session.exec(stmt.execution_options(**_FRESH))).first()


async def team_for_entries(session: AsyncSession, team_id: str) -> Team | None:
    """Step 2 for entry writers: the team as committed, ``FOR KEY SHARE``."""
    stmt = select(Team).where(Team.id == team_id).with_for_update(read=True, key_share=True)
    team: Team | None = await _one(session, stmt)
    return team


async def team_and_member_for_entries(
    session: AsyncSession, team_id: str, user_id: str
) -> tuple[Team, Membership] | None:
    """Step 2 for entry writers, with the writer's membership in the same statement: the
    team as committed, ``FOR KEY SHARE`` (the membership is read, and locked at step 3 by
    :func:`own_membership`); None when the user is not a member."""
    stmt = (
        select(Team, Membership)
        .join(Membership, col(Membership.team_id) == col(Team.id))
        .where(Team.id == team_id, Membership.user_id == user_id)
        .with_for_update(read=True, key_share=True, of=Team)
    )
    found = await _one(session, stmt)
    return None if found is None else (found[0], found[1])


async def team_for_period_lock(session: AsyncSession, team_id: str) -> Team | None:
    """Step 2 for ``lockTeamEntries``: ``FOR UPDATE``, after every entry writer in flight."""
    team: Team | None = await _one(
        session, select(Team).where(Team.id == team_id).with_for_update()
    )
    return team


async def team_for_catalogue(session: AsyncSession, team_id: str) -> Team | None:
    """Step 2 for team, member, category and task changes: ``FOR NO KEY UPDATE``."""
    stmt = select(Team).where(Team.id == team_id).with_for_update(key_share=True)
    team: Team | None = await _one(session, stmt)
    return team


async def team_for_archive(session: AsyncSession, team_id: str) -> Team | None:
    """Step 2 for ``archiveTeam`` and ``restoreTeam``: ``FOR UPDATE``, as a period lock:
    the entry writers in flight commit first, the next ones see the team archived."""
    return await team_for_period_lock(session, team_id)


async def membership(
    session: AsyncSession,
    team_id: str,
    user_id: str,
    *,
    lock: bool = True,
    removal: bool = False,
) -> Membership | None:
    """A membership as committed, for a change of it: step 2 ``FOR NO KEY UPDATE``
    (``updateTeamMember``, ``addTeamMember``), or, for ``removal``, ``FOR UPDATE`` after
    the member's user row (step 3, ``removeTeamMember``); without ``lock``, only read
    afresh (the actor's own)."""
    stmt = select(Membership).where(Membership.team_id == team_id, Membership.user_id == user_id)
    if lock:
        stmt = stmt.with_for_update(key_share=not removal)
    found: Membership | None = await _one(session, stmt)
    return found


async def own_membership(session: AsyncSession, team_id: str, user_id: str) -> Membership | None:
    """Step 3, after the users: the entry writer's own membership, ``FOR KEY SHARE``, as
    committed (None: removed meanwhile)."""
    stmt = (
        select(Membership)
        .where(Membership.team_id == team_id, Membership.user_id == user_id)
        .with_for_update(read=True, key_share=True)
    )
    found: Membership | None = await _one(session, stmt)
    return found


async def users(session: AsyncSession, user_ids: Iterable[str]) -> None:
    """Step 3: the users whose entries change, by id."""
    ids = sorted(set(user_ids))
    if ids:
        stmt = (
            select(User.id)
            .where(col(User.id).in_(ids))
            .order_by(col(User.id))
            .with_for_update(key_share=True)
        )
        await session.exec(stmt)


async def entries(session: AsyncSession, entry_ids: Iterable[str]) -> dict[str, TimeEntry]:
    """Step 4: the entries, by id, ``FOR UPDATE``, as committed."""
    ids = sorted(set(entry_ids))
    if not ids:
        return {}
    stmt = (
        select(TimeEntry)
        .where(col(TimeEntry.id).in_(ids))
        .order_by(col(TimeEntry.id))
        .with_for_update()
        .execution_options(**_FRESH)
    )
    return {e.id: e for e in (await session.exec(stmt)).all()}


async def entry_unchanged(session: AsyncSession, entry_id: str) -> TimeEntry | None:
    """Step 4 for a command that only needs the entry to stay as it is: ``FOR SHARE``."""
    stmt = select(TimeEntry).where(TimeEntry.id == entry_id).with_for_update(read=True)
    entry: TimeEntry | None = await _one(session, stmt)
    return entry


async def catalogue_row(session: AsyncSession, model: type[M], row_id: str) -> M | None:
    """Step 5 for the change of a category, task or tag: ``FOR NO KEY UPDATE``, as
    committed."""
    key = model.__table__.c.id  # type: ignore[attr-defined]
    row: M | None = await _one(
        session, select(model).where(key == row_id).with_for_update(key_share=True)
    )
    return row


async def shared_row(session: AsyncSession, model: type[M], row_id: str) -> M | None:
    """Step 5 for entry writers: a task or category they read stays as read, ``FOR SHARE``."""
    key = model.__table__.c.id  # type: ignore[attr-defined]
    row: M | None = await _one(
        session, select(model).where(key == row_id).with_for_update(read=True)
    )
    return row

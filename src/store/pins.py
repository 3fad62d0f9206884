"""Favourite and recent tasks of a user: the task pickers' shortcuts.

Pins are the user's own settings, as their tokens are: ``pin``/``unpin`` lock the user's
row (``store.locks`` step 3) before they read the membership and count, so concurrent pins
of one user count one after the other and a pin never outlives a removal in flight
(``removeTeamMember`` locks the removed member's row too). No event is written: pins are
personal and no other viewer or webhook sees them.

A pinned task that is archived or CLOSED stays pinned and is shown (the picker greys it
out; unpinning is the user's choice). A pin of a team the user is no longer a member of is
kept but never shown (tenancy): every read joins the user's membership.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from store import locks
from store.db import Database
from store.errors import DomainError, ErrorCode
from store.ids import parse_ulid
from store.models import Membership, Task, TaskPin, TimeEntry

# The pins of one user in one team; a module constant so a test can lower it.
MAX_PINS = 100
# ``User.recentTasks(first:)``: 1 to ``MAX_RECENT``, ``DEFAULT_RECENT`` when not given.
DEFAULT_RECENT = 10
MAX_RECENT = 50


def _not_found() -> DomainError:
    return DomainError(ErrorCode.NOT_FOUND, "No such task.", ("input", "taskId"))


async def _visible_task(session: AsyncSession, *, user_id: str, task_id: str) -> Task:
    """The task, when it is of a team the user is a member of (as committed: read after
    the user's lock); else NOT_FOUND, exactly as an unknown id."""
    parsed = parse_ulid(task_id)
    if parsed is None:
        raise _not_found()
    stmt = (
        select(Task)
        .join(Membership, col(Membership.team_id) == col(Task.team_id))
        .where(Task.id == parsed, Membership.user_id == user_id)
        .execution_options(populate_existing=True)
    )
    task = (await session.exec(stmt)).first()
    if task is None:
        raise _not_found()
    return task


async def pin(session: AsyncSession, *, user_id: str, task_id: str, now: datetime) -> Task:
    """Pin the task for the user (``pinTask``); pinning it again changes nothing. At most
    ``MAX_PINS`` pins per user and team (VALIDATION beyond)."""
    # The new row names the team (its foreign key takes FOR KEY SHARE on it): the team is
    # locked so at step 2, before the user, as entry writers do, never after the user's
    # lock (``archiveTeam`` holds the team FOR UPDATE and then waits for users' locks).
    team_id = (
        await session.exec(select(Task.team_id).where(Task.id == (parse_ulid(task_id) or "")))
    ).first()
    if team_id is None:
        raise _not_found()
    await locks.team_for_entries(session, team_id)
    await locks.users(session, [user_id])
    task = await _visible_task(session, user_id=user_id, task_id=task_id)
    if await session.get(TaskPin, (user_id, task.id)) is not None:
        return task
    count = await session.exec(
        select(func.count())
        .select_from(TaskPin)
        .where(TaskPin.user_id == user_id, TaskPin.team_id == task.team_id)
    )
    if count.one() >= MAX_PINS:
        raise DomainError(
            ErrorCode.VALIDATION,
            f"At most {MAX_PINS} pinned tasks per team: unpin one first.",
            ("input", "taskId"),
        )
    session.add(TaskPin(user_id=user_id, task_id=task.id, team_id=task.team_id, created_at=now))
    return task


async def unpin(session: AsyncSession, *, user_id: str, task_id: str) -> Task:
    """Unpin the task for the user (``unpinTask``); a task not pinned changes nothing."""
    await locks.users(session, [user_id])
    task = await _visible_task(session, user_id=user_id, task_id=task_id)
    await session.exec(
        delete(TaskPin).where(col(TaskPin.user_id) == user_id, col(TaskPin.task_id) == task.id)
    )
    return task


# --- reading ------------------------------------------------------------------------------


async def pinned_tasks(session: AsyncSession, *, user_id: str, team_id: str) -> list[Task]:
    """The user's pinned tasks of the team, most recently pinned first (ties by task id,
    newest first); none when the user is not a member of the team."""
    stmt = (
        select(Task)
        .join(TaskPin, col(TaskPin.task_id) == col(Task.id))
        .join(
            Membership,
            (col(Membership.team_id) == col(TaskPin.team_id))
            & (col(Membership.user_id) == col(TaskPin.user_id)),
        )
        .where(TaskPin.user_id == user_id, TaskPin.team_id == team_id)
        .order_by(col(TaskPin.created_at).desc(), col(TaskPin.task_id).desc())
    )
    return list((await session.exec(stmt)).all())


async def pinned_among(db: Database, *, user_id: str, task_ids: Sequence[str]) -> set[str]:
    """Which of the tasks the user has pinned, in one statement (``Task.pinned`` of a
    level of tasks)."""
    if not task_ids:
        return set()
    stmt = select(TaskPin.task_id).where(
        TaskPin.user_id == user_id, col(TaskPin.task_id).in_(list(task_ids))
    )
    async with db.read_statement() as session:
        return set((await session.exec(stmt)).all())


async def recent_tasks(
    session: AsyncSession, *, user_id: str, team_id: str, first: int
) -> list[Task]:
    """The distinct tasks of the user's entries in the team (deleted ones left out), most
    recently used first: by the latest start of the user's entries on each (ties by task
    id, newest first); at most ``first``. One statement: the user's entries, read by an
    index that leads with ``user_id`` (PostgreSQL, 36,000 entries, 3,000 of the user's: a
    bitmap scan of ``ix_time_entries_user_id_stopped_at``, a hash aggregate by task and a
    top-N sort, 6 ms), grouped by task and joined to the first ``first`` tasks."""
    last = func.max(TimeEntry.started_at).label("last_started")
    used = (
        select(col(TimeEntry.task_id).label("task_id"), last)
        .where(
            TimeEntry.user_id == user_id,
            TimeEntry.team_id == team_id,
            col(TimeEntry.task_id).is_not(None),
            col(TimeEntry.deleted_at).is_(None),
        )
        .group_by(col(TimeEntry.task_id))
        .order_by(last.desc(), col(TimeEntry.task_id).desc())
        .limit(first)
        .subquery()
    )
    stmt = (
        select(Task)
        .join(used, used.c.task_id == col(Task.id))
        .order_by(used.c.last_started.desc(), col(Task.id).desc())
    )
    return list((await session.exec(stmt)).all())

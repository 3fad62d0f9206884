"""Reads of teams, users, memberships, categories and tasks (batched by id for loaders)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import ColumnElement, and_, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from store.models import Category, Task


def descendant_ids(categories: Sequence[Category], root_id: str) -> list[str]:
    """``root_id`` and every category below it, from one team's category list."""
    children: dict[str | None, list[str]] = defaultdict(list)
    for c in categories:
        children[c.parent_id].append(c.id)
    out, stack, seen = [], [root_id], set()
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        out.append(current)
        stack.extend(children.get(current, ()))
    return out


def _task_conditions(
    team_id: str, category_ids: Sequence[str] | None, include_archived: bool
) -> list[ColumnElement[bool]]:
    """Which of a team's tasks a list shows: of these categories, archived ones or not."""
    conditions: list[ColumnElement[bool]] = [col(Task.team_id) == team_id]
    if category_ids is not None:
        conditions.append(col(Task.category_id).in_(category_ids))
    if not include_archived:
        conditions.append(col(Task.archived_at).is_(None))
    return conditions


async def list_tasks(
    session: AsyncSession,
    *,
    team_id: str,
    category_ids: Sequence[str] | None = None,
    first: int,
    after_id: str | None = None,
    include_archived: bool = True,
) -> tuple[list[Task], bool]:
    """A page of a team's tasks in id (creation) order, one extra row to tell if more follow."""
    conditions = _task_conditions(team_id, category_ids, include_archived)
    if after_id is not None:
        conditions.append(col(Task.id) > after_id)
    stmt = select(Task).where(and_(*conditions)).order_by(col(Task.id)).limit(first + 1)
    rows = list((await session.exec(stmt)).all())
    return rows[:first], len(rows) > first


async def count_tasks(
    session: AsyncSession,
    *,
    team_id: str,
    category_ids: Sequence[str] | None = None,
    include_archived: bool = True,
) -> int:
    conditions = _task_conditions(team_id, category_ids, include_archived)
    stmt = select(func.count()).select_from(Task).where(and_(*conditions))
    return int((await session.exec(stmt)).one())

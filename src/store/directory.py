"""Reads of teams, users, memberships, categories and tasks (batched by id for loaders)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, func
from sqlalchemy import select as core_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from store.lookups import Record
from store.models import Category, Task
from store.paging import PROBE, Window, cut, page_selects, union


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
    include_archived: bool = True,
    window: Window,
) -> tuple[list[Any], bool, bool]:
    """A page of a team's tasks in id (creation) order (``store.paging``: one statement),
    whether a page follows and whether one precedes. Rows are ``Record`` objects."""
    tasks = Task.__table__  # type: ignore[attr-defined]
    conditions = _task_conditions(team_id, category_ids, include_archived)
    order = ((tasks.c.id, False),)
    parts = page_selects(core_select(*tasks.c), order, conditions, window)
    connection = await session.connection()
    rows = [dict(r._mapping) for r in (await connection.execute(union(parts))).all()]
    page, has_next, has_previous = cut(
        rows, window, probe=lambda r: r[PROBE], key=lambda r: r["id"], descending=False
    )
    return (
        [Record(**{k: v for k, v in r.items() if k != PROBE}) for r in page],
        has_next,
        has_previous,
    )


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

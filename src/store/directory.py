"""Reads of teams, users, memberships, categories and tasks (batched by id for loaders)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import ColumnElement, and_, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from store.models import Category, Membership, Task, Team, User


async def teams_by_ids(session: AsyncSession, *, ids: Sequence[str]) -> dict[str, Team]:
    rows = (await session.exec(select(Team).where(col(Team.id).in_(ids)))).all()
    return {r.id: r for r in rows}


async def users_by_ids(session: AsyncSession, *, ids: Sequence[str]) -> dict[str, User]:
    rows = (await session.exec(select(User).where(col(User.id).in_(ids)))).all()
    return {r.id: r for r in rows}


async def tasks_by_ids(session: AsyncSession, *, ids: Sequence[str]) -> dict[str, Task]:
    rows = (await session.exec(select(Task).where(col(Task.id).in_(ids)))).all()
    return {r.id: r for r in rows}


async def categories_by_ids(session: AsyncSession, *, ids: Sequence[str]) -> dict[str, Category]:
    rows = (await session.exec(select(Category).where(col(Category.id).in_(ids)))).all()
    return {r.id: r for r in rows}


async def categories_by_team_ids(
    session: AsyncSession, *, team_ids: Sequence[str]
) -> dict[str, list[Category]]:
    stmt = (
        select(Category)
        .where(col(Category.team_id).in_(team_ids))
        .order_by(col(Category.position), col(Category.title), col(Category.id))
    )
    out: dict[str, list[Category]] = defaultdict(list)
    for row in (await session.exec(stmt)).all():
        out[row.team_id].append(row)
    return out


async def members_by_team_ids(
    session: AsyncSession, *, team_ids: Sequence[str]
) -> dict[str, list[Membership]]:
    stmt = (
        select(Membership)
        .where(col(Membership.team_id).in_(team_ids))
        .order_by(col(Membership.created_at), col(Membership.user_id))
    )
    out: dict[str, list[Membership]] = defaultdict(list)
    for row in (await session.exec(stmt)).all():
        out[row.team_id].append(row)
    return out


async def memberships_by_user_ids(
    session: AsyncSession, *, user_ids: Sequence[str]
) -> dict[str, list[Membership]]:
    stmt = select(Membership).where(col(Membership.user_id).in_(user_ids))
    out: dict[str, list[Membership]] = defaultdict(list)
    for row in (await session.exec(stmt)).all():
        out[row.user_id].append(row)
    return out


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


async def list_tasks(
    session: AsyncSession,
    *,
    team_id: str,
    category_ids: Sequence[str] | None = None,
    first: int,
    after_id: str | None = None,
) -> tuple[list[Task], bool]:
    """A page of a team's tasks in id (creation) order, one extra row to tell if more follow."""
    conditions: list[ColumnElement[bool]] = [col(Task.team_id) == team_id]
    if category_ids is not None:
        conditions.append(col(Task.category_id).in_(category_ids))
    if after_id is not None:
        conditions.append(col(Task.id) > after_id)
    stmt = select(Task).where(and_(*conditions)).order_by(col(Task.id)).limit(first + 1)
    rows = list((await session.exec(stmt)).all())
    return rows[:first], len(rows) > first


async def count_tasks(
    session: AsyncSession, *, team_id: str, category_ids: Sequence[str] | None = None
) -> int:
    conditions: list[ColumnElement[bool]] = [col(Task.team_id) == team_id]
    if category_ids is not None:
        conditions.append(col(Task.category_id).in_(category_ids))
    stmt = select(func.count()).select_from(Task).where(and_(*conditions))
    return int((await session.exec(stmt)).one())

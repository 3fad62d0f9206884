"""A page of time entries joined to the rows it refers to, in one statement.

The compiled read path (``gql.fastpath``) asks for exactly the relations its document
selects and gets plain rows back: no ORM objects, no identity map, one round trip whatever
the page size. Columns are labelled ``<relation>__<column>`` (``entry__started_at``,
``user__nickname``); a relation whose row is missing comes back as NULLs.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, FromClause, Table, and_, case, select
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from store.entries import EntryFilter, page_conditions

# What an entry refers to. ``category`` is what the API calls an entry's category: its
# task's when it has a task, else its own (CATEGORY scope); ``task_category`` is the task's.
RELATIONS = frozenset({"team", "user", "task", "task_category", "category"})


def _table(name: str) -> Table:
    return SQLModel.metadata.tables[name]


async def entry_page_rows(
    session: AsyncSession,
    *,
    filter: EntryFilter,
    first: int,
    after: tuple[datetime, str] | None = None,
    relations: Collection[str] = (),
) -> tuple[list[dict[str, Any]], bool]:
    """Rows of a page (newest ``started_at`` first, ties by id) as ``{label: value}`` dicts,
    with the columns of ``relations`` joined in; and whether more rows follow."""
    unknown = set(relations) - RELATIONS
    if unknown:
        raise ValueError(f"unknown relations {sorted(unknown)}")
    entries = _table("time_entries")
    columns: list[ColumnElement[Any]] = [c.label(f"entry__{c.name}") for c in entries.c]
    joined: FromClause = entries
    tasks = _table("tasks").alias("t")
    if relations and not set(relations) <= {"team", "user"}:
        joined = joined.outerjoin(tasks, tasks.c.id == entries.c.task_id)
    for name in sorted(relations):
        if name == "team":
            other = _table("teams").alias("tm")
            on = other.c.id == entries.c.team_id
        elif name == "user":
            other = _table("users").alias("u")
            on = other.c.id == entries.c.user_id
        elif name == "task":
            columns += [c.label(f"task__{c.name}") for c in tasks.c]
            continue
        elif name == "task_category":
            other = _table("categories").alias("tc")
            on = other.c.id == tasks.c.category_id
        else:
            other = _table("categories").alias("ec")
            on = other.c.id == case(
                (entries.c.task_id.is_not(None), tasks.c.category_id),
                else_=entries.c.category_id,
            )
        joined = joined.outerjoin(other, on)
        columns += [c.label(f"{name}__{c.name}") for c in other.c]
    stmt = (
        select(*columns)
        .select_from(joined)
        .where(and_(*page_conditions(filter, after=after)))
        .order_by(entries.c.started_at.desc(), entries.c.id.desc())
        .limit(first + 1)
    )
    connection = await session.connection()
    result = await connection.execute(stmt)
    keys = list(result.keys())
    rows = [dict(zip(keys, row, strict=True)) for row in result.all()]
    return rows[:first], len(rows) > first

"""A page of time entries joined to the rows it refers to, in one statement.

The compiled read path (``gql.fastpath``) asks for exactly the columns its document
reads and gets plain rows back: no ORM objects, no identity map, one round trip whatever
the page size. Columns are labelled ``<relation>__<column>`` (``entry__started_at``,
``user__nickname``); a relation whose row is missing comes back as NULLs.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
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
    columns: Mapping[str, Collection[str]],
) -> tuple[list[dict[str, Any]], bool]:
    """Rows of a page (newest ``started_at`` first, ties by id) as ``{label: value}`` dicts,
    and whether more rows follow. ``columns`` names the columns to read by relation:
    ``entry`` for the entry itself, any of ``RELATIONS`` for a row joined in."""
    unknown = set(columns) - RELATIONS - {"entry"}
    if unknown:
        raise ValueError(f"unknown relations {sorted(unknown)}")
    entries = _table("time_entries")
    tasks = _table("tasks").alias("t")
    sources: dict[str, FromClause] = {"entry": entries, "task": tasks}
    joined: FromClause = entries
    if set(columns) & {"task", "task_category", "category"}:
        joined = joined.outerjoin(tasks, tasks.c.id == entries.c.task_id)
    for name in sorted(set(columns) - {"entry", "task"}):
        if name == "team":
            other = _table("teams").alias("tm")
            on = other.c.id == entries.c.team_id
        elif name == "user":
            other = _table("users").alias("u")
            on = other.c.id == entries.c.user_id
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
        sources[name] = other
    selected: list[ColumnElement[Any]] = [
        sources[name].c[column].label(f"{name}__{column}")
        for name in sorted(columns)
        for column in sorted(columns[name])
    ]
    stmt = (
        select(*selected)
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

"""Every entry a filter matches, with what an export shows of it, streamed in batches.

An export can cover a team's whole history: a million rows must never be in memory at
once. The statement runs on a server-side cursor (SQLAlchemy's ``stream`` with
``yield_per``: asyncpg's cursor in a transaction on PostgreSQL, aiosqlite's cursor on
SQLite) and rows come out ``batch_size`` at a time, each batch written out before the
next is fetched. The rows come in the connections' order (newest ``started_at`` first,
ties by id), joined to what they refer to in the same statement: the team (name and
rounding rule), the user's nickname, the task and the entry's category (the task's, or
its own: ``entry_rules.effective_category_sql``).

The computed values (seconds, rounded seconds, amount) are not computed here: the export
calls the same ``entry_rules`` functions per row as the API does per entry.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from typing import Any, Final

from sqlalchemy import Row, Select, and_, select

from store.db import Database
from store.entries import EntryFilter, entry_conditions
from store.entry_rules import effective_category_sql
from store.models import metadata

DEFAULT_BATCH_ROWS: Final = 1000

_ENTRIES: Final = metadata.tables["time_entries"]
_TEAMS: Final = metadata.tables["teams"].alias("tm")
_USERS: Final = metadata.tables["users"].alias("u")
_TASKS: Final = metadata.tables["tasks"].alias("t")
_CATEGORIES: Final = metadata.tables["categories"].alias("c")

# The entry's own columns an export reads, then the joined ones (``<relation>_<column>``).
ENTRY_COLUMNS: Final = (
    "id",
    "team_id",
    "user_id",
    "task_id",
    "scope_type",
    "started_at",
    "stopped_at",
    "duration_seconds",
    "work_date",
    "description",
    "billable",
    "rate_snapshot_cents",
    "status",
    "input_type",
    "source",
    "frozen_rounded_seconds",
    "frozen_amount_cents",
    "deleted_at",
)


def export_statement(filter: EntryFilter) -> Select[Any]:
    """The entries of ``filter`` (its WHERE is ``entries.entry_conditions``, as for pages,
    counts and reports), newest first, with their team, user, task and category."""
    e = _ENTRIES
    category_id = effective_category_sql(e, _TASKS)
    joined = (
        e.join(_TEAMS, _TEAMS.c.id == e.c.team_id)
        .join(_USERS, _USERS.c.id == e.c.user_id)
        .outerjoin(_TASKS, _TASKS.c.id == e.c.task_id)
        .outerjoin(_CATEGORIES, _CATEGORIES.c.id == category_id)
    )
    return (
        select(
            *(e.c[name] for name in ENTRY_COLUMNS),
            _TEAMS.c.name.label("team_name"),
            _TEAMS.c.rounding.label("team_rounding"),
            _TEAMS.c.rounding_minutes.label("team_rounding_minutes"),
            _USERS.c.nickname.label("user_nickname"),
            _TASKS.c.key.label("task_key"),
            _TASKS.c.title.label("task_title"),
            category_id.label("category_id"),
            _CATEGORIES.c.title.label("category_title"),
        )
        .select_from(joined)
        .where(and_(*entry_conditions(filter)))
        .order_by(e.c.started_at.desc(), e.c.id.desc())
    )


async def stream_entries(
    db: Database, *, filter: EntryFilter, batch_size: int = DEFAULT_BATCH_ROWS
) -> AsyncGenerator[Sequence[Row[Any]], None]:
    """The rows of :func:`export_statement`, ``batch_size`` at a time, from one
    server-side cursor held open (one pooled connection) until the iterator ends or is
    closed. Read by attribute: ``row.started_at``, ``row.team_name``."""
    stmt = export_statement(filter).execution_options(yield_per=batch_size)
    async with db.engine.connect() as connection:
        result = await connection.stream(stmt)
        try:
            async for rows in result.partitions(batch_size):
                yield rows
        finally:
            await result.close()

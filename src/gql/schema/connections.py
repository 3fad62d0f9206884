"""Pages of entries and tasks as Relay connections, both ways (``first``/``after`` and
``last``/``before``): the resolvers of every ``timeEntries`` and ``tasks`` field share these."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gql.schema.context import Context
from gql.schema.types.pagination import (
    Connection,
    decode_entry_cursor,
    decode_id_cursor,
    empty_connection,
    entry_cursor,
    id_cursor,
    page_window,
)
from store import directory, entries
from store.entries import EntryFilter
from store.entry_pages import PageRequest

if TYPE_CHECKING:
    from gql.schema.types.entry import TimeEntry
    from gql.schema.types.team import Task


async def entry_connection(
    ctx: Context,
    ef: EntryFilter | None,
    first: int | None,
    after: str | None,
    last: int | None = None,
    before: str | None = None,
) -> Connection[TimeEntry]:
    from gql.schema.types.entry import TimeEntry

    window = page_window(first, after, last, before, decode_entry_cursor)
    if ef is None:
        return empty_connection()
    # Pages asked for at once (the same connection under many parents): one statement.
    request = PageRequest(ef, window.size, window.after, window.before, window.backward)
    page = await ctx.loaders.pages.load(request, ctx.prefetch)
    rows = page.entries
    if ctx.prefetch is None:  # standard execution may look them up again
        ctx.loaders.prime_entries(rows)
    ctx.loaders.prime_related(page.related)

    async def count() -> int:
        async with ctx.db.read() as session:
            return await entries.count_entries(session, filter=ef)

    return Connection.build(
        [TimeEntry(row=r) for r in rows],
        _entry_cursor,
        has_next=page.has_next,
        has_previous=page.has_previous,
        count=count,
    )


async def task_connection(
    ctx: Context,
    *,
    team_id: str,
    category_ids: list[str] | None,
    include_archived: bool = True,
    first: int | None,
    after: str | None,
    last: int | None = None,
    before: str | None = None,
) -> Connection[Task]:
    from gql.schema.types.team import Task

    window = page_window(first, after, last, before, _task_key)
    async with ctx.db.read() as session:
        rows, has_next, has_previous = await directory.list_tasks(
            session,
            team_id=team_id,
            category_ids=category_ids,
            include_archived=include_archived,
            window=window,
        )
    for row in rows:
        ctx.loaders.task.prime(row.id, row)

    async def count() -> int:
        async with ctx.db.read() as session:
            return await directory.count_tasks(
                session,
                team_id=team_id,
                category_ids=category_ids,
                include_archived=include_archived,
            )

    return Connection.build(
        [Task(row=r) for r in rows],
        _task_cursor,
        has_next=has_next,
        has_previous=has_previous,
        count=count,
    )


def _entry_cursor(entry: Any) -> str:
    return entry_cursor(entry.row.started_at, entry.row.id)


def _task_key(cursor: str) -> tuple[str]:
    return (decode_id_cursor("t", cursor),)


def _task_cursor(task: Any) -> str:
    return id_cursor("t", task.row.id)

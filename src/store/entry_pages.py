"""A page of time entries joined to the rows it refers to, in one statement.

The compiled read path (``gql.compiler``) asks for exactly the columns its document
reads and gets plain rows back: no ORM objects, no identity map, one round trip whatever
the page size. Columns are labelled ``<relation>__<column>`` (``entry__started_at``,
``user__nickname``); a relation whose row is missing comes back as NULLs. Pages go
either way (``store.paging``): a backward page and the probe beyond its cursor are parts
of the same statement.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Dialect,
    FromClause,
    String,
    Table,
    bindparam,
    literal,
    select,
)
from sqlalchemy.sql import Executable
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from store.db import Database
from store.direct import fetch_raw
from store.entries import EntryFilter, entry_conditions
from store.entry_rules import effective_category_sql
from store.lookups import Record
from store.paging import PROBE, Window, cut, page_selects, union
from store.types import UTCDateTime

# What an entry refers to. ``category`` is what the API calls an entry's category: its
# task's when it has a task, else its own (CATEGORY scope); ``task_category`` is the task's.
RELATIONS = frozenset({"team", "user", "task", "task_category", "category"})


def _table(name: str) -> Table:
    return SQLModel.metadata.tables[name]


# Built once: an alias builds its column proxies (a Column object per column) on first use,
# which per request cost more than running the statement.
_ENTRIES = _table("time_entries")
_TASKS = _table("tasks").alias("t")
_JOINS: dict[str, tuple[FromClause, ColumnElement[bool]]] = {}


def _joins() -> dict[str, tuple[FromClause, ColumnElement[bool]]]:
    if not _JOINS:
        team, user = _table("teams").alias("tm"), _table("users").alias("u")
        task_category, category = _table("categories").alias("tc"), _table("categories").alias("ec")
        entry_category = effective_category_sql(_ENTRIES, _TASKS)
        _JOINS.update(
            team=(team, team.c.id == _ENTRIES.c.team_id),
            user=(user, user.c.id == _ENTRIES.c.user_id),
            task_category=(task_category, task_category.c.id == _TASKS.c.category_id),
            category=(category, category.c.id == entry_category),
        )
    return _JOINS


@functools.lru_cache(maxsize=256)
def _shape(
    wanted: tuple[tuple[str, tuple[str, ...]], ...],
) -> tuple[FromClause, list[ColumnElement[Any]]]:
    """The joins and labelled columns for ``wanted`` (relation, columns) pairs."""
    names = {name for name, _ in wanted}
    entries, tasks = _ENTRIES, _TASKS
    sources: dict[str, FromClause] = {"entry": entries, "task": tasks}
    joined: FromClause = entries
    if names & {"task", "task_category", "category"}:
        joined = joined.outerjoin(tasks, tasks.c.id == entries.c.task_id)
    joins = _joins()
    for name in sorted(names - {"entry", "task"}):
        other, on = joins[name]
        joined = joined.outerjoin(other, on)
        sources[name] = other
    selected: list[ColumnElement[Any]] = [
        sources[name].c[column].label(f"{name}__{column}")
        for name, columns in wanted
        for column in columns
    ]
    return joined, selected


Cursor = tuple[datetime, str]
# The connection's order: newest ``started_at`` first, ties by id.
_ORDER = ((_ENTRIES.c.started_at, True), (_ENTRIES.c.id, True))


def _team_conditions() -> list[ColumnElement[bool]]:
    return [
        _ENTRIES.c.team_id.in_(bindparam("team_ids", expanding=True)),
        _ENTRIES.c.deleted_at.is_(None),
    ]


def _cursor(name: str) -> tuple[BindParameter[datetime], BindParameter[str]]:
    return bindparam(f"{name}_at", type_=UTCDateTime()), bindparam(f"{name}_id", type_=String())


@functools.lru_cache(maxsize=256)
def _team_page(
    wanted: tuple[tuple[str, tuple[str, ...]], ...], after: bool, before: bool, backward: bool
) -> Executable:
    """The page of ``EntryFilter(team_ids=...)``, parameters bound at execution."""
    joined, selected = _shape(wanted)
    window = Window(
        0, _cursor("after") if after else None, _cursor("before") if before else None, backward
    )
    base = select(*selected).select_from(joined)
    parts = page_selects(base, _ORDER, _team_conditions(), window, limit=bindparam("limit"))
    return union(parts)


def _keyed(request: PageRequest) -> Window:
    return Window(request.size, request.after, request.before, request.backward)


async def entry_page_rows(
    session: AsyncSession,
    *,
    request: PageRequest,
    columns: Mapping[str, Collection[str]],
) -> tuple[list[dict[str, Any]], bool, bool]:
    """Rows of a page (newest ``started_at`` first, ties by id) as ``{label: value}`` dicts,
    whether a page follows and whether one precedes. ``columns`` names the columns to
    read by relation: ``entry`` for the entry itself, any of ``RELATIONS`` for a row
    joined in."""
    unknown = set(columns) - RELATIONS - {"entry"}
    if unknown:
        raise ValueError(f"unknown relations {sorted(unknown)}")
    wanted = tuple(sorted((name, tuple(sorted(names))) for name, names in columns.items()))
    f = request.filter
    stmt: Executable
    if f == EntryFilter(team_ids=f.team_ids):
        # The common page (a team's live entries) is one prepared statement per shape;
        # building and hashing a new one per request cost a third of the read.
        after, before = request.after, request.before
        stmt = _team_page(wanted, after is not None, before is not None, request.backward)
        params: dict[str, Any] = {"team_ids": list(f.team_ids), "limit": request.size + 1}
        if after is not None:
            params["after_at"], params["after_id"] = after
        if before is not None:
            params["before_at"], params["before_id"] = before
    else:
        joined, selected = _shape(wanted)
        base = select(*selected).select_from(joined)
        stmt = union(page_selects(base, _ORDER, entry_conditions(f), _keyed(request)))
        params = {}
    connection = await session.connection()
    result = await connection.execute(stmt, params)
    keys = list(result.keys())
    rows = [dict(zip(keys, row, strict=True)) for row in result.all()]
    return _cut(rows, request)


def _cut(
    rows: list[dict[str, Any]], request: PageRequest
) -> tuple[list[dict[str, Any]], bool, bool]:
    return cut(
        rows,
        _keyed(request),
        probe=lambda r: r[PROBE],
        key=lambda r: (r["entry__started_at"], r["entry__id"]),
        descending=True,
    )


@dataclass(frozen=True)
class _Compiled:
    """A first page of one team, compiled for one dialect, run on the driver itself."""

    sql: str
    params: tuple[str, ...]
    defaults: dict[str, Any]
    # Row (a tuple) -> {label: value}, each value converted as its column type says.
    to_dict: Callable[[Sequence[Any]], dict[str, Any]]


@functools.lru_cache(maxsize=256)
def _compiled(wanted: tuple[tuple[str, tuple[str, ...]], ...], dialect: Dialect) -> _Compiled:
    joined, selected = _shape(wanted)
    stmt = (
        select(*selected)
        .select_from(joined)
        .where(_ENTRIES.c.team_id == bindparam("team_id"), _ENTRIES.c.deleted_at.is_(None))
        .order_by(_ENTRIES.c.started_at.desc(), _ENTRIES.c.id.desc())
        .limit(bindparam("limit"))
    )
    compiled = stmt.compile(dialect=dialect)
    namespace: dict[str, object] = {}
    items: list[str] = []
    for i, column in enumerate(stmt.selected_columns):
        key = str(column.key)
        # The column type's own result processor, as store.direct and the ORM load it.
        convert = column.type.dialect_impl(dialect).result_processor(dialect, None)
        if convert is None:
            items.append(f"{key!r}: row[{i}]")
        else:
            namespace[f"_c{i}"] = convert
            items.append(f"{key!r}: _c{i}(row[{i}])")
    # One dict display per row (labels are our own identifiers): a third of the cost of
    # zipping and converting in a loop.
    to_dict = eval(f"lambda row: {{{', '.join(items)}}}", namespace)
    return _Compiled(
        sql=compiled.string,
        params=tuple(compiled.positiontup or ()),
        defaults=dict(compiled.construct_params({"team_id": "", "limit": 1})),
        to_dict=to_dict,
    )


def is_first_team_page(request: PageRequest) -> bool:
    """Whether ``first_team_page`` can read this page: one team's live entries, page one."""
    f = request.filter
    return (
        request.after is None
        and request.before is None
        and not request.backward
        and len(f.team_ids) == 1
        and f == EntryFilter(f.team_ids)
    )


async def first_team_page(
    db: Database, *, team_id: str, first: int, columns: Mapping[str, Collection[str]]
) -> tuple[list[dict[str, Any]], bool]:
    """``entry_page_rows`` of ``EntryFilter([team_id])`` without ``after``: the page every
    dashboard asks for, run on the driver connection (one call into aiosqlite rather than
    four thread hand-offs; asyncpg directly), values converted as SQLAlchemy's result
    processors would. Engine listeners (statement counters, SQL logging) still see it."""
    unknown = set(columns) - RELATIONS - {"entry"}
    if unknown:
        raise ValueError(f"unknown relations {sorted(unknown)}")
    wanted = tuple(sorted((name, tuple(sorted(names))) for name, names in columns.items()))
    engine = db.engine.sync_engine
    plan = _compiled(wanted, engine.dialect)
    values = {**plan.defaults, "team_id": team_id, "limit": first + 1}
    params = [values[name] for name in plan.params]
    rows = await fetch_raw(db, plan.sql, params)
    to_dict = plan.to_dict
    out = [to_dict(row) for row in rows]
    return out[:first], len(out) > first


_TABLE_OF = {
    "entry": "time_entries",
    "team": "teams",
    "user": "users",
    "task": "tasks",
    "task_category": "categories",
    "category": "categories",
}


# Always read: what cursors, tenancy and the relations' keys need.
_BASE = {
    "entry": ("id", "started_at", "team_id", "user_id", "task_id", "category_id"),
    "team": ("id",),
    "user": ("id",),
    "task": ("id", "team_id", "category_id"),
    "task_category": ("id", "team_id", "parent_id"),
    "category": ("id", "team_id", "parent_id"),
}


def _columns(
    reads: Mapping[str, Collection[str] | None] | None,
) -> dict[str, tuple[str, ...]]:
    """The columns to read by relation: the base ones and those ``reads`` names
    (None: every column); the entry's own every column without ``reads``."""
    wanted = dict(reads or {"entry": None})
    wanted.setdefault("entry", None)
    out = {}
    for name, names in sorted(wanted.items()):
        table = _table(_TABLE_OF[name])
        every = tuple(c.name for c in table.columns)
        out[name] = every if names is None else tuple(sorted({*_BASE[name], *names}))
        unknown = set(out[name]) - set(every)
        if unknown:
            raise ValueError(f"{name} has no columns {sorted(unknown)}")
    return out


@dataclass(frozen=True)
class Page:
    """A page of entries (``Record`` rows, read by attribute like the models), whether
    a page follows and whether one precedes, and the rows of the relations joined in,
    by relation."""

    entries: list[Any]
    has_next: bool
    related: dict[str, list[Any]]
    has_previous: bool = False


async def entry_page(
    db: Database,
    request: PageRequest,
    *,
    reads: Mapping[str, Collection[str] | None] | None = None,
) -> Page:
    """The page, with the relations ``reads`` names (any of ``RELATIONS``, and ``entry``
    for the entry itself: the columns to read, None for all) joined in: the rows the
    document will read of them come with the page, in its one statement. Without
    ``reads``, the entries' every column and nothing joined."""
    columns = _columns(reads)
    if is_first_team_page(request):
        rows, has_next = await first_team_page(
            db, team_id=request.filter.team_ids[0], first=request.size, columns=columns
        )
        return _split(rows, has_next, False, columns)
    async with db.read_statement() as session:
        rows, has_next, has_previous = await entry_page_rows(
            session, request=request, columns=columns
        )
    return _split(rows, has_next, has_previous, columns)


def _split(
    rows: list[dict[str, Any]],
    has_next: bool,
    has_previous: bool,
    columns: dict[str, tuple[str, ...]],
) -> Page:
    """Labelled rows as the page's entries and its relations' rows (each row once)."""
    groups = {name: [(f"{name}__{c}", c) for c in names] for name, names in columns.items()}
    entry_columns = groups.pop("entry")
    entries = [Record(**{c: row[label] for label, c in entry_columns}) for row in rows]
    related: dict[str, list[Any]] = {}
    for name, pairs in groups.items():
        seen: dict[Any, Any] = {}
        id_label = f"{name}__id"
        for row in rows:
            key = row[id_label]
            if key is not None and key not in seen:
                seen[key] = Record(**{c: row[label] for label, c in pairs})
        related[name] = list(seen.values())
    return Page(entries, has_next, related, has_previous)


@dataclass(frozen=True)
class PageRequest:
    """A page of ``filter``'s entries: ``size`` of them after ``after`` (and before
    ``before``), or with ``backward`` (``last``) the ``size`` nearest ``before``."""

    filter: EntryFilter
    size: int
    after: Cursor | None = None
    before: Cursor | None = None
    backward: bool = False


async def entry_pages(
    db: Database,
    requests: Sequence[PageRequest],
    *,
    reads: Mapping[str, Collection[str] | None] | None = None,
) -> list[Page]:
    """Several pages (one per parent of a nested connection) in ONE statement: each
    page's own selects (``store.paging``), with its own filter, cursors and limit, as
    subqueries of a UNION ALL; ``reads`` as for ``entry_page``."""
    if len(requests) == 1:
        return [await entry_page(db, requests[0], reads=reads)]
    columns = _columns(reads)
    wanted = tuple(sorted((name, tuple(sorted(names))) for name, names in columns.items()))
    joined, selected = _shape(wanted)
    parts = []
    for index, r in enumerate(requests):
        base = select(literal(index).label("page__index"), *selected).select_from(joined)
        parts += page_selects(base, _ORDER, entry_conditions(r.filter), _keyed(r))
    async with db.read_statement() as session:
        connection = await session.connection()
        result = await connection.execute(union(parts))
        keys = list(result.keys())
        rows = [dict(zip(keys, row, strict=True)) for row in result.all()]
    by_page: list[list[dict[str, Any]]] = [[] for _ in requests]
    for row in rows:
        by_page[row["page__index"]].append(row)
    pages = []
    for r, page_rows in zip(requests, by_page, strict=True):
        page, has_next, has_previous = _cut(page_rows, r)
        pages.append(_split(page, has_next, has_previous, columns))
    return pages

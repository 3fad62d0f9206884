"""A page of time entries joined to the rows it refers to, in one statement.

The compiled read path (``gql.compiler``) asks for exactly the columns its document
reads and gets plain rows back: no ORM objects, no identity map, one round trip whatever
the page size. Columns are labelled ``<relation>__<column>`` (``entry__started_at``,
``user__nickname``); a relation whose row is missing comes back as NULLs.
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
    Select,
    String,
    Table,
    and_,
    bindparam,
    literal,
    or_,
    select,
    union_all,
)
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from store.db import Database
from store.direct import fetch_raw
from store.entries import EntryFilter, page_conditions
from store.entry_rules import effective_category_sql
from store.lookups import Record
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


@functools.lru_cache(maxsize=256)
def _team_page(wanted: tuple[tuple[str, tuple[str, ...]], ...], after: bool) -> Select[Any]:
    """The page of ``EntryFilter(team_ids=...)``, parameters bound at execution."""
    joined, selected = _shape(wanted)
    entries = _ENTRIES
    conditions: list[ColumnElement[bool]] = [
        entries.c.team_id.in_(bindparam("team_ids", expanding=True)),
        entries.c.deleted_at.is_(None),
    ]
    if after:
        at = bindparam("after_at", type_=UTCDateTime())
        entry_id: BindParameter[str] = bindparam("after_id", type_=String())
        conditions.append(
            or_(
                entries.c.started_at < at, and_(entries.c.started_at == at, entries.c.id < entry_id)
            )
        )
    return (
        select(*selected)
        .select_from(joined)
        .where(and_(*conditions))
        .order_by(entries.c.started_at.desc(), entries.c.id.desc())
        .limit(bindparam("limit"))
    )


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
    wanted = tuple(sorted((name, tuple(sorted(names))) for name, names in columns.items()))
    stmt: Select[Any]
    if filter == EntryFilter(team_ids=filter.team_ids):
        # The common page (a team's live entries) is one prepared statement per shape;
        # building and hashing a new one per request cost a third of the read.
        stmt = _team_page(wanted, after is not None)
        params: dict[str, Any] = {"team_ids": list(filter.team_ids), "limit": first + 1}
        if after is not None:
            params["after_at"], params["after_id"] = after
    else:
        joined, selected = _shape(wanted)
        stmt = (
            select(*selected)
            .select_from(joined)
            .where(and_(*page_conditions(filter, after=after)))
            .order_by(_ENTRIES.c.started_at.desc(), _ENTRIES.c.id.desc())
            .limit(first + 1)
        )
        params = {}
    connection = await session.connection()
    result = await connection.execute(stmt, params)
    keys = list(result.keys())
    rows = [dict(zip(keys, row, strict=True)) for row in result.all()]
    return rows[:first], len(rows) > first


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


def is_first_team_page(filter: EntryFilter, after: tuple[datetime, str] | None) -> bool:
    """Whether ``first_team_page`` can read this page: one team's live entries, page one."""
    return after is None and len(filter.team_ids) == 1 and filter == EntryFilter(filter.team_ids)


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
    more follow, and the rows of the relations joined in, by relation."""

    entries: list[Any]
    has_next: bool
    related: dict[str, list[Any]]


async def entry_page(
    db: Database,
    *,
    filter: EntryFilter,
    first: int,
    after: tuple[datetime, str] | None = None,
    reads: Mapping[str, Collection[str] | None] | None = None,
) -> Page:
    """The page, with the relations ``reads`` names (any of ``RELATIONS``, and ``entry``
    for the entry itself: the columns to read, None for all) joined in: the rows the
    document will read of them come with the page, in its one statement. Without
    ``reads``, the entries' every column and nothing joined."""
    columns = _columns(reads)
    if is_first_team_page(filter, after):
        rows, has_next = await first_team_page(
            db, team_id=filter.team_ids[0], first=first, columns=columns
        )
    else:
        async with db.read_statement() as session:
            rows, has_next = await entry_page_rows(
                session, filter=filter, first=first, after=after, columns=columns
            )
    return _split(rows, has_next, columns)


def _split(rows: list[dict[str, Any]], has_next: bool, columns: dict[str, tuple[str, ...]]) -> Page:
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
    return Page(entries, has_next, related)


@dataclass(frozen=True)
class PageRequest:
    filter: EntryFilter
    first: int
    after: tuple[datetime, str] | None = None


async def entry_pages(
    db: Database,
    requests: Sequence[PageRequest],
    *,
    reads: Mapping[str, Collection[str] | None] | None = None,
) -> list[Page]:
    """Several pages (one per parent of a nested connection) in ONE statement: each
    page's own select, with its own filter, cursor and limit, as a subquery of a UNION
    ALL; ``reads`` as for ``entry_page``."""
    if len(requests) == 1:
        (only,) = requests
        return [
            await entry_page(
                db, filter=only.filter, first=only.first, after=only.after, reads=reads
            )
        ]
    columns = _columns(reads)
    wanted = tuple(sorted((name, tuple(sorted(names))) for name, names in columns.items()))
    joined, selected = _shape(wanted)
    parts = []
    for index, r in enumerate(requests):
        part = (
            select(literal(index).label("page__index"), *selected)
            .select_from(joined)
            .where(and_(*page_conditions(r.filter, after=r.after)))
            .order_by(_ENTRIES.c.started_at.desc(), _ENTRIES.c.id.desc())
            .limit(r.first + 1)
            .subquery()
        )
        parts.append(select(part))
    async with db.read_statement() as session:
        connection = await session.connection()
        result = await connection.execute(union_all(*parts))
        keys = list(result.keys())
        rows = [dict(zip(keys, row, strict=True)) for row in result.all()]
    by_page: list[list[dict[str, Any]]] = [[] for _ in requests]
    for row in rows:
        by_page[row["page__index"]].append(row)
    pages = []
    for r, page_rows in zip(requests, by_page, strict=True):
        page_rows.sort(key=lambda x: (x["entry__started_at"], x["entry__id"]), reverse=True)
        pages.append(_split(page_rows[: r.first], len(page_rows) > r.first, columns))
    return pages

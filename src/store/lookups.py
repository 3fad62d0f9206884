"""The relations the API reads by key, each declared once: rows of a table whose key
column is one of many keys, with the relation's own conditions and order.

``load`` reads one relation for any number of keys in ONE statement, run on the driver
connection (``store.direct``: no Session, no ORM loading; values through the column
types' processors, exactly as the ORM loads them). Rows come back as ``Record`` objects
read by attribute, like the models. The request loaders (``gql.schema.loaders``) and
every other reader of these relations go through here.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from sqlalchemy import ColumnElement, Dialect, Table, and_, bindparam, select
from sqlmodel import SQLModel

from store.db import Database
from store.direct import Statement, compile_statement, fetch
from store.entry_rules import is_live

Record = SimpleNamespace
Conditions = Callable[[Table], list[ColumnElement[bool]]]
Order = Callable[[Table], list[Any]]


@dataclass(frozen=True)
class Lookup:
    table: str
    key: str
    many: bool = False
    where: Conditions | None = None
    order: Order | None = None


TEAMS = Lookup("teams", "id")
USERS = Lookup("users", "id")
TASKS = Lookup("tasks", "id")
CATEGORIES = Lookup("categories", "id")
ENTRIES = Lookup("time_entries", "id")
COMMENTS = Lookup("comments", "id")
WEBHOOKS = Lookup("webhooks", "id")
ACCESS_TOKENS = Lookup("access_tokens", "id")
TAGS = Lookup("tags", "id")
TEAM_CATEGORIES = Lookup(
    "categories", "team_id", many=True, order=lambda t: [t.c.position, t.c.title, t.c.id]
)
TEAM_MEMBERS = Lookup(
    "memberships", "team_id", many=True, order=lambda t: [t.c.created_at, t.c.user_id]
)
# A team's tags, archived too, by name in any case (``store.tags.name_key``), then id.
TEAM_TAGS = Lookup("tags", "team_id", many=True, order=lambda t: [t.c.name_key, t.c.id])
USER_MEMBERSHIPS = Lookup("memberships", "user_id", many=True)
ENTRY_COMMENTS = Lookup(
    "comments", "time_entry_id", many=True, order=lambda t: [t.c.created_at, t.c.id]
)
# An entry's change history (store.history), oldest first: the index (entry_id, at, id).
ENTRY_HISTORY = Lookup("entry_changes", "entry_id", many=True, order=lambda t: [t.c.at, t.c.id])
TEAM_RUNNING = Lookup(
    "time_entries",
    "team_id",
    many=True,
    where=lambda t: [is_live(t)],
    order=lambda t: [t.c.started_at.desc(), t.c.id.desc()],
)
# One running entry per user (the store keeps it so).
USER_RUNNING = Lookup("time_entries", "user_id", where=lambda t: [is_live(t)])


@functools.lru_cache(maxsize=1024)
def _statement(lookup: Lookup, count: int, dialect: Dialect) -> Statement:
    table: Table = SQLModel.metadata.tables[lookup.table]
    keys = [bindparam(f"k{i}", type_=table.c[lookup.key].type) for i in range(count)]
    conditions = [table.c[lookup.key].in_(keys), *(lookup.where(table) if lookup.where else [])]
    stmt = select(table).where(and_(*conditions))
    if lookup.order is not None:
        stmt = stmt.order_by(*lookup.order(table))
    return compile_statement(stmt, dialect)


async def load(db: Database, lookup: Lookup, keys: Sequence[str]) -> dict[str, Any]:
    """``{key: Record}`` (or ``{key: [Record, ...]}`` for a to-many relation) for the keys
    that have rows."""
    if not keys:
        return {}
    statement = _statement(lookup, len(keys), db.engine.sync_engine.dialect)
    rows = await fetch(db, statement, {f"k{i}": k for i, k in enumerate(keys)})
    key = lookup.key
    if not lookup.many:
        return {row[key]: Record(**row) for row in rows}
    out: dict[str, list[Any]] = {}
    for row in rows:
        out.setdefault(row[key], []).append(Record(**row))
    return out

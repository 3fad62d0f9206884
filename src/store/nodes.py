"""Which table holds an id: the look-up behind ``node(id:)`` and ``nodes(ids:)``.

Every entity id is a ULID, and all but one are made by the server, so an id names one
row of one table; a time entry's id may be chosen by its client, and may then equal the
id of another entity. The kinds are listed in the order they win such a tie: the
server's ids first, the client-chosen entry id last (that entry is still found by
``timeEntry(id:)``). One statement for any number of ids: a ``UNION ALL`` over the
tables, run on the driver (``store.direct``).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from sqlalchemy import Dialect, String, bindparam, literal_column, select, union_all
from sqlmodel import SQLModel

from store.db import Database
from store.direct import Statement, compile_statement, fetch

# Kind -> table, in the order a shared id resolves (see the module's docstring).
TABLES: dict[str, str] = {
    "team": "teams",
    "user": "users",
    "category": "categories",
    "task": "tasks",
    "comment": "comments",
    "webhook": "webhooks",
    "access_token": "access_tokens",
    "tag": "tags",
    "entry": "time_entries",
}


@functools.lru_cache(maxsize=128)
def _statement(count: int, dialect: Dialect) -> Statement:
    keys = [bindparam(f"k{i}", type_=String()) for i in range(count)]
    parts = []
    for kind, name in TABLES.items():
        table = SQLModel.metadata.tables[name]
        parts.append(
            select(
                literal_column(f"'{kind}'", String()).label("kind"), table.c.id.label("id")
            ).where(table.c.id.in_(keys))
        )
    return compile_statement(union_all(*parts), dialect)


async def kinds_of(db: Database, ids: Sequence[str]) -> dict[str, list[str]]:
    """``{id: [kind, ...]}`` for the ids some table holds, kinds in ``TABLES`` order."""
    if not ids:
        return {}
    statement = _statement(len(ids), db.engine.sync_engine.dialect)
    rows = await fetch(db, statement, {f"k{i}": k for i, k in enumerate(ids)})
    rank = {kind: n for n, kind in enumerate(TABLES)}
    out: dict[str, list[str]] = {}
    for row in sorted(rows, key=lambda r: rank[r["kind"]]):
        out.setdefault(row["id"], []).append(row["kind"])
    return out

"""Statements run on the driver connection itself, for the few that every request runs.

A Session (or even a Connection) around one small statement costs more CPU than the
statement: pool checkout events, a transaction object, a greenlet hop per call, ORM row
loading. These statements are built with SQLAlchemy Core from the models' tables and
compiled once per dialect; parameters and results go through the column types' own bind
and result processors, so the values are exactly what the ORM would bind and load.
Engine listeners (statement counters, SQL logs) still see every statement.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Dialect, Engine
from sqlalchemy.sql.compiler import SQLCompiler

from store.db import Database

Process = Callable[[Any], Any] | None
Row = dict[str, Any]


@dataclass(frozen=True)
class Statement:
    """A compiled statement: its SQL, its positional parameters (name and bind processor)
    and, for a SELECT, its result columns (label and result processor)."""

    sql: str
    params: tuple[tuple[str, Process], ...]
    columns: tuple[tuple[str, Process], ...] = ()
    # Labels "<prefix>__<column>" by prefix: (label, column) pairs.
    groups: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)

    def part(self, row: Row, prefix: str) -> Row:
        """The ``prefix__`` columns of a row, by column name."""
        return {column: row[label] for label, column in self.groups[prefix]}

    def args(self, values: dict[str, Any]) -> list[Any]:
        out = []
        for name, process in self.params:
            value = values[name]
            out.append(value if process is None else process(value))
        return out

    def rows(self, raw: Iterable[Sequence[Any]]) -> list[Row]:
        """Driver rows as ``{label: value}``, each value loaded as its column type says."""
        columns = self.columns
        out = []
        for values in raw:
            row = {}
            for (label, process), value in zip(columns, values, strict=True):
                row[label] = value if process is None else process(value)
            out.append(row)
        return out


def compile_statement(statement: Any, dialect: Dialect) -> Statement:
    compiled = statement.compile(dialect=dialect)
    assert isinstance(compiled, SQLCompiler)
    binds, names = compiled.binds, compiled.positiontup or ()
    columns: tuple[tuple[str, Process], ...] = ()
    if getattr(statement, "is_select", False):
        columns = tuple(
            (str(c.key), c.type.dialect_impl(dialect).result_processor(dialect, None))
            for c in statement.selected_columns
        )
    groups: dict[str, list[tuple[str, str]]] = {}
    for label, _ in columns:
        prefix, sep, column = label.partition("__")
        if sep:
            groups.setdefault(prefix, []).append((label, column))
    return Statement(
        compiled.string,
        tuple(
            (name, binds[name].type.dialect_impl(dialect).bind_processor(dialect)) for name in names
        ),
        columns,
        {prefix: tuple(pairs) for prefix, pairs in groups.items()},
    )


def announce(engine: Engine, sql: str, args: Sequence[Any]) -> None:
    """Tell the engine's ``before_cursor_execute`` listeners about a statement run on the
    driver (they get no connection or cursor)."""
    engine.dispatch.before_cursor_execute(None, None, sql, tuple(args), None, False)


async def fetch(db: Database, statement: Statement, values: dict[str, Any]) -> list[Row]:
    """Run a SELECT on a pooled connection's driver, outside any transaction (it sees its
    own snapshot), as ``Database.read_statement`` would."""
    return statement.rows(await fetch_raw(db, statement.sql, statement.args(values)))


async def fetch_raw(db: Database, sql: str, args: list[Any]) -> Iterable[Sequence[Any]]:
    """The driver's own rows of a SELECT (compiled for ``db``'s dialect), announced to the
    engine's listeners, on a pooled connection outside any transaction."""
    announce(db.engine.sync_engine, sql, args)
    async with db.driver_connection() as driver:
        if db.dialect == "sqlite":
            rows: Iterable[Sequence[Any]] = await driver.execute_fetchall(sql, args)
        else:
            rows = await driver.fetch(sql, *args)
    return rows

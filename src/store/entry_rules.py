"""The rules of an entry that both Python and SQL evaluate, each pair written side by side
and tested against each other on both databases (``tests/store/test_entry_rules.py``):

- the effective category: the task's for TASK scope, the entry's own otherwise;
- seconds worked: the stored duration, or for a running entry the time up to now (never
  below 0, never past the 24-hour limit at which the server stops a timer);
- live entries: running and not deleted;
- money that never moves: a LOCKED (or INVOICED) entry's rounded seconds and amount are
  the ones frozen when it was locked;
- a description that contains a text, whatever the case (``descriptionContains``).

The GraphQL resolvers, the compiled read path and the reports call these; nothing else
writes them again.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    Integer,
    String,
    and_,
    case,
    cast,
    extract,
    func,
    literal,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.selectable import FromClause

from store.money import amount_cents, rounded_seconds
from store.types import UTCDateTime

# The longest any team lets a timer run (``Team.max_timer_hours`` is 1 to this; the rule is
# ``store.rules.timer_limit``). A running entry's duration is clamped to it: a timer of a
# team with a lower limit is stopped by the server's sweep within a second of its limit, so
# it reads past that limit only in that second (or while no instance sweeps).
MAX_TIMER_HOURS: Final = 24
MAX_RUNNING_SECONDS: Final = MAX_TIMER_HOURS * 3600
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)


# --- the effective category ---------------------------------------------------------------


def effective_category_id(
    task_id: str | None, own_category_id: str | None, task_category_id: str | None
) -> str | None:
    """An entry's category: its task's when it has a task, else its own."""
    return task_category_id if task_id is not None else own_category_id


def effective_category_sql(entries: FromClause, tasks: FromClause) -> ColumnElement[Any]:
    """:func:`effective_category_id` of each row of ``entries`` joined to its ``tasks``."""
    return case(
        (entries.c.task_id.is_not(None), tasks.c.category_id),
        else_=entries.c.category_id,
    )


# --- seconds worked -----------------------------------------------------------------------


def entry_seconds(duration_seconds: int | None, started_at: datetime, now: datetime) -> int:
    """Seconds worked: the stored duration, or a running entry's time up to ``now``,
    truncated, clamped to 0 .. 24 hours."""
    if duration_seconds is not None:
        return duration_seconds
    return min(MAX_RUNNING_SECONDS, max(0, int((now - started_at).total_seconds())))


def _started_utc_microseconds_sqlite(entries: FromClause) -> ColumnElement[int]:
    # The column is 'YYYY-MM-DD HH:MM:SS.ffffff' (naive UTC): whole seconds, then micros.
    # strftime() alone would round the fraction to milliseconds (.9999995 s up to a second).
    started = entries.c.started_at
    whole = cast(func.strftime("%s", func.substr(started, 1, 19)), Integer)
    return whole * 1_000_000 + cast(func.substr(started, 21, 6), Integer)


def _running_seconds_sql(entries: FromClause, dialect: str, now: datetime) -> ColumnElement[int]:
    if dialect == "postgresql":
        elapsed = extract("epoch", literal(now, UTCDateTime()) - entries.c.started_at)
        return cast(
            func.least(MAX_RUNNING_SECONDS, func.greatest(0, func.floor(elapsed))), BigInteger
        )
    now_us = (now - _EPOCH) // _MICROSECOND
    # Integer division truncates toward zero; max() clamps a start after now to 0.
    micros = literal(now_us, BigInteger) - _started_utc_microseconds_sqlite(entries)
    return func.min(MAX_RUNNING_SECONDS, func.max(0, micros // 1_000_000))


def entry_seconds_sql(entries: FromClause, dialect: str, now: datetime) -> ColumnElement[int]:
    """:func:`entry_seconds` of each row of ``entries``."""
    return func.coalesce(
        cast(entries.c.duration_seconds, BigInteger), _running_seconds_sql(entries, dialect, now)
    )


# --- live entries -------------------------------------------------------------------------


def is_live_entry(stopped_at: datetime | None, deleted_at: datetime | None) -> bool:
    return stopped_at is None and deleted_at is None


def is_live(entries: FromClause) -> ColumnElement[bool]:
    """:func:`is_live_entry` of each row of ``entries``."""
    return and_(entries.c.stopped_at.is_(None), entries.c.deleted_at.is_(None))


# --- money that never moves ---------------------------------------------------------------


def entry_rounded_seconds(
    frozen: int | None, seconds: int, rounding: str, rounding_minutes: int
) -> int:
    """The rounded seconds frozen at the lock, else ``seconds`` rounded by the team."""
    return frozen if frozen is not None else rounded_seconds(seconds, rounding, rounding_minutes)


def entry_amount_cents(frozen: int | None, rate_cents: int, rounded: int, *, billable: bool) -> int:
    """The amount frozen at the lock, else the billable amount of ``rounded`` seconds."""
    return frozen if frozen is not None else amount_cents(rate_cents, rounded, billable=billable)


def frozen_or(entries: FromClause, name: str, computed: ColumnElement[int]) -> ColumnElement[int]:
    """In SQL, the frozen column ``name`` of a locked entry, else ``computed``."""
    return func.coalesce(cast(entries.c[name], BigInteger), computed)


# --- a description that contains a text, whatever the case --------------------------------

SQLITE_FOLD_FUNCTION: Final = "pc_fold_case"
# The two letters whose Python ``str.lower()`` is not the per-letter simple lowercase
# mapping: İ (U+0130) lowers to "i" plus a combining dot, and Σ to ς at the end of a word.
_SIMPLE_LOWER: Final = {0x130: "i", 0x3A3: "\u03c3"}


def fold_case(text: str) -> str:
    """Each letter's Unicode simple lowercase mapping: what PostgreSQL's ``lower()`` gives
    under a UTF-8 ``LC_CTYPE`` (libc), letter for letter over the whole of Unicode
    (``tests/store/test_entry_rules.py`` compares every code point). SQLite's own
    ``lower()`` and ``LIKE`` fold ASCII only, so SQLite calls this one
    (``SQLITE_FOLD_FUNCTION``, registered with the report functions on each connection).
    Not ``str.casefold``: "ß" would match "ss" on SQLite and not on PostgreSQL."""
    return text.translate(_SIMPLE_LOWER).lower()


def description_contains(description: str | None, text: str) -> bool:
    """Whether ``description`` holds ``text``, case aside (each folded by
    :func:`fold_case`); characters match literally, ``%`` and ``_`` too. No description
    holds nothing."""
    return description is not None and fold_case(text) in fold_case(description)


class _folded(FunctionElement[str]):
    """:func:`fold_case` in SQL: ``lower()`` on PostgreSQL, the Python function on SQLite."""

    type = String()
    inherit_cache = True
    name = "fold_case"


@compiles(_folded)
def _folded_postgresql(element: _folded, compiler: SQLCompiler, **kw: Any) -> str:
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(_folded, "sqlite")
def _folded_sqlite(element: _folded, compiler: SQLCompiler, **kw: Any) -> str:
    return f"{SQLITE_FOLD_FUNCTION}({compiler.process(element.clauses, **kw)})"


class _holds(FunctionElement[bool]):
    """Whether the first argument holds the second: ``strpos`` on PostgreSQL, ``instr`` on
    SQLite. A position, not ``LIKE``: no wildcard to escape, ``%`` and ``_`` are letters."""

    type = Boolean()
    inherit_cache = True
    name = "holds"


@compiles(_holds)
def _holds_postgresql(element: _holds, compiler: SQLCompiler, **kw: Any) -> str:
    return f"(strpos({compiler.process(element.clauses, **kw)}) > 0)"


@compiles(_holds, "sqlite")
def _holds_sqlite(element: _holds, compiler: SQLCompiler, **kw: Any) -> str:
    return f"(instr({compiler.process(element.clauses, **kw)}) > 0)"


def description_contains_sql(entries: FromClause, text: str) -> ColumnElement[bool]:
    """:func:`description_contains` of each row of ``entries``."""
    needle = literal(text, String())
    return _holds(_folded(entries.c.description), _folded(needle))


def register_sqlite_functions(dbapi_connection: Any) -> None:
    """The SQLite function :func:`description_contains_sql` calls, on a DBAPI connection."""
    dbapi_connection.create_function(SQLITE_FOLD_FUNCTION, 1, _fold_or_null, deterministic=True)


def _fold_or_null(text: str | None) -> str | None:
    return None if text is None else fold_case(text)

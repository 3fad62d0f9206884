"""Keyset pages in both directions (the Relay cursor spec's ``first``/``after`` and
``last``/``before``), for any ordering of rows.

A page is read in ONE statement: the rows of the window, one more to tell whether the
page is full, and, when the page starts at a cursor, a one-row probe of the other side
of that cursor (``hasPreviousPage`` after ``after``, ``hasNextPage`` before ``before``),
as parts of a ``UNION ALL`` told apart by the ``page__probe`` column. A backward page
is read in the reverse order (the rows nearest ``before`` first) and handed back in the
connection's own order. Hand-written: SQLAlchemy has no keyset paging, and the libraries
that add it (sqlakeyset) run a statement per page and know no probe.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, and_, literal, or_, select, union_all
from sqlalchemy.sql import Executable

T = TypeVar("T")

# The connection's order: (column, descending) pairs, the last one unique (the id).
Order = Sequence[tuple[ColumnElement[Any], bool]]
PROBE = "page__probe"


@dataclass(frozen=True)
class Window:
    """Which rows of a connection a page takes: ``size`` of them after ``after`` (and
    before ``before``), or with ``backward`` the ``size`` nearest ``before`` (or the
    end). Cursors are the values of the order's columns (or bound parameters)."""

    size: int
    after: tuple[Any, ...] | None = None
    before: tuple[Any, ...] | None = None
    backward: bool = False


def beyond(
    order: Order, values: Sequence[Any], *, reverse: bool = False, inclusive: bool = False
) -> ColumnElement[bool]:
    """The rows strictly after ``values`` in ``order`` (with ``reverse``: before it;
    with ``inclusive``: the row at ``values`` too)."""
    clauses = []
    for i, (column, descending) in enumerate(order):
        same = [c == v for (c, _), v in zip(order[:i], values[:i], strict=True)]
        later = column < values[i] if descending != reverse else column > values[i]
        clauses.append(and_(*same, later))
    if inclusive:
        clauses.append(and_(*(c == v for (c, _), v in zip(order, values, strict=True))))
    return or_(*clauses)


def _sorted(order: Order, *, reverse: bool) -> list[Any]:
    return [(c.desc() if descending != reverse else c.asc()) for c, descending in order]


def page_selects(
    base: Select[Any],
    order: Order,
    conditions: Sequence[ColumnElement[bool]],
    window: Window,
    *,
    limit: Any = None,
) -> list[Select[Any]]:
    """The parts of a page's statement, ``base`` (the selected columns and joins) with
    ``conditions`` (the connection's filter): the window (``limit``, default ``size + 1``
    rows, nearest the cursor first) and, for a page that starts at a cursor, the probe:
    the nearest row on the cursor's other side, the cursor's own included (read from
    the cursor on, in the order's index). Each part has a ``page__probe`` column (0 or
    1); run one part alone, or all of them (of one or many pages) as subqueries of a
    ``UNION ALL``."""
    keyset = list(conditions)
    if window.after is not None:
        keyset.append(beyond(order, window.after))
    if window.before is not None:
        keyset.append(beyond(order, window.before, reverse=True))
    backward = window.backward
    rows = (
        base.add_columns(literal(0).label(PROBE))
        .where(and_(*keyset))
        .order_by(*_sorted(order, reverse=backward))
        .limit(window.size + 1 if limit is None else limit)
    )
    start = window.before if backward else window.after
    if start is None:
        return [rows]
    other_side = beyond(order, start, reverse=not backward, inclusive=True)
    probe = (
        base.add_columns(literal(1).label(PROBE))
        .where(and_(*conditions, other_side))
        .order_by(*_sorted(order, reverse=not backward))
        .limit(1)
    )
    return [rows, probe]


def union(parts: Sequence[Select[Any]]) -> Executable:
    """One part as it is; several as subqueries of a UNION ALL (each keeps its own
    order and limit)."""
    if len(parts) == 1:
        return parts[0]
    return union_all(*(select(p.subquery()) for p in parts))


def cut(
    rows: Sequence[T],
    window: Window,
    *,
    probe: Callable[[T], Any],
    key: Callable[[T], Any],
    descending: bool,
) -> tuple[list[T], bool, bool]:
    """A page's rows in the connection's order (``key``, ``descending``), whether
    another page follows and whether one precedes, from the rows its parts read."""
    found = any(probe(r) for r in rows)
    page = sorted((r for r in rows if not probe(r)), key=key, reverse=descending)
    more = len(page) > window.size
    if window.backward:  # the extra row is the farthest from `before`: the first
        return (page[1:] if more else page), found, more
    return page[: window.size], more, found

"""The columns of the CSV exports, and each cell as text.

Every computed value comes from the rule the API answers with: seconds worked, rounded
seconds and amount from ``store.entry_rules`` (as ``TimeEntry.durationSeconds``,
``roundedSeconds`` and ``amountCents``), ``H:MM`` from ``formattedDuration``'s function,
instants in the ``DateTime`` scalar's form (UTC, whole seconds, ``Z``), decimals from
integer cents (``store.money.format_cents``). README's column tables list these headers;
a test holds them equal.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any, Final

from gql.schema.scalars import serialize_datetime
from gql.schema.types.entry import format_duration
from store.entry_rules import entry_amount_cents, entry_rounded_seconds, entry_seconds
from store.money import format_cents
from store.reports import ReportRow, ReportSums

ENTRY_HEADER: Final = (
    "id",
    "teamId",
    "teamName",
    "userId",
    "userNickname",
    "taskId",
    "taskKey",
    "taskTitle",
    "categoryId",
    "categoryTitle",
    "scopeType",
    "startedAt",
    "stoppedAt",
    "running",
    "workDate",
    "description",
    "billable",
    "status",
    "inputType",
    "source",
    "durationSeconds",
    "duration",
    "roundedSeconds",
    "rateCents",
    "amountCents",
    "amount",
    "deletedAt",
)
# Cells a spreadsheet would read as a formula (OWASP's "CSV injection"): with
# ``excel=true`` a text cell starting with one of these gets a leading apostrophe.
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")
# The free texts of an export: only these are guarded (ids, numbers, instants never start so).
_TEXTS: Final = frozenset(
    {
        "teamName",
        "userNickname",
        "taskKey",
        "taskTitle",
        "categoryTitle",
        "tagName",
        "description",
    }
)


def text(value: Any) -> str:
    """A cell: empty for null, ``true``/``false``, instants in the API's form."""
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, datetime):
        return serialize_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def guard_formula(cell: str) -> str:
    return "'" + cell if cell.startswith(_FORMULA_START) else cell


def _guarded(header: Sequence[str]) -> list[bool]:
    return [name in _TEXTS for name in header]


def entry_row(row: Any, now: datetime) -> list[str]:
    """An entry's cells (``store.entry_export``'s row), in ``ENTRY_HEADER``'s order;
    a running entry counts up to ``now`` (the request's instant), as in the API."""
    seconds = entry_seconds(row.duration_seconds, row.started_at, now)
    rounded = entry_rounded_seconds(
        row.frozen_rounded_seconds, seconds, row.team_rounding, row.team_rounding_minutes
    )
    cents = entry_amount_cents(
        row.frozen_amount_cents, row.rate_snapshot_cents, rounded, billable=bool(row.billable)
    )
    return [
        text(v)
        for v in (
            row.id,
            row.team_id,
            row.team_name,
            row.user_id,
            row.user_nickname,
            row.task_id,
            row.task_key,
            row.task_title,
            row.category_id,
            row.category_title,
            row.scope_type,
            row.started_at,
            row.stopped_at,
            row.stopped_at is None,
            row.work_date,
            row.description,
            bool(row.billable),
            row.status,
            row.input_type,
            row.source,
            seconds,
            format_duration(seconds),
            rounded,
            row.rate_snapshot_cents,
            cents,
            format_cents(cents),
            row.deleted_at,
        )
    ]


# --- the report --------------------------------------------------------------------------

# The columns each group key adds, and how each is read from a bucket and the objects it
# refers to (``Names``).
Names = dict[str, dict[str, Any]]  # "users"/"teams"/"tasks"/"categories" -> id -> row
_KEY_COLUMNS: Final[dict[str, tuple[tuple[str, Callable[[ReportRow, Names], Any]], ...]]] = {
    "USER": (
        ("userId", lambda b, _: b.user_id),
        ("userNickname", lambda b, n: _attr(n, "users", b.user_id, "nickname")),
    ),
    "TEAM": (
        ("teamId", lambda b, _: b.team_id),
        ("teamName", lambda b, n: _attr(n, "teams", b.team_id, "name")),
    ),
    "TASK": (
        ("taskId", lambda b, _: b.task_id),
        ("taskKey", lambda b, n: _attr(n, "tasks", b.task_id, "key")),
        ("taskTitle", lambda b, n: _attr(n, "tasks", b.task_id, "title")),
    ),
    "CATEGORY": (
        ("categoryId", lambda b, _: b.category_id),
        ("categoryTitle", lambda b, n: _attr(n, "categories", b.category_id, "title")),
    ),
    "SCOPE": (("scopeType", lambda b, _: b.scope_type),),
    "DAY": (("day", lambda b, _: b.day),),
    "WEEK": (("week", lambda b, _: b.week),),
    "MONTH": (("month", lambda b, _: b.month),),
    "BILLABLE": (("billable", lambda b, _: b.billable),),
    "STATUS": (("status", lambda b, _: b.status),),
    "INPUT_TYPE": (("inputType", lambda b, _: b.input_type),),
    "TAG": (
        ("tagId", lambda b, _: b.tag_id),
        ("tagName", lambda b, n: _attr(n, "tags", b.tag_id, "name")),
    ),
}
SUM_HEADER: Final = (
    "totalSeconds",
    "totalDuration",
    "roundedSeconds",
    "roundedDuration",
    "totalCents",
    "total",
    "entryCount",
    "runningCount",
)
BUCKET, TOTALS = "bucket", "total"


def _attr(names: Names, kind: str, key: str | None, attr: str) -> Any:
    found = names.get(kind, {}).get(key) if key is not None else None
    return getattr(found, attr) if found is not None else None


def report_header(group_by: Sequence[str]) -> list[str]:
    """``row`` (``bucket`` or ``total``), the keys' columns in ``group_by``'s order, the sums."""
    keys = [name for key in group_by for name, _ in _KEY_COLUMNS[key]]
    return ["row", *keys, *SUM_HEADER]


def _sums(s: ReportSums) -> list[str]:
    return [
        text(v)
        for v in (
            s.total_seconds,
            format_duration(s.total_seconds),
            s.rounded_seconds,
            format_duration(s.rounded_seconds),
            s.total_cents,
            format_cents(s.total_cents),
            s.entry_count,
            s.running_count,
        )
    ]


def report_row(bucket: ReportRow, group_by: Sequence[str], names: Names) -> list[str]:
    keys = [text(read(bucket, names)) for key in group_by for _, read in _KEY_COLUMNS[key]]
    return [BUCKET, *keys, *_sums(bucket.sums)]


def totals_row(totals: ReportSums, group_by: Sequence[str]) -> list[str]:
    """The sums over every bucket, the key columns empty."""
    width = sum(len(_KEY_COLUMNS[key]) for key in group_by)
    return [TOTALS, *([""] * width), *_sums(totals)]


def guarded_rows(header: Sequence[str]) -> Callable[[list[str]], list[str]]:
    """For ``excel=true``: a row's free texts guarded against formulas."""
    which = _guarded(header)

    def guard(cells: list[str]) -> list[str]:
        return [guard_formula(c) if g else c for c, g in zip(cells, which, strict=True)]

    return guard


# --- file names ---------------------------------------------------------------------------

_NOT_SLUG: Final = re.compile(r"[^a-z0-9]+")


def slug(name: str) -> str:
    """ASCII, lower case, words joined by ``-``: "Café Zürich" -> "cafe-zurich"."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return _NOT_SLUG.sub("-", ascii_name.lower()).strip("-")[:60].strip("-")


def file_name(
    team_name: str | None, kind: str, start: datetime | None, end: datetime | None
) -> str:
    """``acme_time-entries_2026-11-01_2026-12-01.csv``: the team, what, the range of
    ``from`` (inclusive) and ``to`` (exclusive) as UTC dates, ``all`` without them."""
    parts = [slug(team_name or "") or "team", kind]
    if start is None and end is None:
        parts.append("all")
    else:
        parts.append(start.date().isoformat() if start else "start")
        parts.append(end.date().isoformat() if end else "now")
    return "_".join(parts) + ".csv"

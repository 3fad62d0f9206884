"""Time reports: entries summed per group, grouped and summed in SQL on both databases.

Every entry is rounded and priced on its own, exactly as :mod:`store.money` defines it, so a
report's cents are the sum of its entries' ``amountCents``. Day, week and month are the local
dates of ``started_at`` in a given IANA time zone: PostgreSQL converts with ``AT TIME ZONE``;
SQLite has no time zones, so it calls :func:`local_bucket`, registered on each connection by
:func:`register_sqlite_functions`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Date,
    and_,
    case,
    cast,
    func,
    literal,
    select,
)
from sqlalchemy.sql.selectable import FromClause, Subquery
from sqlmodel.ext.asyncio.session import AsyncSession

from store import entry_rules
from store.entries import EntryFilter, entry_conditions
from store.entry_rules import effective_category_sql, entry_seconds_sql, frozen_or
from store.models import EntryStatus, InputType, Rounding, ScopeType, metadata

# Group keys, in the contract's order, and the bucket attribute each one fills.
KEY_COLUMNS: Final[dict[str, str]] = {
    "USER": "user_id",
    "TEAM": "team_id",
    "TASK": "task_id",
    "CATEGORY": "category_id",
    "SCOPE": "scope_type",
    "DAY": "day",
    "WEEK": "week",
    "MONTH": "month",
    "BILLABLE": "billable",
    "STATUS": "status",
    "INPUT_TYPE": "input_type",
    # Grouped by TAG (issue 20), an entry counts in the bucket of each of its tags
    # (archived ones too), an untagged entry in the null tag's; the totals still count
    # every entry once.
    "TAG": "tag_id",
}
MAX_KEYS: Final = 3
SQLITE_BUCKET_FUNCTION: Final = "pc_local_bucket"
_REGISTERED: Final = "punchclock_report_functions"
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)
_SECOND: Final = timedelta(seconds=1)
_DAY: Final = timedelta(days=1)
_LAST_OF_HOUR: Final = timedelta(hours=1) - _MICROSECOND
_ENTRIES: Final = metadata.tables["time_entries"]
_TASKS: Final = metadata.tables["tasks"]
_TEAMS: Final = metadata.tables["teams"]
_ENTRY_TAGS: Final = metadata.tables["entry_tags"]


@dataclass(frozen=True, slots=True)
class ReportSums:
    total_seconds: int = 0
    rounded_seconds: int = 0
    total_cents: int = 0
    entry_count: int = 0
    running_count: int = 0

    def __add__(self, other: ReportSums) -> ReportSums:
        return ReportSums(
            self.total_seconds + other.total_seconds,
            self.rounded_seconds + other.rounded_seconds,
            self.total_cents + other.total_cents,
            self.entry_count + other.entry_count,
            self.running_count + other.running_count,
        )


@dataclass(frozen=True, slots=True)
class ReportRow:
    """One bucket: the values of its group keys (the others None) and its sums."""

    sums: ReportSums
    user_id: str | None = None
    team_id: str | None = None
    task_id: str | None = None
    category_id: str | None = None
    scope_type: str | None = None
    day: date | None = None
    week: date | None = None
    month: date | None = None
    billable: bool | None = None
    status: str | None = None
    input_type: str | None = None
    tag_id: str | None = None


@dataclass(frozen=True, slots=True)
class ReportRows:
    group_by: tuple[str, ...]
    buckets: list[ReportRow]
    totals: ReportSums


class ReportError(ValueError):
    """A request the report cannot answer: bad keys, time zone or week start."""


# --- time zones --------------------------------------------------------------------------


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; :class:`ReportError` when there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ReportError(
            f"Unknown time zone {name!r}: use an IANA name such as Europe/Berlin."
        ) from exc


def bucket_date(local: date, kind: str, week_start: int) -> date:
    """The first day of the DAY, WEEK (starting on ``week_start``, 1=Monday) or MONTH."""
    if kind == "DAY":
        return local
    if kind == "WEEK":
        return local - timedelta(days=(local.isoweekday() - week_start) % 7)
    if kind == "MONTH":
        return local.replace(day=1)
    raise ValueError(f"unknown bucket kind {kind!r}")


@lru_cache(maxsize=65_536)
def _hour_plan(utc_hour: str, tz: str, kind: str, week_start: int) -> tuple[str, int, str] | None:
    """For the UTC hour ``utc_hour`` ('YYYY-MM-DD HH'): the bucket of its first instant, the
    second of the hour at which the local date turns (3600 or more: it does not), and the
    bucket after that. None when the zone's offset changes within the hour.

    tzdata offsets are whole seconds and never change twice within an hour, so equal offsets
    at both ends mean one offset all through, and the local date turns at most once.
    """
    start = datetime.strptime(utc_hour, "%Y-%m-%d %H").replace(tzinfo=UTC)
    z = zone(tz)
    offset = start.astimezone(z).utcoffset()
    if offset is None or offset != (start + _LAST_OF_HOUR).astimezone(z).utcoffset():
        return None
    local = (start + offset).replace(tzinfo=None)
    first = local.date()
    turns = (datetime.combine(first + _DAY, datetime.min.time()) - local) // _SECOND
    return (
        bucket_date(first, kind, week_start).isoformat(),
        turns,
        bucket_date(first + _DAY, kind, week_start).isoformat(),
    )


def local_bucket(utc_text: str | None, tz: str, kind: str, week_start: int) -> str | None:
    """SQLite's bucket function: naive UTC text as stored ('YYYY-MM-DD HH:MM:SS.ffffff')
    -> the local date that starts the bucket, as text. Called once per entry: the work per
    UTC hour is cached, leaving a lookup and a comparison."""
    if utc_text is None:
        return None
    plan = _hour_plan(utc_text[:13], tz, kind, week_start)
    if plan is None:
        instant = datetime.fromisoformat(utc_text).replace(tzinfo=UTC)
        return bucket_date(instant.astimezone(zone(tz)).date(), kind, week_start).isoformat()
    before, turns, after = plan
    second = int(utc_text[14:16]) * 60 + int(utc_text[17:19])
    return before if second < turns else after


def register_sqlite_functions(dbapi_connection: Any) -> None:
    """Register the report's SQL functions on a SQLite DBAPI connection (sqlite3, or
    SQLAlchemy's aiosqlite adapter), and the entry filter's (``entry_rules``); meant for
    the engine's ``connect`` event."""
    dbapi_connection.create_function(SQLITE_BUCKET_FUNCTION, 4, local_bucket, deterministic=True)
    entry_rules.register_sqlite_functions(dbapi_connection)


def _ensure_sqlite_functions(connection: Connection) -> None:
    # Per pooled DBAPI connection, once: a connect-event hook alone would miss the
    # connections that were opened before it was added.
    if connection.info.get(_REGISTERED):
        return
    register_sqlite_functions(connection.connection.dbapi_connection)
    connection.info[_REGISTERED] = True


# --- SQL expressions ---------------------------------------------------------------------


def _rounded(seconds: ColumnElement[int], mode: str, minutes: int) -> ColumnElement[int]:
    """``store.money.rounded_seconds`` in SQL. Durations are never negative, so the SQL
    integer division (truncating) is Python's floor division here."""
    step = max(1, minutes) * 60
    if mode == Rounding.FLOOR:
        return seconds // step * step
    if mode == Rounding.CEIL:
        return (seconds + (step - 1)) // step * step
    if mode == Rounding.NEAREST:
        return (seconds + step // 2) // step * step
    return seconds


def _rounded_by_team(
    seconds: ColumnElement[int], teams: Sequence[tuple[str, str, int]]
) -> ColumnElement[int]:
    # The teams' rules are read first and written into the statement: no join per entry.
    if len(teams) == 1:
        _, mode, minutes = teams[0]
        return _rounded(seconds, mode, minutes)
    if not teams:
        return seconds
    team_id = _ENTRIES.c.team_id
    return case(
        *((team_id == tid, _rounded(seconds, mode, minutes)) for tid, mode, minutes in teams),
        else_=seconds,
    )


def _cents(rate: ColumnElement[int], rounded: ColumnElement[int]) -> ColumnElement[int]:
    """``store.money.amount_cents`` of a billable entry, half up. Rates (0 to 10^8) and
    durations are never negative, so the truncating SQL division is floor division."""
    return (cast(rate, BigInteger) * rounded * 2 + 3600) // 7200


def _bucket(dialect: str, kind: str, time_zone: str, week_start: int) -> ColumnElement[date]:
    started = _ENTRIES.c.started_at
    if dialect == "postgresql":
        local = func.timezone(time_zone, started)  # started_at AT TIME ZONE :tz
        if kind == "DAY":
            return cast(local, Date)
        if kind == "MONTH":
            return cast(func.date_trunc("month", local), Date)
        # date_trunc('week') gives Mondays: shift so that week_start falls on a Monday.
        shift = week_start - 1
        if shift == 0:
            return cast(func.date_trunc("week", local), Date)
        back = local - literal(timedelta(days=shift))
        return cast(func.date_trunc("week", back), Date) + literal(shift)
    return getattr(func, SQLITE_BUCKET_FUNCTION)(started, time_zone, kind, week_start)  # type: ignore[no-any-return]


def _key_column(key: str, *, dialect: str, time_zone: str, week_start: int) -> ColumnElement[Any]:
    if key == "USER":
        return _ENTRIES.c.user_id
    if key == "TEAM":
        return _ENTRIES.c.team_id
    if key == "TASK":
        return _ENTRIES.c.task_id
    if key == "CATEGORY":
        return effective_category_sql(_ENTRIES, _TASKS)
    if key == "SCOPE":
        return _ENTRIES.c.scope_type
    if key in ("DAY", "WEEK", "MONTH"):
        return _bucket(dialect, key, time_zone, week_start)
    if key == "BILLABLE":
        return _ENTRIES.c.billable
    if key == "STATUS":
        return _ENTRIES.c.status
    if key == "INPUT_TYPE":
        return _ENTRIES.c.input_type
    if key == "TAG":
        return _ENTRY_TAGS.c.tag_id
    raise ReportError(f"Unknown group key {key!r}.")


def check_request(group_by: Sequence[str], time_zone: str, week_start: int) -> tuple[str, ...]:
    """The keys as a tuple once they, the time zone and the week start are valid."""
    keys = tuple(group_by)
    if not 1 <= len(keys) <= MAX_KEYS:
        raise ReportError(f"groupBy takes 1 to {MAX_KEYS} keys.")
    if len(set(keys)) != len(keys):
        raise ReportError("groupBy repeats a key.")
    unknown = [k for k in keys if k not in KEY_COLUMNS]
    if unknown:
        raise ReportError(f"Unknown group key {unknown[0]!r}.")
    if not 1 <= week_start <= 7:
        raise ReportError("weekStart is 1 (Monday) to 7 (Sunday).")
    zone(time_zone)
    return keys


def _entries(
    keys: tuple[str, ...],
    *,
    filter: EntryFilter,
    teams: Sequence[tuple[str, str, int]],
    time_zone: str,
    week_start: int,
    now: datetime,
    dialect: str,
) -> Subquery:
    """One row per entry: its group keys, seconds, rounded seconds, cents and running flag."""
    seconds = entry_seconds_sql(_ENTRIES, dialect, now)
    rounded = frozen_or(_ENTRIES, "frozen_rounded_seconds", _rounded_by_team(seconds, teams))
    columns: list[ColumnElement[Any]] = [
        _key_column(k, dialect=dialect, time_zone=time_zone, week_start=week_start).label(
            KEY_COLUMNS[k]
        )
        for k in keys
    ]
    columns += [
        seconds.label("seconds"),
        rounded.label("rounded"),
        frozen_or(
            _ENTRIES,
            "frozen_amount_cents",
            case((_ENTRIES.c.billable, _cents(_ENTRIES.c.rate_snapshot_cents, rounded)), else_=0),
        ).label("cents"),
        case((_ENTRIES.c.stopped_at.is_(None), 1), else_=0).label("running"),
    ]
    source: FromClause = _ENTRIES
    if "CATEGORY" in keys:
        source = source.outerjoin(_TASKS, _TASKS.c.id == _ENTRIES.c.task_id)
    if "TAG" in keys:  # a row per (entry, tag), one with a null tag for an untagged entry
        source = source.outerjoin(_ENTRY_TAGS, _ENTRY_TAGS.c.entry_id == _ENTRIES.c.id)
    return select(*columns).select_from(source).where(and_(*entry_conditions(filter))).subquery()


# --- ordering ----------------------------------------------------------------------------


def _enum_rank(members: Sequence[str]) -> Callable[[Any], tuple[int, str]]:
    order = {m: i for i, m in enumerate(members)}
    return lambda v: (order.get(v, len(order)), str(v))


_RANKS: Final[dict[str, Callable[[Any], Any]]] = {
    "scope_type": _enum_rank([m.value for m in ScopeType]),
    "status": _enum_rank([m.value for m in EntryStatus]),
    "input_type": _enum_rank([m.value for m in InputType]),
}


def sort_key(row: ReportRow, group_by: Sequence[str]) -> tuple[Any, ...]:
    """Buckets in the order of their keys, first key first: ids as text, dates in time,
    false before true, enums in their declared order (DRAFT before SUBMITTED ...); a null
    key (a CATEGORY-scoped entry's task, a task without category) after the others."""
    out: list[Any] = []
    for key in group_by:
        attr = KEY_COLUMNS[key]
        value = getattr(row, attr)
        rank = _RANKS.get(attr)
        out.append((value is None, (rank(value) if rank else value) if value is not None else 0))
    return tuple(out)


# --- the report --------------------------------------------------------------------------


def _as_date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def _convert(attr: str, value: Any) -> Any:
    if value is None:
        return None
    if attr in ("day", "week", "month"):
        return _as_date(value)
    if attr == "billable":
        return bool(value)
    return str(value)


async def time_report(
    session: AsyncSession,
    *,
    filter: EntryFilter,
    group_by: Sequence[str],
    time_zone: str,
    week_start: int,
    now: datetime,
    dialect: str,
) -> ReportRows:
    """The entries matching ``filter`` grouped by ``group_by`` (1 to 3 of KEY_COLUMNS),
    with days, weeks and months in ``time_zone`` and weeks starting on ``week_start``
    (1=Monday .. 7=Sunday). Running entries count up to ``now``."""
    keys = check_request(group_by, time_zone, week_start)
    conn = await session.connection()
    if dialect == "sqlite":
        await conn.run_sync(_ensure_sqlite_functions)
    team_rules = select(_TEAMS.c.id, _TEAMS.c.rounding, _TEAMS.c.rounding_minutes).where(
        _TEAMS.c.id.in_(filter.team_ids)
    )
    teams = [(t, r, m) for t, r, m in (await conn.execute(team_rules)).all()]

    def grouped(by: tuple[str, ...]) -> Any:
        per_entry = _entries(
            by,
            filter=filter,
            teams=teams,
            time_zone=time_zone,
            week_start=week_start,
            now=now,
            dialect=dialect,
        )
        group_columns = [per_entry.c[KEY_COLUMNS[k]] for k in by]
        return select(
            *group_columns,
            func.sum(per_entry.c.seconds),
            func.sum(per_entry.c.rounded),
            func.sum(per_entry.c.cents),
            func.count(),
            func.sum(per_entry.c.running),
        ).group_by(*group_columns)

    attrs = [KEY_COLUMNS[k] for k in keys]
    buckets: list[ReportRow] = []
    totals = ReportSums()
    for row in (await conn.execute(grouped(keys))).all():
        *values, seconds, rounded, cents, count, running = row
        sums = ReportSums(int(seconds), int(rounded), int(cents), int(count), int(running))
        totals += sums
        buckets.append(
            ReportRow(sums=sums, **{a: _convert(a, v) for a, v in zip(attrs, values, strict=True)})
        )
    if "TAG" in keys:  # an entry is in as many buckets as it has tags: sum it once
        row = (await conn.execute(grouped(()))).one()
        totals = ReportSums(*(int(v or 0) for v in row))
    buckets.sort(key=lambda b: sort_key(b, keys))
    return ReportRows(group_by=keys, buckets=buckets, totals=totals)

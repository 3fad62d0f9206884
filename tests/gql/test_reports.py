"""timeReport: timesheets, billable totals, time zones and DST, week starts, running and
deleted entries, rounding and half-up cents, errors, and that SQL does the grouping."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from gql.server.app import create_app
from gql.settings import Settings
from store.db import Database
from store.entries import EntryFilter
from store.ids import new_id
from store.models import Membership, TimeEntry
from store.reports import SQLITE_BUCKET_FUNCTION, register_sqlite_functions, time_report
from tests.conftest import GQL, QUIET
from tests.factories import TeamWorld, make_team

SUMS = "totalSeconds roundedSeconds totalCents entryCount runningCount"
REPORT = f"""query($f: TimeEntryFilter!, $g: [GroupBy!]!, $tz: String, $ws: Int) {{
  timeReport(filter: $f, groupBy: $g, timeZone: $tz, weekStart: $ws) {{
    groupBy timeZone weekStart
    buckets {{ user {{ nickname }} team {{ id }} task {{ key }} category {{ key }} scopeType
               day week month billable status inputType {SUMS} }}
    totals {{ {SUMS} }} }} }}"""
KEYS: tuple[str, ...] = ("user", "team", "task", "category", "scopeType", "day", "week")
KEYS += ("month", "billable", "status", "inputType")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def entry(
    world: TeamWorld,
    user_id: str,
    started_at: datetime,
    seconds: int | None,
    *,
    task: str | None = "T-1",
    category: str | None = None,
    billable: bool = True,
    rate: int = 6000,
    deleted: bool = False,
    status: str = "DRAFT",
    input_type: str = "MANUAL",
) -> TimeEntry:
    """A stopped entry of ``seconds``, or a running one when ``seconds`` is None."""
    return TimeEntry(
        id=new_id(),
        team_id=world.id,
        user_id=user_id,
        scope_type="CATEGORY" if category else "TASK",
        task_id=None if category else world.tasks[task or "T-1"],
        category_id=world.categories[category] if category else None,
        started_at=started_at,
        stopped_at=None if seconds is None else started_at + timedelta(seconds=seconds),
        duration_seconds=seconds,
        work_date=started_at.date(),
        billable=billable,
        rate_snapshot_cents=rate,
        status=status,
        input_type=input_type,
        deleted_at=utc(2026, 1, 1) if deleted else None,
    )


async def insert(db: Database, *entries: TimeEntry) -> None:
    async with db.write() as s:
        s.add_all(entries)
        await s.commit()


async def report(
    gql: GQL,
    world: TeamWorld,
    group_by: list[str],
    *,
    f: dict[str, Any] | None = None,
    tz: str | None = None,
    ws: int | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    body = await gql(
        REPORT,
        {"f": {"teamId": world.id, **(f or {})}, "g": group_by, "tz": tz, "ws": ws},
        token=token or world.owner.token,
    )
    assert body.get("errors") is None, body["errors"]
    result: dict[str, Any] = body["data"]["timeReport"]
    return result


def keyed(bucket: dict[str, Any], *names: str) -> tuple[Any, ...]:
    """The bucket's values of ``names``; objects by their first field."""
    out = []
    for name in names:
        value = bucket[name]
        out.append(next(iter(value.values())) if isinstance(value, dict) else value)
    return tuple(out)


def sums(bucket: dict[str, Any]) -> tuple[int, int, int, int, int]:
    return (
        bucket["totalSeconds"],
        bucket["roundedSeconds"],
        bucket["totalCents"],
        bucket["entryCount"],
        bucket["runningCount"],
    )


def only(bucket: dict[str, Any], *grouped: str) -> None:
    """Every key the report is not grouped by is null."""
    assert all(bucket[k] is None for k in KEYS if k not in grouped), bucket


# --- examples from the README ------------------------------------------------------------


async def test_weekly_timesheet_per_user(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a", time_zone="Europe/Berlin")
    m, a = world.member.id, world.admin.id
    await insert(
        db,
        entry(world, m, utc(2025, 3, 3, 8), 7200),  # Monday 09:00 Berlin
        entry(world, m, utc(2025, 3, 5, 12), 3600),
        entry(world, m, utc(2025, 3, 10, 8), 1800),  # next week
        # Sunday 23:30 in Berlin is still the week of March 3, though Monday in UTC+2.
        entry(world, a, utc(2025, 3, 9, 22, 30), 3600, rate=0),
    )
    r = await report(gql, world, ["USER", "WEEK"])
    assert r["groupBy"] == ["USER", "WEEK"]
    assert r["timeZone"] == "Europe/Berlin" and r["weekStart"] == 1
    got = [(*keyed(b, "user", "week"), *sums(b)) for b in r["buckets"]]
    by_id = sorted([(a, "a Admin"), (m, "a Member")])
    expected = {
        "a Admin": [("a Admin", "2025-03-03", 3600, 3600, 0, 1, 0)],
        "a Member": [
            ("a Member", "2025-03-03", 10800, 10800, 18000, 2, 0),
            ("a Member", "2025-03-10", 1800, 1800, 3000, 1, 0),
        ],
    }
    assert got == [row for _, name in by_id for row in expected[name]]
    for b in r["buckets"]:
        only(b, "user", "week")
    assert sums(r["totals"]) == (16200, 16200, 21000, 4, 0)


async def test_billable_totals_per_category_for_a_month(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a", time_zone="Europe/Berlin")
    m = world.member.id
    await insert(
        db,
        entry(world, m, utc(2025, 3, 3, 8), 3600, task="T-1"),  # category api
        entry(world, m, utc(2025, 3, 4, 8), 5400, task="T-2", rate=9000),  # category dev
        entry(world, m, utc(2025, 3, 5, 8), 1800, category="dev", rate=12000),
        entry(world, m, utc(2025, 3, 6, 8), 3600, billable=False),  # not billable
        entry(world, m, utc(2025, 2, 28, 22, 59), 3600),  # 23:59 on Feb 28 in Berlin
        entry(world, m, utc(2025, 3, 31, 21, 59), 3600),  # 23:59 on Mar 31 (CEST)
        entry(world, m, utc(2025, 3, 31, 22), 3600),  # April 1 in Berlin
    )
    march = {"from": "2025-03-01T00:00:00+01:00", "to": "2025-04-01T00:00:00+02:00"}
    r = await report(gql, world, ["CATEGORY"], f={**march, "billable": True})
    got = [(*keyed(b, "category"), *sums(b)) for b in r["buckets"]]
    api, dev = world.categories["api"], world.categories["dev"]
    rows = {
        api: ("api", 7200, 7200, 12000, 2, 0),
        dev: ("dev", 7200, 7200, 19500, 2, 0),
    }
    assert got == [rows[c] for c in sorted(rows)]
    assert sums(r["totals"]) == (14400, 14400, 31500, 4, 0)
    # The same month as a MONTH bucket, billable or not.
    by_month = await report(gql, world, ["MONTH", "BILLABLE"])
    assert [(*keyed(b, "month", "billable"), b["entryCount"]) for b in by_month["buckets"]] == [
        ("2025-02-01", True, 1),
        ("2025-03-01", False, 1),
        ("2025-03-01", True, 4),
        ("2025-04-01", True, 1),
    ]


# --- time zones, DST and week starts -----------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "starts", "days", "weeks"),
    [
        (
            "Europe/Berlin",
            # 01:30 CET on Sunday March 30; 00:30 CEST on Monday March 31 (22:30 UTC Sunday);
            # 00:30 CEST on Sunday October 26 (22:30 UTC Saturday); 00:30 CET Monday Oct 27.
            [
                utc(2025, 3, 30, 0, 30),
                utc(2025, 3, 30, 22, 30),
                utc(2025, 10, 25, 22, 30),
                utc(2025, 10, 26, 23, 30),
            ],
            ["2025-03-30", "2025-03-31", "2025-10-26", "2025-10-27"],
            ["2025-03-24", "2025-03-31", "2025-10-20", "2025-10-27"],
        ),
        (
            "America/New_York",
            # 00:30 EDT on Monday March 10 (would be Sunday in EST); 23:30 EST on Sunday
            # November 2 (would be Monday in EDT).
            [
                utc(2025, 3, 10, 4, 30),
                utc(2025, 3, 9, 3, 30),
                utc(2025, 11, 3, 4, 30),
                utc(2025, 11, 2, 3, 30),
            ],
            ["2025-03-10", "2025-03-08", "2025-11-02", "2025-11-01"],
            ["2025-03-10", "2025-03-03", "2025-10-27", "2025-10-27"],
        ),
    ],
)
async def test_days_and_weeks_across_dst(
    db: Database, gql: GQL, zone: str, starts: list[datetime], days: list[str], weeks: list[str]
) -> None:
    world = await make_team(db, "Acme", prefix="a", time_zone=zone)
    await insert(
        db, *(entry(world, world.member.id, s, 60 * (i + 1)) for i, s in enumerate(starts))
    )
    by_day = await report(gql, world, ["DAY"])
    assert [(b["day"], b["totalSeconds"]) for b in by_day["buckets"]] == sorted(
        zip(days, [60, 120, 180, 240], strict=True)
    )
    by_week = await report(gql, world, ["WEEK"])
    expected: dict[str, int] = {}
    for week, seconds in zip(weeks, [60, 120, 180, 240], strict=True):
        expected[week] = expected.get(week, 0) + seconds
    assert [(b["week"], b["totalSeconds"]) for b in by_week["buckets"]] == sorted(expected.items())
    # The same instants seen from UTC fall on other days.
    in_utc = await report(gql, world, ["DAY"], tz="UTC")
    assert in_utc["timeZone"] == "UTC"
    assert [b["day"] for b in in_utc["buckets"]] == sorted({s.date().isoformat() for s in starts})


async def test_week_start_sunday_from_the_team_or_the_argument(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a", time_zone="Asia/Tokyo", week_start=7)
    m = world.member.id
    await insert(
        db,
        entry(world, m, utc(2025, 3, 8, 14, 59), 60),  # Saturday 23:59 in Tokyo
        entry(world, m, utc(2025, 3, 8, 15), 120),  # Sunday 00:00 in Tokyo
        entry(world, m, utc(2025, 3, 9, 15), 180),  # Monday 00:00
    )
    sunday = await report(gql, world, ["WEEK"])
    assert sunday["weekStart"] == 7 and sunday["timeZone"] == "Asia/Tokyo"
    assert [(b["week"], b["totalSeconds"]) for b in sunday["buckets"]] == [
        ("2025-03-02", 60),
        ("2025-03-09", 300),
    ]
    monday = await report(gql, world, ["WEEK"], ws=1)
    assert monday["weekStart"] == 1
    assert [(b["week"], b["totalSeconds"]) for b in monday["buckets"]] == [
        ("2025-03-03", 180),
        ("2025-03-10", 180),
    ]
    wednesday = await report(gql, world, ["WEEK"], ws=3, tz="UTC")
    assert [(b["week"], b["totalSeconds"]) for b in wednesday["buckets"]] == [("2025-03-05", 360)]


async def test_year_end_months_and_weeks(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a", time_zone="Asia/Tokyo")
    m = world.member.id
    await insert(
        db,
        entry(world, m, utc(2025, 12, 31, 14, 59), 60),  # Dec 31 23:59 in Tokyo
        entry(world, m, utc(2025, 12, 31, 15), 120),  # Jan 1 2026 00:00 in Tokyo
    )
    r = await report(gql, world, ["MONTH", "WEEK", "DAY"])
    assert [keyed(b, "month", "week", "day") for b in r["buckets"]] == [
        ("2025-12-01", "2025-12-29", "2025-12-31"),
        ("2026-01-01", "2025-12-29", "2026-01-01"),
    ]
    new_york = await report(gql, world, ["MONTH"], tz="America/New_York")
    assert [(b["month"], b["entryCount"]) for b in new_york["buckets"]] == [("2025-12-01", 2)]


# --- which entries, and how they are summed ----------------------------------------------


async def test_running_entries_count_up_to_the_requests_instant(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a", rounding="CEIL", rounding_minutes=15)
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2, seconds=7)
    await insert(
        db,
        entry(world, world.member.id, started, None, rate=7000),
        entry(world, world.admin.id, utc(2025, 3, 3, 8), 600, rate=7000),
    )
    # The report and the entries in one request share its instant: they must agree exactly.
    body = await gql(
        """query($f: TimeEntryFilter!) {
          timeEntries(filter: $f) { nodes { running durationSeconds roundedSeconds amountCents } }
          timeReport(filter: $f, groupBy: [USER]) { totals { """
        + SUMS
        + " } } }",
        {"f": {"teamId": world.id}},
        token=world.owner.token,
    )
    assert body.get("errors") is None, body["errors"]
    nodes = body["data"]["timeEntries"]["nodes"]
    totals = body["data"]["timeReport"]["totals"]
    assert totals == {
        "totalSeconds": sum(n["durationSeconds"] for n in nodes),
        "roundedSeconds": sum(n["roundedSeconds"] for n in nodes),
        "totalCents": sum(n["amountCents"] for n in nodes),
        "entryCount": 2,
        "runningCount": 1,
    }
    assert 2 * 3600 + 7 + 600 <= totals["totalSeconds"] <= 2 * 3600 + 7 + 600 + 60
    running = await report(gql, world, ["USER"], f={"running": True})
    assert [
        (b["user"]["nickname"], b["entryCount"], b["runningCount"]) for b in running["buckets"]
    ] == [("a Member", 1, 1)]
    assert running["buckets"][0]["roundedSeconds"] % 900 == 0


async def test_a_timer_started_after_the_instant_counts_zero(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a")
    ahead = datetime.now(UTC) + timedelta(hours=1)
    await insert(db, entry(world, world.member.id, ahead, None))
    r = await report(gql, world, ["STATUS"])
    assert sums(r["totals"]) == (0, 0, 0, 1, 1)


async def test_deleted_entries_only_when_the_filter_includes_them(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a")
    m = world.member.id
    await insert(
        db,
        entry(world, m, utc(2025, 3, 3, 8), 3600),
        entry(world, m, utc(2025, 3, 4, 8), 1800, deleted=True),
    )
    default = await report(gql, world, ["DAY"])
    assert [(b["day"], b["entryCount"]) for b in default["buckets"]] == [("2025-03-03", 1)]
    included = await report(gql, world, ["DAY"], f={"includeDeleted": True})
    assert [(b["day"], b["entryCount"]) for b in included["buckets"]] == [
        ("2025-03-03", 1),
        ("2025-03-04", 1),
    ]
    assert sums(included["totals"]) == (5400, 5400, 9000, 2, 0)
    feed = await report(gql, world, ["DAY"], f={"deletedSince": "2025-12-31T00:00:00Z"})
    assert [b["day"] for b in feed["buckets"]] == ["2025-03-04"]


@pytest.mark.parametrize(
    ("mode", "minutes", "durations", "rounded"),
    [
        ("NEAREST", 15, [449, 450, 1349, 1350], [0, 900, 900, 1800]),
        ("CEIL", 15, [1, 900, 901], [900, 900, 1800]),
        ("FLOOR", 6, [359, 360, 719], [0, 360, 360]),
        ("NONE", 15, [1, 449], [1, 449]),
    ],
)
async def test_rounding_per_entry_and_half_up_cents(
    db: Database, gql: GQL, mode: str, minutes: int, durations: list[int], rounded: list[int]
) -> None:
    world = await make_team(db, "Acme", prefix="a", rounding=mode, rounding_minutes=minutes)
    m = world.member.id
    # 2 cents an hour for 900 s is half a cent: it rounds up, per entry.
    rates = [2, 2, 7, 1]
    await insert(
        db,
        *(
            entry(world, m, utc(2025, 3, 3, 8 + i), d, rate=rates[i % len(rates)])
            for i, d in enumerate(durations)
        ),
    )
    body = await gql(
        """query($f: TimeEntryFilter!) {
          timeEntries(filter: $f) { nodes { roundedSeconds amountCents } }
          timeReport(filter: $f, groupBy: [DAY]) { totals { roundedSeconds totalCents } } }""",
        {"f": {"teamId": world.id}},
        token=world.owner.token,
    )
    nodes = body["data"]["timeEntries"]["nodes"]
    assert sorted(n["roundedSeconds"] for n in nodes) == sorted(rounded)
    cents = [(2 * rates[i % len(rates)] * r + 3600) // 7200 for i, r in enumerate(rounded)]
    assert body["data"]["timeReport"]["totals"] == {
        "roundedSeconds": sum(rounded),
        "totalCents": sum(cents),
    }
    assert sum(n["amountCents"] for n in nodes) == sum(cents)


async def test_half_a_cent_rounds_up(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a")
    m = world.member.id
    # 2 ct/h for 900 s = 0.5 ct -> 1; 1 ct/h for 1799 s = 0.4997 -> 0; 1 ct/h for 1800 s -> 1.
    await insert(
        db,
        entry(world, m, utc(2025, 3, 3, 8), 900, rate=2),
        entry(world, m, utc(2025, 3, 4, 8), 1799, rate=1),
        entry(world, m, utc(2025, 3, 5, 8), 1800, rate=1),
    )
    r = await report(gql, world, ["DAY"])
    assert [b["totalCents"] for b in r["buckets"]] == [1, 0, 1]
    assert r["totals"]["totalCents"] == 2


async def test_every_key_and_the_effective_category(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a")
    m, a = world.member.id, world.admin.id
    await insert(
        db,
        entry(world, m, utc(2025, 3, 3, 8), 60, task="T-1", status="SUBMITTED"),
        entry(world, m, utc(2025, 3, 3, 9), 120, task="T-2", input_type="REALTIME"),
        entry(world, a, utc(2025, 3, 3, 10), 180, category="dev", billable=False),
        entry(world, a, utc(2025, 3, 3, 11), 240, category="api", status="APPROVED"),
    )
    r = await report(gql, world, ["TASK", "CATEGORY"])
    # CATEGORY-scoped entries have no task: their buckets sort after the tasks'.
    t1_first = world.tasks["T-1"] < world.tasks["T-2"]
    tasks = [("T-1", "api", 60), ("T-2", "dev", 120)]
    dev_first = world.categories["dev"] < world.categories["api"]
    scoped = [(None, "dev", 180), (None, "api", 240)]
    assert [(*keyed(b, "task", "category"), b["totalSeconds"]) for b in r["buckets"]] == (
        (tasks if t1_first else tasks[::-1]) + (scoped if dev_first else scoped[::-1])
    )
    by_status = await report(gql, world, ["STATUS", "SCOPE"])
    assert [keyed(b, "status", "scopeType") for b in by_status["buckets"]] == [
        ("DRAFT", "TASK"),
        ("DRAFT", "CATEGORY"),
        ("SUBMITTED", "TASK"),
        ("APPROVED", "CATEGORY"),
    ]
    by_input = await report(gql, world, ["INPUT_TYPE", "BILLABLE", "TEAM"])
    assert [keyed(b, "inputType", "billable", "team") for b in by_input["buckets"]] == [
        ("REALTIME", True, world.id),
        ("MANUAL", False, world.id),
        ("MANUAL", True, world.id),
    ]
    for b in by_input["buckets"]:
        only(b, "inputType", "billable", "team")
    by_user = await report(
        gql, world, ["USER"], f={"userId": a, "categoryId": world.categories["dev"]}
    )
    # categoryId includes the child category "api" and tasks below both.
    assert [(b["user"]["nickname"], b["totalSeconds"]) for b in by_user["buckets"]] == [
        ("a Admin", 420)
    ]


# --- tenancy and errors ------------------------------------------------------------------


async def test_a_team_the_viewer_is_not_in_gives_an_empty_report(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a", time_zone="Europe/Berlin", week_start=3)
    other = await make_team(db, "Other", prefix="b")
    await insert(db, entry(world, world.member.id, utc(2025, 3, 3, 8), 60))
    r = await report(gql, world, ["USER"], token=other.owner.token)
    # Nothing of the team shows, not even its time zone or week start.
    assert r == {
        "groupBy": ["USER"],
        "timeZone": "UTC",
        "weekStart": 1,
        "buckets": [],
        "totals": dict.fromkeys(SUMS.split(), 0),
    }
    mine = await report(gql, world, ["USER"])
    assert mine["timeZone"] == "Europe/Berlin" and mine["weekStart"] == 3


async def test_a_member_who_left_still_has_a_bucket(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a")
    await insert(db, entry(world, world.member.id, utc(2025, 3, 3, 8), 60))
    async with db.write() as s:
        membership = await s.get(Membership, (world.id, world.member.id))
        await s.delete(membership)
        await s.commit()
    r = await report(gql, world, ["USER"])
    assert [b["user"]["nickname"] for b in r["buckets"]] == ["a Member"]


@pytest.mark.parametrize(
    ("group_by", "tz", "ws"),
    [
        ([], None, None),
        (["USER", "DAY", "TASK", "STATUS"], None, None),
        (["USER", "USER"], None, None),
        (["DAY"], "Mars/Olympus_Mons", None),
        (["DAY"], "", None),
        (["DAY"], "../../etc/passwd", None),
        (["DAY"], None, 0),
        (["DAY"], None, 8),
    ],
)
async def test_validation_errors(
    db: Database, gql: GQL, group_by: list[str], tz: str | None, ws: int | None
) -> None:
    world = await make_team(db, "Acme", prefix="a")
    body = await gql(
        REPORT,
        {"f": {"teamId": world.id}, "g": group_by, "tz": tz, "ws": ws},
        token=world.owner.token,
    )
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "VALIDATION", error
    assert error["path"] == ["timeReport"]


async def test_errors_before_tenancy_and_unknown_keys(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a")
    other = await make_team(db, "Other", prefix="b")
    body = await gql(REPORT, {"f": {"teamId": world.id}, "g": [], "ws": 9}, token=other.owner.token)
    assert body["errors"][0]["extensions"]["code"] == "VALIDATION"
    unknown = await gql(REPORT, {"f": {"teamId": world.id}, "g": ["YEAR"]}, token=world.owner.token)
    assert unknown["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    anonymous = await gql(REPORT, {"f": {"teamId": world.id}, "g": ["DAY"]})
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


# --- SQL does the work -------------------------------------------------------------------


async def test_one_grouped_statement_whatever_the_number_of_entries(
    db: Database, database_url: str
) -> None:
    world = await make_team(db, "Acme", prefix="a", time_zone="Europe/Berlin")
    users = [world.member.id, world.admin.id, world.owner.id]
    await insert(
        db,
        *(
            entry(world, users[i % 3], utc(2025, 1, 1) + timedelta(hours=7 * i), 600)
            for i in range(300)
        ),
    )
    app = create_app(Settings(database_url=database_url, **QUIET))
    statements: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    event.listen(app.state.services.db.engine.sync_engine, "before_cursor_execute", before)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c,
    ):
        statements.clear()
        response = await c.post(
            "/graphql",
            json={
                "query": REPORT,
                "variables": {"f": {"teamId": world.id}, "g": ["USER", "WEEK"]},
            },
            headers={"authorization": f"Bearer {world.owner.token}"},
        )
    data = response.json()["data"]["timeReport"]
    assert sum(b["entryCount"] for b in data["buckets"]) == 300
    assert len(data["buckets"]) > 3 * 12
    entry_reads = [s for s in statements if "time_entries" in s]
    assert len(entry_reads) == 1 and "GROUP BY" in entry_reads[0], entry_reads
    # Token, memberships, team, team rules, the report, the users (one batch): no N+1.
    assert len(statements) <= 6, [s.split("\n")[0][:70] for s in statements]


def test_the_sqlite_function_maps_utc_text_to_local_buckets() -> None:
    conn = sqlite3.connect(":memory:")
    register_sqlite_functions(conn)
    rows = conn.execute(
        f"SELECT {SQLITE_BUCKET_FUNCTION}(?, ?, ?, ?)",
        ("2025-03-30 22:30:00.000000", "Europe/Berlin", "DAY", 1),
    ).fetchall()
    assert rows == [("2025-03-31",)]
    week = conn.execute(
        f"SELECT {SQLITE_BUCKET_FUNCTION}('2025-11-03 04:30:00.000000', 'America/New_York', 'WEEK', 7)"
    ).fetchone()
    assert week == ("2025-11-02",)
    month = conn.execute(
        f"SELECT {SQLITE_BUCKET_FUNCTION}('2025-12-31 15:00:00', 'Asia/Tokyo', 'MONTH', 1), "
        f"{SQLITE_BUCKET_FUNCTION}(NULL, 'UTC', 'DAY', 1)"
    ).fetchone()
    assert month == (date(2026, 1, 1).isoformat(), None)
    conn.close()


async def test_running_seconds_are_exact_to_the_microsecond(db: Database) -> None:
    # Regression: SQLite's strftime() rounds a fraction of .9995 s or more up to the next
    # second, which made a running entry one second short.
    world = await make_team(db, "Acme", prefix="a")
    started = utc(2025, 3, 3, 8) + timedelta(microseconds=999_999)
    await insert(db, entry(world, world.member.id, started, None))
    for now, seconds in (
        (utc(2025, 3, 3, 9), 3599),
        (utc(2025, 3, 3, 9) + timedelta(microseconds=999_999), 3600),
        (started, 0),
        (started - timedelta(microseconds=1), 0),
    ):
        async with db.read() as session:
            rows = await time_report(
                session,
                filter=EntryFilter(team_ids=[world.id]),
                group_by=["USER"],
                time_zone="UTC",
                week_start=1,
                now=now,
                dialect=db.dialect,
            )
        assert rows.totals.total_seconds == seconds, now


async def test_sums_beyond_32_bits_are_exact(db: Database, gql: GQL) -> None:
    # A big team's year passes Int's 2^31 - 1 cents quickly: sums are BigInt.
    world = await make_team(db, "Acme", prefix="a")
    rate = 100_000_000  # the highest rate a team may set
    await insert(
        db,
        *(entry(world, world.member.id, utc(2025, 3, 1 + i), 86400, rate=rate) for i in range(20)),
    )
    r = await report(gql, world, ["MONTH"])
    assert r["totals"]["totalCents"] == 20 * 24 * rate > 2**31
    assert r["buckets"][0]["totalCents"] == 20 * 24 * rate
    assert r["totals"]["totalSeconds"] == 20 * 86400

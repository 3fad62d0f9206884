"""timeReport against a plain-Python reference, on random teams and entries.

Entries cluster around DST changes (Europe/Berlin, America/New_York) and year ends (also
Asia/Tokyo); they are running or stopped, deleted or not, billable or not, at various rates,
under every rounding mode, with up to three tags each (one of them archived), under tag
filters (``tagIds`` with ANY or ALL, ``untagged``). Every groupBy of one or two keys must match the reference exactly,
buckets in the same order (grouped by TAG, an entry in the bucket of each of its tags, the
totals counting it once): through the store with a fixed instant, and through the API, where
the running entries' seconds come from the same request (they share its instant).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from gql.server.app import create_app
from gql.settings import Settings
from store.db import Database
from store.entries import EntryFilter
from store.ids import new_id
from store.models import EntryStatus, EntryTag, InputType, Tag, Task, TimeEntry
from store.money import amount_cents, rounded_seconds
from store.reports import local_bucket, time_report
from store.tag_rules import TagMatch
from tests.conftest import GQL, QUIET
from tests.factories import TeamWorld, make_team


@pytest.fixture
async def app_client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The API without its timer sweep: the examples' running entries lie years back, and
    the reference counts them up to the request's instant, not stopped at their limit."""
    app = create_app(Settings(database_url=database_url, **QUIET))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
    ):
        yield client


ZONES = ("Europe/Berlin", "America/New_York", "Asia/Tokyo")
KEYS: tuple[str, ...] = ("USER", "TEAM", "TASK", "CATEGORY", "SCOPE", "DAY", "WEEK", "MONTH")
KEYS += ("BILLABLE", "STATUS", "INPUT_TYPE", "TAG")
ONE_OR_TWO = [(k,) for k in KEYS] + list(itertools.combinations(KEYS, 2))
ORDERED = [(k,) for k in KEYS] + list(itertools.permutations(KEYS, 2))
# DST changes in Berlin and New York, local midnights at year ends in all three zones.
ANCHORS = [
    datetime(2024, 3, 31, 1, tzinfo=UTC),
    datetime(2024, 10, 27, 1, tzinfo=UTC),
    datetime(2025, 3, 30, 1, tzinfo=UTC),
    datetime(2025, 10, 26, 1, tzinfo=UTC),
    datetime(2024, 3, 10, 7, tzinfo=UTC),
    datetime(2024, 11, 3, 6, tzinfo=UTC),
    datetime(2025, 3, 9, 7, tzinfo=UTC),
    datetime(2025, 11, 2, 6, tzinfo=UTC),
    datetime(2024, 12, 31, 15, tzinfo=UTC),
    datetime(2024, 12, 31, 23, tzinfo=UTC),
    datetime(2025, 1, 1, 5, tzinfo=UTC),
    datetime(2025, 12, 31, 15, tzinfo=UTC),
    datetime(2026, 1, 1, 5, tzinfo=UTC),
]
# The store test's instants: after most entries, before some running ones (those count 0).
NOWS = [
    datetime(2025, 11, 1, 12, 0, 0, 250_000, tzinfo=UTC),
    datetime(2025, 3, 30, 1, 0, 0, tzinfo=UTC),
    datetime(2026, 2, 1, 0, 0, 0, 999_999, tzinfo=UTC),
]
STATUSES = [s.value for s in EntryStatus]
INPUT_TYPES = [i.value for i in InputType]


@dataclass(frozen=True)
class Spec:
    """One generated entry, before it has ids."""

    user: int
    scope: int  # 0..2 a task (2 has no category), 3..4 a category
    started_at: datetime
    seconds: int | None  # None: running
    billable: bool
    rate: int
    status: str
    input_type: str
    deleted: bool
    tags: frozenset[int] = frozenset()  # of the team's tags 0..2 (2 is archived)


# The filter's ``tagIds`` as indexes (3: a tag on no entry), and its ``tagMatch``.
TagFilter = tuple[frozenset[int], str]


@dataclass(frozen=True)
class Case:
    zone: str
    week_start: int
    rounding: str
    rounding_minutes: int
    specs: list[Spec]
    request_zone: str | None
    request_week_start: int | None
    include_deleted: bool
    now: datetime
    tag_filter: TagFilter | None = None
    untagged: bool | None = None


instants = st.builds(
    lambda anchor, offset, micros: anchor + timedelta(seconds=offset, microseconds=micros),
    st.sampled_from(ANCHORS),
    st.integers(min_value=-3 * 86400, max_value=3 * 86400),
    st.sampled_from([0, 1, 499_999, 500_000, 999_999]),
)
specs = st.builds(
    Spec,
    user=st.integers(0, 2),
    scope=st.integers(0, 4),
    started_at=instants,
    seconds=st.one_of(st.none(), st.integers(1, 86400), st.sampled_from([449, 450, 900, 1799])),
    billable=st.booleans(),
    rate=st.sampled_from([0, 1, 2, 1799, 3600, 6000, 12345]),
    status=st.sampled_from(STATUSES),
    input_type=st.sampled_from(INPUT_TYPES),
    deleted=st.booleans(),
    tags=st.frozensets(st.integers(0, 2), max_size=3),
)
cases = st.builds(
    Case,
    zone=st.sampled_from(ZONES),
    week_start=st.integers(1, 7),
    rounding=st.sampled_from(["NONE", "FLOOR", "CEIL", "NEAREST"]),
    rounding_minutes=st.sampled_from([1, 6, 15, 60, 7]),
    specs=st.lists(specs, max_size=25),
    request_zone=st.one_of(st.none(), st.sampled_from(ZONES)),
    request_week_start=st.one_of(st.none(), st.integers(1, 7)),
    include_deleted=st.booleans(),
    now=st.sampled_from(NOWS),
    tag_filter=st.one_of(
        st.none(),
        st.tuples(st.frozensets(st.integers(0, 3), max_size=3), st.sampled_from(["ANY", "ALL"])),
    ),
    untagged=st.one_of(st.none(), st.booleans()),
)


@dataclass(frozen=True)
class Built:
    world: TeamWorld
    users: list[str]
    tasks: list[str]
    task_category: dict[str, str | None]
    categories: list[str]
    entries: list[TimeEntry]
    tags: list[str]  # by index; the last one is on no entry
    entry_tags: dict[str, set[str]]


async def build(db: Database, case: Case) -> Built:
    """A team with the case's settings and its entries, inserted in one batch.

    A user has at most one running entry (the database enforces it): later ones stop.
    """
    world = await make_team(
        db,
        "Property",
        prefix=new_id().lower(),
        time_zone=case.zone,
        week_start=case.week_start,
        rounding=case.rounding,
        rounding_minutes=case.rounding_minutes,
    )
    loose = Task(id=new_id(), team_id=world.id, category_id=None, key="T-3", title="Loose")
    users = [world.owner.id, world.admin.id, world.member.id]
    tasks = [world.tasks["T-1"], world.tasks["T-2"], loose.id]
    categories = [world.categories["dev"], world.categories["api"]]
    task_category = {tasks[0]: categories[1], tasks[1]: categories[0], tasks[2]: None}
    tags = [new_id() for _ in range(4)]
    tag_rows = [
        Tag(
            id=tid,
            team_id=world.id,
            name=f"tag {n}",
            name_key=f"tag {n}",
            archived_at=datetime(2025, 1, 1, tzinfo=UTC) if n == 2 else None,
        )
        for n, tid in enumerate(tags)
    ]
    running_users: set[int] = set()
    entries = []
    entry_tags: dict[str, set[str]] = {}
    for spec in case.specs:
        seconds = spec.seconds
        if seconds is None and spec.user in running_users:
            seconds = 600
        if seconds is None:
            running_users.add(spec.user)
        task_id = tasks[spec.scope] if spec.scope < 3 else None
        entries.append(
            TimeEntry(
                id=new_id(),
                team_id=world.id,
                user_id=users[spec.user],
                scope_type="TASK" if task_id else "CATEGORY",
                task_id=task_id,
                category_id=None if task_id else categories[spec.scope - 3],
                started_at=spec.started_at,
                stopped_at=None
                if seconds is None
                else spec.started_at + timedelta(seconds=seconds),
                duration_seconds=seconds,
                work_date=spec.started_at.date(),
                billable=spec.billable,
                rate_snapshot_cents=spec.rate,
                status=spec.status,
                input_type=spec.input_type,
                deleted_at=spec.started_at + timedelta(days=1) if spec.deleted else None,
            )
        )
        entry_tags[entries[-1].id] = {tags[n] for n in spec.tags}
    async with db.write() as s:
        s.add(loose)
        s.add_all([*tag_rows, *entries])
        await s.flush()
        s.add_all(
            EntryTag(entry_id=e, tag_id=t, team_id=world.id)
            for e, ts in entry_tags.items()
            for t in ts
        )
        await s.commit()
    return Built(world, users, tasks, task_category, categories, entries, tags, entry_tags)


def tag_filter_kwargs(built: Built, case: Case) -> dict[str, Any]:
    """The case's tag filter as ``EntryFilter`` fields (ids, match, untagged)."""
    out: dict[str, Any] = {"untagged": case.untagged}
    if case.tag_filter is not None:
        indexes, match = case.tag_filter
        out["tag_ids"] = [built.tags[n] for n in sorted(indexes)]
        out["tag_match"] = TagMatch(match)
    return out


def tag_filter_input(built: Built, case: Case) -> dict[str, Any]:
    """The case's tag filter as ``TimeEntryFilter`` fields."""
    kw = tag_filter_kwargs(built, case)
    out: dict[str, Any] = {"untagged": kw["untagged"]}
    if "tag_ids" in kw:
        out |= {"tagIds": kw["tag_ids"], "tagMatch": kw["tag_match"].value}
    return out


# --- the reference -----------------------------------------------------------------------

Key = str | date | bool | None
Sums = tuple[int, int, int, int, int]


def reference(
    built: Built,
    case: Case,
    group_by: Sequence[str],
    *,
    zone: str,
    week_start: int,
    seconds_of: Callable[[TimeEntry], int],
) -> tuple[list[tuple[tuple[Key, ...], Sums]], Sums]:
    """Buckets as (keys, (seconds, rounded, cents, count, running)), in the API's order,
    and the totals (each entry once, whatever its number of tags)."""
    tz = ZoneInfo(zone)

    def matches(e: TimeEntry) -> bool:
        have = built.entry_tags[e.id]
        if case.untagged is not None and (not have) != case.untagged:
            return False
        if case.tag_filter is None:
            return True
        indexes, match = case.tag_filter
        wanted = {built.tags[n] for n in indexes}
        if not wanted:
            return False  # an empty list matches nothing
        return wanted <= have if match == "ALL" else bool(wanted & have)

    def keys(e: TimeEntry, name: str) -> list[Key]:
        if name == "TAG":  # each of its tags; an untagged entry's is null
            return sorted(built.entry_tags[e.id]) or [None]
        return [key(e, name)]

    def key(e: TimeEntry, name: str) -> Key:
        local = e.started_at.astimezone(tz).date()
        if name == "USER":
            return e.user_id
        if name == "TEAM":
            return e.team_id
        if name == "TASK":
            return e.task_id
        if name == "CATEGORY":
            return built.task_category[e.task_id] if e.task_id else e.category_id
        if name == "SCOPE":
            return e.scope_type
        if name == "DAY":
            return local
        if name == "WEEK":
            # Step back to the most recent week_start day (isoweekday: Monday 1 .. Sunday 7).
            back = 0
            while (local - timedelta(days=back)).isoweekday() != week_start:
                back += 1
            return local - timedelta(days=back)
        if name == "MONTH":
            return date(local.year, local.month, 1)
        if name == "BILLABLE":
            return e.billable
        if name == "STATUS":
            return e.status
        return e.input_type

    groups: dict[tuple[Key, ...], list[int]] = {}
    totals = [0, 0, 0, 0, 0]
    for e in built.entries:
        if e.deleted_at is not None and not case.include_deleted:
            continue
        if not matches(e):
            continue
        seconds = seconds_of(e)
        rounded = rounded_seconds(seconds, case.rounding, case.rounding_minutes)
        cents = amount_cents(e.rate_snapshot_cents, rounded, billable=e.billable)
        values = (seconds, rounded, cents, 1, int(e.stopped_at is None))
        for i, v in enumerate(values):
            totals[i] += v
        for bucket in itertools.product(*(keys(e, k) for k in group_by)):
            sums = groups.setdefault(bucket, [0, 0, 0, 0, 0])
            for i, v in enumerate(values):
                sums[i] += v

    enum_orders = {"SCOPE": ["TASK", "CATEGORY"], "STATUS": STATUSES, "INPUT_TYPE": INPUT_TYPES}

    def order(keys: tuple[Key, ...]) -> list[tuple[bool, Any]]:
        out: list[tuple[bool, Any]] = []
        for name, value in zip(group_by, keys, strict=True):
            if value is None:
                out.append((True, 0))
            elif name in enum_orders:
                out.append((False, enum_orders[name].index(str(value))))
            else:
                out.append((False, value))
        return out

    buckets = [
        (k, (s[0], s[1], s[2], s[3], s[4]))
        for k, s in sorted(groups.items(), key=lambda kv: order(kv[0]))
    ]
    return buckets, (totals[0], totals[1], totals[2], totals[3], totals[4])


def stored_seconds(now: datetime) -> Callable[[TimeEntry], int]:
    def seconds(e: TimeEntry) -> int:
        if e.duration_seconds is not None:
            return e.duration_seconds
        # A running entry counts up to now, and never past the 24-hour timer limit.
        return min(24 * 3600, max(0, int((now - e.started_at).total_seconds())))

    return seconds


def _spec(user: int, scope: int, at: datetime, seconds: int | None, **kw: Any) -> Spec:
    fields: dict[str, Any] = {
        "billable": True,
        "rate": 2,
        "status": "DRAFT",
        "input_type": "MANUAL",
        "deleted": False,
    }
    if "tags" in kw:
        kw["tags"] = frozenset(kw["tags"])
    return Spec(user, scope, at, seconds, **{**fields, **kw})


# Written out, so that every run has them: running entries with a fraction of a second
# (SQLite's strftime() once rounded .9995 s and up to a whole second), a running entry that
# starts after the instant, half cents, a task without category, a deleted entry, DST nights.
HANDPICKED = Case(
    zone="Europe/Berlin",
    week_start=7,
    rounding="NEAREST",
    rounding_minutes=15,
    specs=[
        _spec(0, 0, datetime(2025, 3, 30, 0, 59, 59, 999_999, tzinfo=UTC), None, tags={0, 2}),
        _spec(
            1, 2, datetime(2025, 10, 25, 22, 0, 0, 500_000, tzinfo=UTC), None, rate=12345, tags={1}
        ),
        _spec(2, 3, datetime(2026, 1, 5, 0, 0, 0, 1, tzinfo=UTC), None),
        _spec(2, 4, datetime(2025, 10, 26, 0, 30, tzinfo=UTC), 450, billable=False),
        _spec(0, 1, datetime(2024, 12, 31, 23, 0, tzinfo=UTC), 900, deleted=True),
        _spec(1, 0, datetime(2025, 3, 9, 7, 0, tzinfo=UTC), 1799, status="LOCKED", tags={0, 1, 2}),
    ],
    request_zone="America/New_York",
    request_week_start=None,
    include_deleted=True,
    now=NOWS[0],
)


PROPERTY = settings(
    max_examples=25,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# --- through the store, a fixed instant, every ordered pair ------------------------------

ATTRS = {
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
    "TAG": "tag_id",
}


@PROPERTY
@given(case=cases)
@example(case=HANDPICKED)
@example(case=replace(HANDPICKED, now=NOWS[2], include_deleted=False, request_zone=None))
@example(case=replace(HANDPICKED, tag_filter=(frozenset({0, 1}), "ALL")))
@example(case=replace(HANDPICKED, tag_filter=(frozenset({2, 3}), "ANY"), untagged=False))
@example(case=replace(HANDPICKED, untagged=True))
async def test_store_report_matches_the_reference(db: Database, case: Case) -> None:
    built = await build(db, case)
    zone = case.request_zone or case.zone
    week_start = case.request_week_start or case.week_start
    f = EntryFilter(
        team_ids=[built.world.id],
        include_deleted=case.include_deleted,
        **tag_filter_kwargs(built, case),
    )
    async with db.read() as session:
        for group_by in ORDERED:
            rows = await time_report(
                session,
                filter=f,
                group_by=group_by,
                time_zone=zone,
                week_start=week_start,
                now=case.now,
                dialect=db.dialect,
            )
            got = [
                (
                    tuple(getattr(b, ATTRS[k]) for k in group_by),
                    (
                        b.sums.total_seconds,
                        b.sums.rounded_seconds,
                        b.sums.total_cents,
                        b.sums.entry_count,
                        b.sums.running_count,
                    ),
                )
                for b in rows.buckets
            ]
            expected, totals = reference(
                built,
                case,
                group_by,
                zone=zone,
                week_start=week_start,
                seconds_of=stored_seconds(case.now),
            )
            assert got == expected, group_by
            t = rows.totals
            assert [
                t.total_seconds,
                t.rounded_seconds,
                t.total_cents,
                t.entry_count,
                t.running_count,
            ] == list(totals)


# --- through the API: every combination of one or two keys -------------------------------

FIELDS = {
    "USER": "user { id }",
    "TEAM": "team { id }",
    "TASK": "task { id }",
    "CATEGORY": "category { id }",
    "SCOPE": "scopeType",
    "DAY": "day",
    "WEEK": "week",
    "MONTH": "month",
    "BILLABLE": "billable",
    "STATUS": "status",
    "INPUT_TYPE": "inputType",
    "TAG": "tag { id }",
}
SUMS = "totalSeconds roundedSeconds totalCents entryCount runningCount"
API = f"""query($f: TimeEntryFilter!, $running: TimeEntryFilter!, $g: [GroupBy!]!,
                $tz: String, $ws: Int) {{
  running: timeEntries(filter: $running, first: 100) {{ nodes {{ id durationSeconds }} }}
  timeReport(filter: $f, groupBy: $g, timeZone: $tz, weekStart: $ws) {{
    timeZone weekStart
    buckets {{ {" ".join(FIELDS.values())} {SUMS} }}
    totals {{ {SUMS} }} }} }}"""


def api_key(bucket: dict[str, Any], name: str) -> Key:
    field = FIELDS[name].split(" ")[0]
    value = bucket[field]
    if isinstance(value, dict):
        return str(value["id"])
    if name in ("DAY", "WEEK", "MONTH") and value is not None:
        return date.fromisoformat(value)
    return value  # type: ignore[no-any-return]


# Each example is 66 HTTP requests: report the failing example as found, unshrunk (the store
# test above shrinks the same data quickly).
@settings(PROPERTY, max_examples=8, phases=[Phase.explicit, Phase.generate])
@given(case=cases)
@example(case=HANDPICKED)
@example(case=replace(HANDPICKED, tag_filter=(frozenset({0, 2}), "ALL"), untagged=False))
async def test_api_report_matches_the_reference(gql: GQL, db: Database, case: Case) -> None:
    built = await build(db, case)
    f = {"teamId": built.world.id, "includeDeleted": case.include_deleted}
    variables: dict[str, Any] = {
        "f": {**f, **tag_filter_input(built, case)},
        "running": {**f, "running": True},
        "tz": case.request_zone,
        "ws": case.request_week_start,
    }
    for group_by in ONE_OR_TWO:
        body = await gql(API, {**variables, "g": list(group_by)}, token=built.world.member.token)
        assert body.get("errors") is None, body["errors"]
        report = body["data"]["timeReport"]
        assert report["timeZone"] == (case.request_zone or case.zone)
        assert report["weekStart"] == (case.request_week_start or case.week_start)
        # Running entries count up to the request's instant, which the entries share.
        elapsed = {n["id"]: n["durationSeconds"] for n in body["data"]["running"]["nodes"]}

        def seconds_of(e: TimeEntry, elapsed: dict[str, int] = elapsed) -> int:
            return e.duration_seconds if e.duration_seconds is not None else elapsed[e.id]

        expected, totals = reference(
            built,
            case,
            group_by,
            zone=report["timeZone"],
            week_start=report["weekStart"],
            seconds_of=seconds_of,
        )
        got = [
            (
                tuple(api_key(b, k) for k in group_by),
                tuple(b[s] for s in SUMS.split()),
            )
            for b in report["buckets"]
        ]
        assert got == expected, group_by
        for b in report["buckets"]:
            assert all(api_key(b, k) is None for k in KEYS if k not in group_by), b
        assert tuple(report["totals"][s] for s in SUMS.split()) == totals


# --- SQLite's bucket function, against zoneinfo directly ---------------------------------

ODD_ZONES = [
    *ZONES,
    "UTC",
    "Asia/Kolkata",  # +05:30
    "Asia/Kathmandu",  # +05:45
    "America/St_Johns",  # -03:30 with DST
    "Australia/Lord_Howe",  # a 30-minute DST change
    "Pacific/Apia",  # skipped December 30, 2011
    "Africa/Monrovia",  # -00:44:30 until 1972
    "Europe/Amsterdam",  # +00:19:32 until 1937
    "America/Havana",  # DST changes at midnight
]


@functools.cache
def transitions(zone: str) -> list[datetime]:
    """The zone's offset changes between 2010 and 2027, to the hour (daily scan, refined)."""
    z = ZoneInfo(zone)
    out = []
    day = datetime(2010, 1, 1, tzinfo=UTC)
    while day < datetime(2027, 1, 1, tzinfo=UTC):
        if day.astimezone(z).utcoffset() != (day + timedelta(days=1)).astimezone(z).utcoffset():
            hour = day
            while hour.astimezone(z).utcoffset() == day.astimezone(z).utcoffset():
                hour += timedelta(hours=1)
            out.append(hour)
        day += timedelta(days=1)
    return out or [datetime(2025, 1, 1, tzinfo=UTC)]


@st.composite
def zoned_instants(draw: st.DrawFn) -> tuple[datetime, str]:
    zone = draw(st.sampled_from(ODD_ZONES))
    where = draw(st.sampled_from(["anywhere", "transition", "midnight"]))
    if where == "midnight":
        # A local midnight, give or take nothing, a microsecond or a second.
        day = draw(st.dates(min_value=date(1900, 1, 2), max_value=date(2099, 12, 31)))
        midnight = datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(zone))
        nudge = draw(st.sampled_from([0, 0, 1, -1, 10**6, -(10**6)]))
        return midnight.astimezone(UTC) + timedelta(microseconds=nudge), zone
    if where == "anywhere":
        anywhere = st.datetimes(
            min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
        )
        return draw(anywhere), zone
    near = draw(st.sampled_from(transitions(zone)))
    offset = draw(st.integers(-3 * 3600 * 10**6, 3 * 3600 * 10**6))
    return near + timedelta(microseconds=offset), zone


@settings(max_examples=3000, derandomize=True, database=None, deadline=None)
@given(
    at=zoned_instants(),
    kind=st.sampled_from(["DAY", "WEEK", "MONTH"]),
    week_start=st.integers(1, 7),
)
def test_sqlite_bucket_function_matches_zoneinfo(
    at: tuple[datetime, str], kind: str, week_start: int
) -> None:
    instant, zone = at
    text = instant.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    local = instant.astimezone(ZoneInfo(zone)).date()
    if kind == "DAY":
        expected = local
    elif kind == "MONTH":
        expected = local.replace(day=1)
    else:
        expected = local - timedelta(days=(local.isoweekday() - week_start) % 7)
    assert local_bucket(text, zone, kind, week_start) == expected.isoformat()

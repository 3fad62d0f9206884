"""The CSV exports (``GET /export/time-entries.csv``, ``GET /export/report.csv``) on both
databases: what they hold equals the GraphQL answer for the same filter, they read back
through Python's ``csv`` module (and LibreOffice), and they refuse what GraphQL refuses,
as coded JSON errors."""

from __future__ import annotations

import asyncio
import csv
import io
import shutil
import subprocess
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from gql.export.columns import ENTRY_HEADER, file_name, slug
from gql.export.routes import EXPORT_POINTS
from gql.server.app import create_app
from gql.settings import Settings
from store import tokens
from store.db import Database
from store.ids import new_id
from store.models import TimeEntry
from tests.conftest import QUIET
from tests.factories import TeamWorld, make_team
from tests.services import IN_CI

ROOT = Path(__file__).parents[2]
ENTRIES = "/export/time-entries.csv"
REPORT = "/export/report.csv"
BASE = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
ENTRY_FIELDS = """id team { id name } user { id nickname } task { id key title }
  category { id title } scopeType startedAt stoppedAt running workDate description billable
  status inputType source durationSeconds formattedDuration roundedSeconds rateSnapshotCents
  amountCents deletedAt"""
PAGE = f"""query($f: TimeEntryFilter!, $after: String) {{
  timeEntries(filter: $f, first: 100, after: $after) {{
    pageInfo {{ hasNextPage endCursor }} nodes {{ {ENTRY_FIELDS} }} }} }}"""
SUMS = "totalSeconds roundedSeconds totalCents entryCount runningCount"
GRAPHQL_REPORT = f"""query($f: TimeEntryFilter!, $g: [GroupBy!]!) {{
  timeReport(filter: $f, groupBy: $g) {{
    buckets {{ user {{ id nickname }} category {{ id title }} day {SUMS} }}
    totals {{ {SUMS} }} }} }}"""
# Descriptions that a CSV must quote, and one a spreadsheet would take for a formula.
DESCRIPTIONS = [
    "plain",
    'comma, and "quotes"',
    "two\r\nlines",
    "Ärger ΟΔΟΣ ✓",
    "=SUM(1;2)",
    "-5 minutes",
    "100% done",
    None,
    "",
]


@dataclass
class Scene:
    acme: TeamWorld
    other: TeamWorld
    entries: list[str]


async def add_entry(db: Database, world: TeamWorld, user_id: str, **kw: Any) -> str:
    started = kw.pop("started_at")
    seconds = kw.pop("seconds", 1800)
    entry = TimeEntry(
        id=new_id(),
        team_id=world.id,
        user_id=user_id,
        scope_type="TASK" if kw.get("task_id") else "CATEGORY",
        started_at=started,
        stopped_at=None if seconds is None else started + timedelta(seconds=seconds),
        duration_seconds=seconds,
        work_date=started.date(),
        **kw,
    )
    async with db.write() as s:
        s.add(entry)
        await s.commit()
    return entry.id


@pytest.fixture
async def scene(db: Database) -> Scene:
    """Acme (rounding to the nearest 15 minutes) with entries of three users on tasks and
    categories, billable and not, one running, one deleted, one LOCKED with frozen money;
    Other, a team of its own."""
    acme = await make_team(
        db, "Acme Café Zürich", prefix="a", rounding="NEAREST", rounding_minutes=15
    )
    other = await make_team(db, "Other", prefix="o")
    users = [acme.member.id, acme.admin.id, acme.owner.id]
    ids = []
    for i, description in enumerate(DESCRIPTIONS):
        scope = (
            {"task_id": acme.tasks["T-1" if i % 2 else "T-2"]}
            if i % 3
            else {"category_id": acme.categories["api"]}
        )
        ids.append(
            await add_entry(
                db,
                acme,
                users[i % 3],
                started_at=BASE - timedelta(hours=5 * i, minutes=7 * i),
                seconds=600 + 457 * i,
                description=description,
                billable=i % 4 != 3,
                rate_snapshot_cents=[9000, 12345, 0][i % 3],
                status=["DRAFT", "SUBMITTED", "APPROVED"][i % 3],
                **scope,
            )
        )
    ids.append(
        await add_entry(
            db,
            acme,
            acme.member.id,
            started_at=BASE - timedelta(days=3),
            seconds=4000,
            task_id=acme.tasks["T-1"],
            billable=True,
            rate_snapshot_cents=9000,
            status="LOCKED",
            frozen_rounded_seconds=3600,
            frozen_amount_cents=7777,
        )
    )
    ids.append(
        await add_entry(
            db,
            acme,
            acme.admin.id,
            started_at=BASE - timedelta(days=4),
            task_id=acme.tasks["T-2"],
            billable=True,
            rate_snapshot_cents=100,
            deleted_at=BASE,
        )
    )
    now = datetime.now(UTC)
    ids.append(
        await add_entry(
            db,
            acme,
            acme.owner.id,
            started_at=now - timedelta(minutes=20),
            seconds=None,
            task_id=acme.tasks["T-2"],
            billable=True,
            rate_snapshot_cents=6000,
            description="running",
        )
    )
    await add_entry(
        db,
        other,
        other.owner.id,
        started_at=BASE,
        task_id=other.tasks["T-1"],
        billable=True,
        description="plain",
    )
    return Scene(acme, other, ids)


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(database_url=database_url, export_batch_rows=3, **QUIET))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c,
    ):
        yield c


def auth(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def read_csv(response: httpx.Response, *, excel: bool = False) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    body = response.content.decode("utf-8")
    if excel:
        assert body.startswith("\ufeff")
        body = body[1:]
    else:
        assert not body.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(body, newline=""), delimiter=";" if excel else ","))


async def graphql_entries(
    client: httpx.AsyncClient, token: str, f: dict[str, Any]
) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = []
    after = None
    while True:
        response = await client.post(
            "/graphql",
            json={"query": PAGE, "variables": {"f": f, "after": after}},
            headers=auth(token),
        )
        body = response.json()
        assert "errors" not in body, body
        page = body["data"]["timeEntries"]
        nodes += page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            return nodes
        after = page["pageInfo"]["endCursor"]


def as_csv(node: dict[str, Any]) -> dict[str, str]:
    """What the export's row of a GraphQL entry must be, cell for cell."""

    def text(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    cents = node["amountCents"]
    task, category = node["task"] or {}, node["category"] or {}
    return {
        "id": node["id"],
        "teamId": node["team"]["id"],
        "teamName": node["team"]["name"],
        "userId": node["user"]["id"],
        "userNickname": node["user"]["nickname"],
        "taskId": text(task.get("id")),
        "taskKey": text(task.get("key")),
        "taskTitle": text(task.get("title")),
        "categoryId": text(category.get("id")),
        "categoryTitle": text(category.get("title")),
        "scopeType": node["scopeType"],
        "startedAt": node["startedAt"],
        "stoppedAt": text(node["stoppedAt"]),
        "running": text(node["running"]),
        "workDate": node["workDate"],
        "description": text(node["description"]),
        "billable": text(node["billable"]),
        "status": node["status"],
        "inputType": node["inputType"],
        "source": node["source"],
        "durationSeconds": text(node["durationSeconds"]),
        "duration": node["formattedDuration"],
        "roundedSeconds": text(node["roundedSeconds"]),
        "rateCents": text(node["rateSnapshotCents"]),
        "amountCents": text(cents),
        "amount": f"{cents // 100}.{cents % 100:02d}",
        "deletedAt": text(node["deletedAt"]),
    }


RUNNING_MOVES = {"durationSeconds", "duration", "roundedSeconds", "amountCents", "amount"}


def assert_same(exported: list[dict[str, str]], answered: list[dict[str, Any]]) -> None:
    """Row for row, in the same order; a running entry's time moves between the two
    requests, by a few seconds at most."""
    assert [r["id"] for r in exported] == [n["id"] for n in answered]
    for row, node in zip(exported, answered, strict=True):
        expected = as_csv(node)
        if node["running"]:
            moved = int(row["durationSeconds"]) - node["durationSeconds"]
            assert abs(moved) <= 5, (row, node)
            row = {k: v for k, v in row.items() if k not in RUNNING_MOVES}
            expected = {k: v for k, v in expected.items() if k not in RUNNING_MOVES}
        assert row == expected


FILTERS: list[dict[str, Any]] = [
    {},
    {"includeDeleted": True},
    {"running": False, "billable": True},
    {"status": ["DRAFT", "LOCKED"]},
    {"from": "2025-03-09T00:00:00+01:00", "to": "2025-03-10T09:30:00Z"},
    {"descriptionContains": "ärger"},
    {"scopeType": "CATEGORY"},
]


def params_of(f: dict[str, Any]) -> list[tuple[str, str]]:
    """A filter as query parameters: lists repeated, Booleans as true/false."""
    out: list[tuple[str, str]] = []
    for name, value in f.items():
        for item in value if isinstance(value, list) else [value]:
            out.append((name, str(item).lower() if isinstance(item, bool) else str(item)))
    return out


async def test_the_export_equals_the_graphql_answer(
    scene: Scene, client: httpx.AsyncClient
) -> None:
    w = scene.acme
    lists: list[dict[str, Any]] = [
        {"userIds": [w.member.id, w.admin.id]},
        {"taskIds": [w.tasks["T-1"]], "userId": w.member.id},
        {"categoryIds": [w.categories["api"]], "includeDeleted": True},
    ]
    sizes = []
    for f in [*FILTERS, *lists]:
        full = {"teamId": w.id, **f}
        response = await client.get(ENTRIES, params=params_of(full), headers=auth(w.owner.token))
        exported = read_csv(response)
        assert_same(exported, await graphql_entries(client, w.owner.token, full))
        sizes.append(len(exported))
    # The filters really cut: every one kept some entries and not all of them.
    assert sizes[0] == len(scene.entries) - 1 and sizes[1] == len(scene.entries)
    assert all(0 < n < len(scene.entries) for n in sizes[2:]), sizes


async def test_the_csv_reads_back_through_the_csv_module(
    scene: Scene, client: httpx.AsyncClient
) -> None:
    w = scene.acme
    response = await client.get(ENTRIES, params={"teamId": w.id}, headers=auth(w.owner.token))
    body = response.content.decode()
    rows = list(csv.reader(io.StringIO(body, newline="")))
    assert rows[0] == list(ENTRY_HEADER)
    assert all(len(r) == len(ENTRY_HEADER) for r in rows)
    assert body.count("\r\n") >= len(rows)  # RFC 4180 line ends (and one inside a cell)
    descriptions = {r[ENTRY_HEADER.index("description")] for r in rows[1:]}
    assert descriptions >= {d for d in DESCRIPTIONS if d}  # quotes, commas, CRLF intact
    # Written back with csv and read again: the same rows.
    again = io.StringIO(newline="")
    csv.writer(again, lineterminator="\r\n").writerows(rows)
    assert again.getvalue() == body
    locked = next(r for r in rows[1:] if r[ENTRY_HEADER.index("status")] == "LOCKED")
    assert locked[ENTRY_HEADER.index("roundedSeconds")] == "3600"  # frozen, not 4000 rounded
    assert locked[ENTRY_HEADER.index("amount")] == "77.77"


async def test_the_excel_variant(scene: Scene, client: httpx.AsyncClient) -> None:
    w = scene.acme
    # Stopped entries only: a running one's seconds move between two requests.
    team = {"teamId": w.id, "running": "false"}
    plain = read_csv(await client.get(ENTRIES, params=team, headers=auth(w.owner.token)))
    for option in ({"excel": "true"}, {"format": "excel"}, {"excel": "TRUE", "format": "csv"}):
        response = await client.get(ENTRIES, params={**team, **option}, headers=auth(w.owner.token))
        assert response.content.startswith(b"\xef\xbb\xbf" + b"id;teamId;teamName;")
        excel = read_csv(response, excel=True)
        # The same cells, but text a spreadsheet would run as a formula starts with '.
        guarded = [
            {
                k: ("'" + v if k == "description" and v[:1] in ("=", "-") else v)
                for k, v in r.items()
            }
            for r in plain
        ]
        assert excel == guarded
        assert {r["description"] for r in excel} >= {"'=SUM(1;2)", "'-5 minutes"}
    for option in ({"excel": "false"}, {"format": "csv"}):
        response = await client.get(ENTRIES, params={**team, **option}, headers=auth(w.owner.token))
        assert read_csv(response) == plain


async def test_headers_and_file_names(scene: Scene, client: httpx.AsyncClient) -> None:
    w = scene.acme
    response = await client.get(
        ENTRIES,
        params={"teamId": w.id, "from": "2025-03-01T00:00:00Z", "to": "2025-04-01T00:00:00Z"},
        headers=auth(w.owner.token),
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8; header=present"
    assert response.headers["content-disposition"] == (
        'attachment; filename="acme-cafe-zurich_time-entries_2025-03-01_2025-04-01.csv"'
    )
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-request-id"]
    response = await client.get(
        REPORT, params={"teamId": w.id, "groupBy": "USER"}, headers=auth(w.owner.token)
    )
    assert response.headers["content-disposition"] == (
        'attachment; filename="acme-cafe-zurich_report_all.csv"'
    )
    # A team the viewer is not in: named like one that does not exist.
    response = await client.get(
        ENTRIES, params={"teamId": scene.other.id}, headers=auth(w.owner.token)
    )
    assert response.headers["content-disposition"] == (
        'attachment; filename="team_time-entries_all.csv"'
    )
    # HEAD: the same headers, no body.
    response = await client.head(ENTRIES, params={"teamId": w.id}, headers=auth(w.owner.token))
    assert response.status_code == 200 and response.content == b""
    assert response.headers["content-disposition"].startswith("attachment; filename=")
    start = datetime(2025, 1, 1, tzinfo=UTC)
    assert (
        file_name("Ärger & Co. KG", "report", start, None)
        == "arger-co-kg_report_2025-01-01_now.csv"
    )
    assert file_name("", "report", None, start) == "team_report_start_2025-01-01.csv"
    assert slug("東京") == "" and slug('a"b\\c') == "a-b-c"


async def test_the_report_equals_timereport(scene: Scene, client: httpx.AsyncClient) -> None:
    w = scene.acme
    for f in ({"running": False}, {"userIds": [w.member.id, w.owner.id], "running": False}):
        full = {"teamId": w.id, **f}
        groups = ["USER", "CATEGORY", "DAY"]
        response = await client.get(
            REPORT,
            params=[*params_of(full), ("groupBy", "USER,CATEGORY"), ("groupBy", "DAY")],
            headers=auth(w.owner.token),
        )
        rows = read_csv(response)
        body = (
            await client.post(
                "/graphql",
                json={"query": GRAPHQL_REPORT, "variables": {"f": full, "g": groups}},
                headers=auth(w.owner.token),
            )
        ).json()
        report = body["data"]["timeReport"]
        buckets, totals = rows[:-1], rows[-1]
        assert len(buckets) == len(report["buckets"]) > 1
        assert list(rows[0]) == [
            "row",
            "userId",
            "userNickname",
            "categoryId",
            "categoryTitle",
            "day",
            "totalSeconds",
            "totalDuration",
            "roundedSeconds",
            "roundedDuration",
            "totalCents",
            "total",
            "entryCount",
            "runningCount",
        ]
        for row, bucket in zip(buckets, report["buckets"], strict=True):
            assert row["row"] == "bucket"
            assert (row["userId"], row["userNickname"]) == (
                bucket["user"]["id"],
                bucket["user"]["nickname"],
            )
            category = bucket["category"] or {"id": "", "title": ""}
            assert (row["categoryId"], row["categoryTitle"]) == (category["id"], category["title"])
            assert row["day"] == bucket["day"]
            for name in SUMS.split():
                assert int(row[name]) == bucket[name], name
            cents = bucket["totalCents"]
            assert row["total"] == f"{cents // 100}.{cents % 100:02d}"
            seconds = bucket["roundedSeconds"]
            assert row["roundedDuration"] == f"{seconds // 3600}:{seconds % 3600 // 60:02d}"
        assert totals["row"] == "total" and totals["userId"] == totals["day"] == ""
        for name in SUMS.split():
            assert int(totals[name]) == report["totals"][name], name


async def test_list_parameters_repeat_or_take_commas(
    scene: Scene, client: httpx.AsyncClient
) -> None:
    w = scene.acme
    token = w.owner.token
    repeated = await client.get(
        ENTRIES,
        params=[
            ("teamId", w.id),
            ("userIds", w.member.id),
            ("userIds", w.admin.id),
            ("status", "DRAFT"),
            ("status", "SUBMITTED"),
        ],
        headers=auth(token),
    )
    commas = await client.get(
        ENTRIES,
        params={
            "teamId": w.id,
            "userIds": f"{w.member.id},{w.admin.id.lower()}",
            "status": "DRAFT,SUBMITTED",
        },
        headers=auth(token),
    )
    assert read_csv(repeated) == read_csv(commas)
    assert {r["userId"] for r in read_csv(commas)} == {w.member.id, w.admin.id}
    # An empty value is a parameter not given.
    empty = await client.get(
        ENTRIES, params={"teamId": w.id, "userIds": "", "billable": ""}, headers=auth(token)
    )
    everything = await client.get(ENTRIES, params={"teamId": w.id}, headers=auth(token))
    assert [r["id"] for r in read_csv(empty)] == [r["id"] for r in read_csv(everything)]


def entries_scope(w: TeamWorld, *, spec_version: str) -> dict[str, Any]:
    """The ASGI scope of the owner's GET of the team's entries export, for a test that
    drives the app's ASGI interface itself (to watch each body message it sends)."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": spec_version},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": ENTRIES,
        "raw_path": ENTRIES.encode(),
        "root_path": "",
        "query_string": f"teamId={w.id}".encode(),
        "headers": [(b"authorization", f"Bearer {w.owner.token}".encode()), (b"host", b"t")],
        "client": ("127.0.0.1", 1),
        "server": ("t", 80),
        "state": {},
    }


def wrong_secret(token: str) -> str:
    """The token with its last character changed (to another one, whatever it was)."""
    return token[:-1] + ("y" if token.endswith("x") else "x")


async def test_a_token_is_needed(scene: Scene, db: Database, client: httpx.AsyncClient) -> None:
    w = scene.acme
    for path in (ENTRIES, REPORT):
        params = {"teamId": w.id, "groupBy": "USER"} if path == REPORT else {"teamId": w.id}
        for headers, message in (
            ({}, "Authentication required"),
            ({"authorization": "Bearer pc_nope"}, "not valid"),
            ({"authorization": "Basic abc"}, "Authentication required"),
            (auth(wrong_secret(w.owner.token)), "not valid"),
        ):
            response = await client.get(path, params=params, headers=headers)
            assert response.status_code == 401, (headers, response.text[:300])
            assert response.headers["content-type"] == "application/json"
            body = response.json()
            assert body["data"] is None
            assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
            assert message in body["errors"][0]["message"]
            assert body["errors"][0]["extensions"]["requestId"] == response.headers["x-request-id"]
    # A revoked token, from the next request on.
    assert (
        await client.get(ENTRIES, params={"teamId": w.id}, headers=auth(w.member.token))
    ).status_code == 200
    prefix = w.member.token.split("_")[1]
    async with db.write() as s:
        assert await tokens.revoke_token(s, prefix=prefix, at=datetime.now(UTC))
        await s.commit()
    response = await client.get(ENTRIES, params={"teamId": w.id}, headers=auth(w.member.token))
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_another_teams_data_reads_as_nothing(scene: Scene, client: httpx.AsyncClient) -> None:
    w, o = scene.acme, scene.other
    token = w.owner.token
    response = await client.get(ENTRIES, params={"teamId": o.id}, headers=auth(token))
    assert read_csv(response) == []
    assert response.content.decode() == ",".join(ENTRY_HEADER) + "\r\n"
    response = await client.get(
        REPORT, params={"teamId": o.id, "groupBy": "USER"}, headers=auth(token)
    )
    assert read_csv(response) == [
        dict(
            zip(
                [
                    "row",
                    "userId",
                    "userNickname",
                    "totalSeconds",
                    "totalDuration",
                    "roundedSeconds",
                    "roundedDuration",
                    "totalCents",
                    "total",
                    "entryCount",
                    "runningCount",
                ],
                ["total", "", "", "0", "0:00", "0", "0:00", "0", "0.00", "0", "0"],
                strict=True,
            )
        )
    ]
    # A team that does not exist answers the same.
    response = await client.get(ENTRIES, params={"teamId": new_id()}, headers=auth(token))
    assert read_csv(response) == []
    # Another team's ids in the viewer's own team's export: nothing of theirs, no error.
    for name, value in (
        ("userIds", o.owner.id),
        ("taskIds", o.tasks["T-1"]),
        ("categoryIds", o.categories["dev"]),
        ("categoryId", o.categories["dev"]),
    ):
        response = await client.get(
            ENTRIES, params={"teamId": w.id, name: value}, headers=auth(token)
        )
        assert read_csv(response) == [], name
    # The other team's own members see theirs.
    response = await client.get(ENTRIES, params={"teamId": o.id}, headers=auth(o.member.token))
    assert [r["description"] for r in read_csv(response)] == ["plain"]


async def test_bad_parameters_are_coded_json_400(scene: Scene, client: httpx.AsyncClient) -> None:
    w = scene.acme
    token = w.owner.token
    team = ("teamId", w.id)
    cases: list[tuple[str, list[tuple[str, str]], str, str]] = [
        (ENTRIES, [], "BAD_USER_INPUT", "Parameter `teamId` is required."),
        (ENTRIES, [team, ("bogus", "1")], "BAD_REQUEST", "Unknown parameter `bogus`"),
        (ENTRIES, [team, ("first", "10")], "BAD_REQUEST", "Unknown parameter `first`"),
        (ENTRIES, [team, ("groupBy", "USER")], "BAD_REQUEST", "Unknown parameter `groupBy`"),
        (ENTRIES, [team, ("userId", "a"), ("userId", "b")], "BAD_REQUEST", "given 2 times"),
        (ENTRIES, [team, ("scopeType", "NOPE")], "BAD_USER_INPUT", "Parameter `scopeType`"),
        (ENTRIES, [team, ("status", "DRAFT,NOPE")], "BAD_USER_INPUT", "Parameter `status`[1]"),
        (ENTRIES, [team, ("from", "2025-03-01T00:00:00")], "BAD_USER_INPUT", "has no offset"),
        (ENTRIES, [team, ("billable", "yes")], "BAD_USER_INPUT", "Parameter `billable`"),
        (ENTRIES, [team, ("userId", "a\x00")], "BAD_USER_INPUT", "NUL"),
        (ENTRIES, [team, ("excel", "maybe")], "BAD_USER_INPUT", "`excel`"),
        (ENTRIES, [team, ("format", "xlsx")], "BAD_USER_INPUT", "`format`"),
        (
            ENTRIES,
            [team, *(("taskIds", new_id()) for _ in range(101))],
            "VALIDATION",
            "`taskIds` takes at most 100 ids (got 101).",
        ),
        (REPORT, [team], "BAD_USER_INPUT", "Parameter `groupBy` is required."),
        (REPORT, [team, ("groupBy", "DAYS")], "BAD_USER_INPUT", "Did you mean"),
        (REPORT, [team, ("groupBy", "USER,TASK,DAY,WEEK")], "VALIDATION", "1 to 3 keys"),
        (REPORT, [team, ("groupBy", "USER"), ("timeZone", "Mars/Base")], "VALIDATION", "time zone"),
        (REPORT, [team, ("groupBy", "USER"), ("weekStart", "9")], "VALIDATION", "weekStart"),
        (REPORT, [team, ("groupBy", "USER"), ("weekStart", "x")], "BAD_USER_INPUT", "weekStart"),
        (
            REPORT,
            [team, ("groupBy", "USER"), *(("userIds", new_id()) for _ in range(101))],
            "VALIDATION",
            "`userIds` takes at most 100",
        ),
    ]
    for path, params, code, message in cases:
        response = await client.get(path, params=params, headers=auth(token))
        assert response.status_code == 400, (params, response.text)
        assert response.headers["content-type"] == "application/json"
        body = response.json()
        assert [e["extensions"]["code"] for e in body["errors"]] == [code], (params, body)
        assert message in body["errors"][0]["message"], (params, body)
    # A method the route does not take: JSON too.
    response = await client.post(ENTRIES, params=[team], headers=auth(token))
    assert response.status_code == 405
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    # The modern media type, when asked for: no data entry, as GraphQL over HTTP says.
    response = await client.get(
        ENTRIES,
        params=[team, ("bogus", "1")],
        headers={**auth(token), "accept": "application/graphql-response+json"},
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/graphql-response+json; charset=utf-8"
    assert "data" not in response.json()


async def test_exports_are_charged_to_the_rate_limit(scene: Scene, make_client: Any) -> None:
    w = scene.acme
    client = await make_client(rate_limit_enabled=True, rate_limit_points=EXPORT_POINTS + 5)
    first = await client.get(ENTRIES, params={"teamId": w.id}, headers=auth(w.owner.token))
    assert first.status_code == 200
    second = await client.get(ENTRIES, params={"teamId": w.id}, headers=auth(w.owner.token))
    assert second.status_code == 429
    assert int(second.headers["retry-after"]) >= 1
    assert second.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    # Another token has its own points.
    other = await client.get(ENTRIES, params={"teamId": w.id}, headers=auth(w.member.token))
    assert other.status_code == 200


async def test_rows_stream_in_batches_from_a_server_side_cursor(
    scene: Scene, db: Database, database_url: str
) -> None:
    """The export's statement runs with ``stream_results`` (a server-side cursor) and
    ``yield_per``, and the rows leave in one body message per batch: never all at once."""
    w = scene.acme
    async with db.write() as s:
        for i in range(95):
            started = BASE - timedelta(days=10, minutes=i)
            s.add(
                TimeEntry(
                    id=new_id(),
                    team_id=w.id,
                    user_id=w.member.id,
                    scope_type="TASK",
                    task_id=w.tasks["T-1"],
                    started_at=started,
                    stopped_at=started + timedelta(seconds=60),
                    duration_seconds=60,
                    work_date=started.date(),
                    billable=True,
                )
            )
        await s.commit()
    app = create_app(Settings(database_url=database_url, export_batch_rows=10, **QUIET))
    engine = app.state.services.db.engine.sync_engine
    seen: list[dict[str, Any]] = []

    def before(_conn: Any, _cursor: Any, statement: str, _p: Any, context: Any, _m: Any) -> None:
        if "time_entries" in statement and "ORDER BY" in statement:
            seen.append(dict(context.execution_options))

    event.listen(engine, "before_cursor_execute", before)
    bodies: list[bytes] = []

    requested = asyncio.Event()

    async def receive() -> dict[str, Any]:
        if not requested.is_set():
            requested.set()
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()  # the client stays until the answer ends
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body" and message.get("body"):
            bodies.append(message["body"])

    scope = entries_scope(w, spec_version="2.4")
    async with app.router.lifespan_context(app):
        await app(scope, receive, send)  # type: ignore[arg-type]
    rows = [len(list(csv.reader(io.StringIO(b.decode(), newline="")))) for b in bodies]
    total = len(scene.entries) - 1 + 95  # the live ones
    assert sum(rows) == total + 1  # and the header
    assert len(bodies) == -(-total // 10)  # one message per batch of 10
    assert max(rows) <= 11  # a batch (the first one with the header)
    assert len(seen) == 1 and seen[0].get("stream_results") and seen[0].get("yield_per") == 10


def soffice() -> str:
    found = shutil.which("soffice")
    if found is None:
        reason = (
            "LibreOffice (soffice) is not installed: apt-get install -y "
            "--no-install-recommends libreoffice-calc-nogui"
        )
        if IN_CI:
            pytest.fail(reason + "; CI=true, so this fails instead of skipping")
        pytest.skip(reason)
    return found


@pytest.mark.parametrize("excel", [False, True])
async def test_libreoffice_opens_the_export(
    scene: Scene, client: httpx.AsyncClient, tmp_path: Path, excel: bool
) -> None:
    binary = soffice()
    w = scene.acme
    params = {"teamId": w.id, **({"excel": "true"} if excel else {})}
    response = await client.get(ENTRIES, params=params, headers=auth(w.owner.token))
    rows = read_csv(response, excel=excel)
    source = tmp_path / "export.csv"
    source.write_bytes(response.content)
    # CSV import: separator, quote, UTF-8 (76), from line 1.
    separator = "59" if excel else "44"
    completed = subprocess.run(
        [
            binary,
            f"-env:UserInstallation=file://{tmp_path / 'profile'}",
            "--headless",
            f"--infilter=CSV:{separator},34,76,1",
            "--convert-to",
            "xlsx",
            "--outdir",
            str(tmp_path),
            str(source),
        ],
        capture_output=True,
        timeout=180,
        check=False,
    )
    target = tmp_path / "export.xlsx"
    assert completed.returncode == 0 and target.exists(), completed
    with zipfile.ZipFile(target) as xlsx:
        assert xlsx.testzip() is None
        names = set(xlsx.namelist())
        assert "xl/worksheets/sheet1.xml" in names
        sheet = xlsx.read("xl/worksheets/sheet1.xml").decode()
        strings = (
            xlsx.read("xl/sharedStrings.xml").decode() if "xl/sharedStrings.xml" in names else ""
        )
    # Every row arrived, the header and the texts among them (Unicode included).
    assert sheet.count("<row ") == len(rows) + 1
    for value in ("durationSeconds", "Acme Café Zürich", "Ärger ΟΔΟΣ ✓", rows[0]["id"]):
        assert value in strings or value in sheet, value


def test_the_readme_documents_every_column() -> None:
    """README's table of the entries' columns lists the export's header, in its order."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Exporting CSV", 1)[1].split("\n## ", 1)[0]
    table = section.split("| column | value |", 1)[1].split("\n\n", 1)[0]
    documented = [line.split("`")[1] for line in table.splitlines() if line.startswith("| `")]
    assert documented == list(ENTRY_HEADER)


async def test_streams_beyond_the_limit_are_refused_until_one_ends(
    scene: Scene, database_url: str
) -> None:
    """``export_max_streams`` exports stream at once (each holds a pooled connection);
    another is refused with RATE_LIMITED and Retry-After, and runs once a slot is free."""
    w = scene.acme
    app = create_app(
        Settings(database_url=database_url, export_batch_rows=2, export_max_streams=1, **QUIET)
    )
    release = asyncio.Event()
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if not sent:
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()
        return {"type": "http.disconnect"}

    async def slow_send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "http.response.body":
            await release.wait()  # a client that does not read on

    scope = entries_scope(w, spec_version="2.3")
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        first = asyncio.create_task(app(scope, receive, slow_send))  # type: ignore[arg-type]
        while not any(m["type"] == "http.response.body" for m in sent):
            await asyncio.sleep(0.01)
        busy = await client.get(ENTRIES, params={"teamId": w.id}, headers=auth(w.admin.token))
        assert busy.status_code == 429
        assert busy.headers["retry-after"] == "5"
        assert busy.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
        # A report holds no stream: it still runs.
        report = await client.get(
            REPORT, params={"teamId": w.id, "groupBy": "USER"}, headers=auth(w.admin.token)
        )
        assert report.status_code == 200
        release.set()
        await first
        assert sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
        again = await client.get(ENTRIES, params={"teamId": w.id}, headers=auth(w.admin.token))
        assert again.status_code == 200 and len(read_csv(again)) == len(scene.entries) - 1

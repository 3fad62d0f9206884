"""The contract's amendments of 2026-12-01 and the defects of the same audit, one test each
(both databases, through the API)."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from gql.server.app import create_app
from gql.settings import Settings
from store.db import Database
from store.events import EntryEvent
from store.ids import new_id
from tests.conftest import GQL
from tests.factories import TeamWorld, add_running_entry, make_team
from tests.gql.mutation_helpers import (
    COMMENT,
    DELETE,
    LOCK,
    LOG,
    START,
    STOP,
    TRANSITION,
    UPDATE,
    mutate,
    ok,
    refused,
)

TEAM = """mutation($input: UpdateTeamInput!) { updateTeam(input: $input) {
  userErrors { code field message } team { id rounding roundingMinutes } } }"""
CATEGORY = """mutation($input: CreateCategoryInput!) { createCategory(input: $input) {
  userErrors { code field message } category { id } } }"""
ARCHIVE = """mutation($input: UpdateCategoryInput!) { updateCategory(input: $input) {
  userErrors { code field message } category { id archived } } }"""
TASK = """mutation($input: UpdateTaskInput!) { updateTask(input: $input) {
  userErrors { code field message } task { id state } } }"""
ENTRY = """query($id: ID!) { timeEntry(id: $id) { id version status roundedSeconds amountCents
  description deletedAt billable rateSnapshotCents autoStopped durationSeconds running
  startedAt stoppedAt createdAt updatedAt lockedAt } }"""
REPORT = """query($f: TimeEntryFilter!) { timeReport(filter: $f, groupBy: [TEAM]) {
  totals { roundedSeconds totalCents } } }"""
WHOLE_SECONDS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _ago(**delta: float) -> str:
    return (datetime.now(UTC).replace(microsecond=0) - timedelta(**delta)).isoformat()


async def _log(gql: GQL, world: TeamWorld, token: str, **extra: Any) -> dict[str, Any]:
    data = {
        "teamId": world.id,
        "taskId": world.tasks["T-2"],
        "startedAt": "2025-03-10T09:00:00Z",
        "durationSeconds": 1000,
        **extra,
    }
    entry: dict[str, Any] = ok(await mutate(gql, LOG, data, token))["timeEntry"]
    return entry


async def _entry(gql: GQL, entry_id: str, token: str) -> dict[str, Any]:
    body = await gql(ENTRY, {"id": entry_id}, token=token)
    assert body.get("errors") is None, body
    found: dict[str, Any] = body["data"]["timeEntry"]
    return found


async def _move(gql: GQL, ids: list[str], to: str, token: str) -> None:
    ok(await mutate(gql, TRANSITION, {"ids": ids, "to": to}, token))


# --- who may change what -----------------------------------------------------------------


async def test_members_change_only_their_draft_and_rejected_entries(db: Database, gql: GQL) -> None:
    w = await make_team(db, "Acme", prefix="a")
    member, admin = w.member.token, w.admin.token
    entry = await _log(gql, w, member)
    await _move(gql, [entry["id"]], "SUBMITTED", member)
    change = {"id": entry["id"], "description": "edited"}
    refused(await mutate(gql, UPDATE, change, member), "ENTRY_LOCKED", ["input", "id"])
    refused(await mutate(gql, DELETE, {"id": entry["id"]}, member), "ENTRY_LOCKED", ["input", "id"])
    # The entry's user withdraws it (SUBMITTED -> DRAFT); an admin may not do that for them.
    refused(
        await mutate(gql, TRANSITION, {"ids": [entry["id"]], "to": "DRAFT"}, admin), "FORBIDDEN"
    )
    await _move(gql, [entry["id"]], "DRAFT", member)
    assert ok(await mutate(gql, UPDATE, change, member))["timeEntry"]["description"] == "edited"
    await _move(gql, [entry["id"]], "SUBMITTED", member)
    await _move(gql, [entry["id"]], "APPROVED", admin)
    refused(await mutate(gql, UPDATE, change | {"description": "x"}, member), "ENTRY_LOCKED")
    # Admins change entries in any state but LOCKED and INVOICED.
    assert ok(await mutate(gql, UPDATE, change | {"description": "by admin"}, admin))
    await _move(gql, [entry["id"]], "LOCKED", admin)
    refused(await mutate(gql, UPDATE, change | {"description": "y"}, admin), "ENTRY_LOCKED")
    # REJECTED is the member's to fix again.
    other = await _log(gql, w, member, startedAt="2025-03-11T09:00:00Z")
    await _move(gql, [other["id"]], "SUBMITTED", member)
    await _move(gql, [other["id"]], "REJECTED", admin)
    assert ok(await mutate(gql, UPDATE, {"id": other["id"], "description": "fixed"}, member))


async def test_a_period_lock_freezes_data_not_the_workflow(db: Database, gql: GQL) -> None:
    w = await make_team(db, "Acme", prefix="a")
    member, admin = w.member.token, w.admin.token
    entry = await _log(gql, w, member)
    await _move(gql, [entry["id"]], "SUBMITTED", member)
    ok(await mutate(gql, LOCK, {"teamId": w.id, "before": "2025-04-01T00:00:00Z"}, admin))
    for to in ("APPROVED", "LOCKED", "INVOICED"):
        await _move(gql, [entry["id"]], to, admin)
    assert (await _entry(gql, entry["id"], admin))["status"] == "INVOICED"
    draft = await _log(gql, w, member, startedAt="2025-04-02T09:00:00Z")
    moved_in = {"id": draft["id"], "startedAt": "2025-03-20T09:00:00Z"}
    refused(await mutate(gql, UPDATE, moved_in, admin), "ENTRY_LOCKED", ["input", "startedAt"])
    inside = {
        "teamId": w.id,
        "taskId": w.tasks["T-2"],
        "startedAt": "2025-03-20T09:00:00Z",
        "durationSeconds": 60,
    }
    refused(await mutate(gql, LOG, inside, member), "ENTRY_LOCKED", ["input", "startedAt"])


async def test_locked_money_never_moves(db: Database, gql: GQL) -> None:
    w = await make_team(db, "Acme", prefix="a")
    member, admin = w.member.token, w.admin.token
    locked = await _log(gql, w, member)  # 1000 s at the member's 9000 cents an hour
    approved = await _log(gql, w, member, startedAt="2025-03-11T09:00:00Z")
    ids = [locked["id"], approved["id"]]
    for to in ("SUBMITTED",):
        await _move(gql, ids, to, member)
    await _move(gql, ids, "APPROVED", admin)
    await _move(gql, [locked["id"]], "LOCKED", admin)
    before = await _entry(gql, locked["id"], admin)
    assert (before["roundedSeconds"], before["amountCents"]) == (1000, 2500)
    f = {"teamId": w.id, "status": ["LOCKED"]}
    report_before = (await gql(REPORT, {"f": f}, token=admin))["data"]["timeReport"]["totals"]
    team = {"id": w.id, "rounding": "CEIL", "roundingMinutes": 60}
    ok(await mutate(gql, TEAM, team, w.owner.token))
    after = await _entry(gql, locked["id"], admin)
    assert (after["roundedSeconds"], after["amountCents"]) == (1000, 2500)
    report_after = (await gql(REPORT, {"f": f}, token=admin))["data"]["timeReport"]["totals"]
    assert report_after == report_before == {"roundedSeconds": 1000, "totalCents": 2500}
    # What is not locked follows the team's rule, and so does an entry once unlocked.
    assert (await _entry(gql, approved["id"], admin))["roundedSeconds"] == 3600
    await _move(gql, [locked["id"]], "APPROVED", admin)
    thawed = await _entry(gql, locked["id"], admin)
    assert (thawed["roundedSeconds"], thawed["amountCents"]) == (3600, 9000)
    await _move(gql, [locked["id"]], "LOCKED", admin)
    await _move(gql, [locked["id"]], "INVOICED", admin)
    ok(await mutate(gql, TEAM, {"id": w.id, "rounding": "NONE"}, w.owner.token))
    invoiced = await _entry(gql, locked["id"], admin)
    assert (invoiced["roundedSeconds"], invoiced["amountCents"]) == (3600, 9000)


# --- timers: 1 second to 24 hours ---------------------------------------------------------


async def test_timer_starts_within_the_last_24_hours(db: Database, gql: GQL) -> None:
    w = await make_team(db, "Acme", prefix="a")
    start = {"teamId": w.id, "taskId": w.tasks["T-1"]}
    refused(
        await mutate(gql, START, start | {"startedAt": _ago(hours=24, seconds=30)}, w.member.token),
        "VALIDATION",
        ["input", "startedAt"],
    )
    refused(
        await mutate(gql, START, start | {"startedAt": _ago(seconds=-30)}, w.member.token),
        "VALIDATION",
        ["input", "startedAt"],
    )
    assert ok(await mutate(gql, START, start | {"startedAt": _ago(hours=23)}, w.member.token))


async def test_an_entry_stopped_in_its_first_second_lasts_one(db: Database, gql: GQL) -> None:
    w = await make_team(db, "Acme", prefix="a")
    at = datetime.now(UTC).replace(microsecond=0)
    start = {"teamId": w.id, "taskId": w.tasks["T-1"], "startedAt": at.isoformat()}
    first = ok(await mutate(gql, START, start, w.member.token))["timeEntry"]
    # Started again at the same instant: the first lasts 1 s, the second begins at its end.
    second = ok(await mutate(gql, START, start, w.member.token))
    assert second["stoppedEntry"]["id"] == first["id"]
    assert second["stoppedEntry"]["durationSeconds"] == 1
    assert second["timeEntry"]["startedAt"] == second["stoppedEntry"]["stoppedAt"]
    # Stopped now, within (or just after) its first second: at least 1 s.
    stopped = ok(await mutate(gql, STOP, {}, w.member.token))["timeEntry"]
    assert stopped["id"] == second["timeEntry"]["id"] and stopped["durationSeconds"] >= 1
    # Stopped explicitly at its very start: 1 s.
    ten_ago = {"teamId": w.id, "taskId": w.tasks["T-1"], "startedAt": _ago(seconds=10)}
    ok(await mutate(gql, START, ten_ago, w.member.token))
    at_start = ok(await mutate(gql, STOP, {"stoppedAt": ten_ago["startedAt"]}, w.member.token))
    assert at_start["timeEntry"]["durationSeconds"] == 1


async def test_the_server_stops_a_timer_at_24_hours(db: Database, database_url: str) -> None:
    w = await make_team(db, "Acme", prefix="a")
    began = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=24, seconds=5)
    entry_id = await add_running_entry(db, w, w.member.id, began)
    app = create_app(Settings(database_url=database_url, timer_sweep_seconds=0.05))
    events: list[EntryEvent] = []
    app.state.services.events.listen(events.append)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://t") as client,
    ):
        for _ in range(200):
            if any(e.entry_id == entry_id for e in events):
                break
            await asyncio.sleep(0.05)
        response = await client.post(
            "/graphql",
            json={"query": ENTRY, "variables": {"id": entry_id}},
            headers={"authorization": f"Bearer {w.member.token}"},
        )
    entry = response.json()["data"]["timeEntry"]
    assert entry["running"] is False and entry["autoStopped"] is True
    assert entry["durationSeconds"] == 86400
    assert entry["stoppedAt"] == (began + timedelta(hours=24)).isoformat().replace("+00:00", "Z")
    assert [(e.kind.value, e.version) for e in events if e.entry_id == entry_id] == [("STOPPED", 2)]


# --- category rights, archived subtrees, closed tasks -------------------------------------


async def test_categories_are_created_by_admins_only(db: Database, gql: GQL) -> None:
    w = await make_team(db, "Acme", prefix="a")
    refused(
        await mutate(gql, CATEGORY, {"teamId": w.id, "title": "Ops"}, w.member.token),
        "FORBIDDEN",
    )
    by_key = {
        "teamId": w.id,
        "task": {"key": "NEW-1", "parentCategory": {"key": "ops", "title": "Ops"}},
    }
    refused(
        await mutate(gql, START, by_key, w.member.token),
        "FORBIDDEN",
        ["input", "task", "parentCategory", "key"],
    )
    cats = await gql(
        "query($id: ID!) { team(id: $id) { categories { key } tasks { nodes { key } } } }",
        {"id": w.id},
        token=w.member.token,
    )
    team = cats["data"]["team"]
    assert "ops" not in {c["key"] for c in team["categories"]}
    assert "NEW-1" not in {t["key"] for t in team["tasks"]["nodes"]}
    assert ok(await mutate(gql, START, by_key, w.admin.token))["isNewTask"] is True


async def test_an_archived_category_closes_its_subtree(db: Database, gql: GQL) -> None:
    w = await make_team(db, "Acme", prefix="a")
    ok(await mutate(gql, ARCHIVE, {"id": w.categories["dev"], "archived": True}, w.admin.token))
    log = {"teamId": w.id, "startedAt": "2025-03-10T09:00:00Z", "durationSeconds": 60}
    # T-1 is on "api", a child of the archived "dev".
    for scope, field in (
        ({"taskId": w.tasks["T-1"]}, "taskId"),
        ({"categoryId": w.categories["api"]}, "categoryId"),
    ):
        refused(
            await mutate(gql, LOG, log | scope, w.member.token),
            "CATEGORY_ARCHIVED",
            ["input", field],
        )
        refused(
            await mutate(gql, START, {"teamId": w.id, **scope}, w.member.token),
            "CATEGORY_ARCHIVED",
            ["input", field],
        )
    by_key = {"teamId": w.id, "task": {"key": "NEW", "parentCategory": {"key": "dev"}}}
    refused(
        await mutate(gql, START, by_key, w.admin.token),
        "CATEGORY_ARCHIVED",
        ["input", "task", "parentCategory", "key"],
    )


async def test_no_time_on_a_closed_task(db: Database, gql: GQL) -> None:
    w = await make_team(db, "Acme", prefix="a")
    ok(await mutate(gql, TASK, {"id": w.tasks["T-2"], "state": "CLOSED"}, w.admin.token))
    log = {
        "teamId": w.id,
        "taskId": w.tasks["T-2"],
        "startedAt": "2025-03-10T09:00:00Z",
        "durationSeconds": 60,
    }
    refused(await mutate(gql, LOG, log, w.member.token), "VALIDATION", ["input", "taskId"])
    refused(
        await mutate(gql, START, {"teamId": w.id, "taskId": w.tasks["T-2"]}, w.member.token),
        "VALIDATION",
        ["input", "taskId"],
    )
    entry = await _log(gql, w, w.member.token, taskId=w.tasks["T-1"])
    refused(
        await mutate(gql, UPDATE, {"id": entry["id"], "taskId": w.tasks["T-2"]}, w.member.token),
        "VALIDATION",
        ["input", "taskId"],
    )


# --- versions, time stamps, ids, field paths ----------------------------------------------


async def test_versions_count_changes(db: Database, gql: GQL) -> None:
    w = await make_team(db, "Acme", prefix="a")
    entry = await _log(gql, w, w.member.token, description="same")
    same = {"id": entry["id"], "description": "same", "durationSeconds": 1000}
    assert ok(await mutate(gql, UPDATE, same, w.member.token))["timeEntry"]["version"] == 1
    changed = same | {"description": "other"}
    assert ok(await mutate(gql, UPDATE, changed, w.member.token))["timeEntry"]["version"] == 2
    ref = {"provider": "jira", "externalType": "worklog", "externalId": "1"}
    imported = await _log(gql, w, w.member.token, externalRef=ref, startedAt="2025-03-12T09:00:00Z")
    again = await _log(gql, w, w.member.token, externalRef=ref, startedAt="2025-03-12T09:00:00Z")
    assert again["id"] == imported["id"] and again["version"] == 1
    moved = await _log(gql, w, w.member.token, externalRef=ref, startedAt="2025-03-12T10:00:00Z")
    assert moved["id"] == imported["id"] and moved["version"] == 2


async def test_every_instant_has_one_precision(db: Database, gql: GQL) -> None:
    w = await make_team(db, "Acme", prefix="a")
    entry = await _log(gql, w, w.member.token)
    await _move(gql, [entry["id"]], "SUBMITTED", w.member.token)
    await _move(gql, [entry["id"]], "APPROVED", w.admin.token)
    await _move(gql, [entry["id"]], "LOCKED", w.admin.token)
    found = await _entry(gql, entry["id"], w.admin.token)
    instants = [found[k] for k in ("startedAt", "stoppedAt", "createdAt", "updatedAt", "lockedAt")]
    assert all(WHOLE_SECONDS.match(v) for v in instants), instants


async def test_sync_feed_misses_no_change_within_a_second(db: Database, gql: GQL) -> None:
    """Changes one after another, several within each second, while a client polls
    ``updatedSince`` with the last ``updatedAt`` it saw: it sees every change."""
    w = await make_team(db, "Acme", prefix="a")
    token = w.member.token
    feed = """query($f: TimeEntryFilter!) { timeEntries(filter: $f, first: 100) {
      nodes { id version updatedAt deletedAt } } }"""
    made: set[tuple[str, int]] = set()
    seen: set[tuple[str, int]] = set()
    cursor: str | None = None

    async def poll() -> None:
        nonlocal cursor
        f: dict[str, Any] = {"teamId": w.id, "includeDeleted": True}
        if cursor is not None:
            f["updatedSince"] = cursor
        nodes = (await gql(feed, {"f": f}, token=token))["data"]["timeEntries"]["nodes"]
        for n in nodes:
            seen.add((n["id"], n["version"]))
            if cursor is None or _instant(n["updatedAt"]) > _instant(cursor):
                cursor = n["updatedAt"]

    await poll()
    for i in range(12):
        entry = await _log(gql, w, token, startedAt=f"2025-03-{10 + i}T09:00:00Z")
        made.add((entry["id"], entry["version"]))
        await poll()
        changed = ok(await mutate(gql, UPDATE, {"id": entry["id"], "description": f"#{i}"}, token))[
            "timeEntry"
        ]
        made.add((changed["id"], changed["version"]))
        await poll()
        if i % 3 == 0:
            gone = ok(await mutate(gql, DELETE, {"id": entry["id"]}, token))["timeEntry"]
            made.add((gone["id"], gone["version"]))
            await poll()
    assert len(made) == 28
    assert made <= seen, sorted(made - seen)


async def test_client_ulids_in_either_case_are_stored_upper_case(db: Database, gql: GQL) -> None:
    w = await make_team(db, "Acme", prefix="a")
    mine = new_id()
    entry = await _log(gql, w, w.member.token, id=mine.lower())
    assert entry["id"] == mine
    assert (await _entry(gql, mine.lower(), w.member.token))["id"] == mine
    again = ok(
        await mutate(
            gql,
            LOG,
            {
                "id": mine.lower(),
                "teamId": w.id,
                "taskId": w.tasks["T-2"],
                "startedAt": "2025-03-10T09:00:00Z",
                "durationSeconds": 1000,
            },
            w.member.token,
        )
    )
    assert again["replayed"] is True and again["timeEntry"]["id"] == mine


async def test_field_paths_start_with_input_and_name_a_sent_field(db: Database, gql: GQL) -> None:
    w = await make_team(db, "Acme", prefix="a")
    for change, field in (
        ({"weekStart": 9}, "weekStart"),
        ({"roundingMinutes": 0}, "roundingMinutes"),
        ({"defaultRateCents": -1}, "defaultRateCents"),
        ({"timeZone": "Mars/Olympus"}, "timeZone"),
    ):
        refused(
            await mutate(gql, TEAM, {"id": w.id, **change}, w.owner.token),
            "VALIDATION",
            ["input", field],
        )
    ok(await mutate(gql, ARCHIVE, {"id": w.categories["dev"], "archived": True}, w.admin.token))
    by_key = {"teamId": w.id, "task": {"key": "NEW", "parentCategory": {"key": "dev"}}}
    refused(
        await mutate(gql, START, by_key, w.admin.token),
        "CATEGORY_ARCHIVED",
        ["input", "task", "parentCategory", "key"],
    )
    refused(await mutate(gql, STOP, {}, w.member.token), "TIMER_NOT_RUNNING", ["input"])


# --- the other defects ----------------------------------------------------------------------


async def test_an_external_ref_repeat_restores_a_deleted_entry(db: Database, gql: GQL) -> None:
    w = await make_team(db, "Acme", prefix="a")
    ref = {"provider": "jira", "externalType": "worklog", "externalId": "7"}
    entry = await _log(gql, w, w.member.token, externalRef=ref)
    ok(await mutate(gql, DELETE, {"id": entry["id"]}, w.member.token))
    again = await _log(gql, w, w.member.token, externalRef=ref)
    assert again["id"] == entry["id"] and again["deletedAt"] is None and again["version"] == 3


async def test_a_work_date_must_match_the_start(db: Database, gql: GQL) -> None:
    w = await make_team(db, "Acme", prefix="a", time_zone="Asia/Tokyo")
    log = {
        "teamId": w.id,
        "taskId": w.tasks["T-2"],
        "startedAt": "2025-03-10T20:00:00Z",  # 11 March in Tokyo
        "durationSeconds": 60,
    }
    refused(
        await mutate(gql, LOG, log | {"workDate": "2025-03-10"}, w.member.token),
        "VALIDATION",
        ["input", "workDate"],
    )
    entry = ok(await mutate(gql, LOG, log | {"workDate": "2025-03-11"}, w.member.token))
    assert entry["timeEntry"]["workDate"] == "2025-03-11"
    refused(
        await mutate(
            gql,
            UPDATE,
            {
                "id": entry["timeEntry"]["id"],
                "startedAt": log["startedAt"],
                "workDate": "2025-03-12",
            },
            w.member.token,
        ),
        "VALIDATION",
        ["input", "workDate"],
    )


async def test_blank_text_is_no_text(db: Database, gql: GQL) -> None:
    w = await make_team(db, "Acme", prefix="a")
    entry = await _log(gql, w, w.member.token, description="   \n\t")
    assert entry["description"] is None
    refused(
        await mutate(gql, COMMENT, {"timeEntryId": entry["id"], "content": " \n "}, w.member.token),
        "VALIDATION",
        ["input", "content"],
    )
    refused(
        await mutate(
            gql,
            TRANSITION,
            {"ids": [entry["id"]], "to": "SUBMITTED", "reason": "  "},
            w.member.token,
        ),
        "VALIDATION",
        ["input", "reason"],
    )


async def test_a_moved_entry_is_billed_as_a_new_one_would_be(db: Database, gql: GQL) -> None:
    w = await make_team(db, "Acme", prefix="a", default_rate_cents=5000)
    # T-2 is on "dev" (the team's default: billable); T-1 on "api" (not billable).
    entry = await _log(gql, w, w.admin.token)
    assert (entry["billable"], entry["rateSnapshotCents"]) == (True, 5000)
    moved = ok(
        await mutate(gql, UPDATE, {"id": entry["id"], "taskId": w.tasks["T-1"]}, w.admin.token)
    )
    assert moved["timeEntry"]["billable"] is False
    # To the member: their rate (9000) as a new entry of theirs would get it.
    given = ok(
        await mutate(
            gql,
            UPDATE,
            {"id": entry["id"], "userId": w.member.id, "taskId": w.tasks["T-2"]},
            w.admin.token,
        )
    )["timeEntry"]
    assert (given["billable"], given["rateSnapshotCents"]) == (True, 9000)
    # An explicit flag wins over the defaults.
    explicit = ok(
        await mutate(
            gql,
            UPDATE,
            {"id": entry["id"], "taskId": w.tasks["T-1"], "billable": True},
            w.admin.token,
        )
    )["timeEntry"]
    assert explicit["billable"] is True

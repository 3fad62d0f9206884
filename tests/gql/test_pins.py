"""Favourite and recent tasks: ``User.recentTasks``, ``pinTask``/``unpinTask``,
``User.pinnedTasks`` and ``Task.pinned``. Every test runs on SQLite and PostgreSQL (the
``db``/``gql`` fixtures); the concurrency test on PostgreSQL only."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import select

from store import pins
from store.db import Database
from store.ids import new_id
from store.models import IdempotencyRecord, Task, TaskPin, TimeEntry
from store.timeutil import utcnow
from tests.conftest import GQL
from tests.factories import TeamWorld, add_entries, make_team
from tests.gql.mutation_helpers import ERRORS, mutate, ok, refused

RECENT = """query($team: ID!, $first: Int) { viewer { recentTasks(teamId: $team, first: $first)
  { id key pinned } } }"""
PINNED = """query($team: ID!) { viewer { pinnedTasks(teamId: $team) { id key pinned } } }"""
OTHER_USER = """query($id: ID!, $team: ID!) { node(id: $id) { ... on User {
  recentTasks(teamId: $team) { id } pinnedTasks(teamId: $team) { id } } } }"""
TASK_PINNED = """query($id: ID!) { node(id: $id) { ... on Task { id pinned } } }"""
PIN = f"""mutation($input: PinTaskInput!) {{ pinTask(input: $input) {{
  replayed {ERRORS} task {{ id key pinned }} }} }}"""
UNPIN = f"""mutation($input: UnpinTaskInput!) {{ unpinTask(input: $input) {{
  replayed {ERRORS} task {{ id key pinned }} }} }}"""
REMOVE = f"""mutation($input: RemoveTeamMemberInput!) {{ removeTeamMember(input: $input) {{
  removedUserId {ERRORS} }} }}"""


async def _data(gql: GQL, doc: str, variables: dict[str, Any], token: str) -> Any:
    body = await gql(doc, variables, token=token)
    assert body.get("errors") is None, body["errors"]
    return body["data"]


async def _recent(gql: GQL, w: TeamWorld, token: str, first: int | None = None) -> list[str]:
    data = await _data(gql, RECENT, {"team": w.id, "first": first}, token)
    return [t["key"] for t in data["viewer"]["recentTasks"]]


async def _pinned(gql: GQL, team_id: str, token: str) -> list[str]:
    data = await _data(gql, PINNED, {"team": team_id}, token)
    return [t["key"] for t in data["viewer"]["pinnedTasks"]]


async def _pins(db: Database) -> list[tuple[str, str]]:
    async with db.read() as s:
        rows = (await s.exec(select(TaskPin).order_by(TaskPin.user_id, TaskPin.task_id))).all()
    return [(r.user_id, r.task_id) for r in rows]


async def _add_tasks(db: Database, team_id: str, keys: list[str]) -> dict[str, str]:
    ids = {}
    async with db.write() as s:
        for key in keys:
            task = Task(id=new_id(), team_id=team_id, key=key, title=key)
            s.add(task)
            ids[key] = task.id
        await s.commit()
    return ids


@pytest.fixture
async def world(db: Database) -> TeamWorld:
    return await make_team(db, "Acme", prefix="a")


async def test_recent_tasks_most_recently_used_first_and_bounded(
    db: Database, gql: GQL, world: TeamWorld
) -> None:
    w, me = world, world.member
    extra = await _add_tasks(db, w.id, ["T-3", "T-4"])
    tasks = {**w.tasks, **extra}
    day = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
    # T-1 has many old entries and one recent; T-2 the newest; T-3 in between; T-4 oldest.
    await add_entries(db, team_id=w.id, user_id=me.id, task_id=tasks["T-1"], count=5, start=day)
    await add_entries(
        db, team_id=w.id, user_id=me.id, task_id=tasks["T-2"], count=1, start=day + timedelta(2)
    )
    await add_entries(
        db, team_id=w.id, user_id=me.id, task_id=tasks["T-3"], count=2, start=day + timedelta(1)
    )
    await add_entries(
        db, team_id=w.id, user_id=me.id, task_id=tasks["T-4"], count=1, start=day - timedelta(3)
    )
    # Entries without a task, and another user's newer entries, count for nothing.
    await add_entries(
        db, team_id=w.id, user_id=me.id, category_id=w.categories["dev"], count=2, start=day
    )
    await add_entries(
        db,
        team_id=w.id,
        user_id=w.admin.id,
        task_id=tasks["T-4"],
        count=1,
        start=day + timedelta(9),
    )
    assert await _recent(gql, w, me.token) == ["T-2", "T-3", "T-1", "T-4"]
    assert await _recent(gql, w, me.token, first=2) == ["T-2", "T-3"]
    assert await _recent(gql, w, me.token, first=1) == ["T-2"]
    assert await _recent(gql, w, w.admin.token) == ["T-4"]


async def test_recent_tasks_ties_by_task_id_and_deleted_entries_left_out(
    db: Database, gql: GQL, world: TeamWorld
) -> None:
    w, me = world, world.member
    at = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
    for key in ("T-1", "T-2"):
        await add_entries(db, team_id=w.id, user_id=me.id, task_id=w.tasks[key], count=1, start=at)
    by_id = sorted(["T-1", "T-2"], key=lambda k: w.tasks[k], reverse=True)
    assert await _recent(gql, w, me.token) == by_id
    # The newest entry of T-1 is deleted: T-1 falls back to its older one.
    [newest] = await add_entries(
        db, team_id=w.id, user_id=me.id, task_id=w.tasks["T-1"], count=1, start=at + timedelta(1)
    )
    await add_entries(
        db, team_id=w.id, user_id=me.id, task_id=w.tasks["T-2"], count=1, start=at + timedelta(0.5)
    )
    assert await _recent(gql, w, me.token) == ["T-1", "T-2"]
    async with db.write() as s:
        entry = await s.get(TimeEntry, newest)
        assert entry is not None
        entry.deleted_at = utcnow()
        await s.commit()
    assert await _recent(gql, w, me.token) == ["T-2", "T-1"]


async def test_recent_tasks_first_out_of_range_is_a_coded_error(gql: GQL, world: TeamWorld) -> None:
    for first, code in [(0, "VALIDATION"), (-1, "VALIDATION"), (51, "QUERY_TOO_COMPLEX")]:
        body = await gql(RECENT, {"team": world.id, "first": first}, token=world.member.token)
        [error] = body["errors"]
        assert error["extensions"]["code"] == code, body
        assert "first" in error["message"]
    assert await _recent(gql, world, world.member.token, first=50) == []


async def test_recents_and_pins_of_another_team_or_user_read_as_empty(
    db: Database, gql: GQL, world: TeamWorld
) -> None:
    other = await make_team(db, "Other", prefix="b")
    w, me = world, world.member
    await add_entries(db, team_id=w.id, user_id=me.id, task_id=w.tasks["T-1"], count=1)
    await add_entries(
        db, team_id=other.id, user_id=other.member.id, task_id=other.tasks["T-1"], count=1
    )
    ok(await mutate(gql, PIN, {"taskId": w.tasks["T-1"]}, me.token))
    # Another team: the viewer is not a member.
    assert await _data(gql, RECENT, {"team": other.id, "first": 10}, me.token) == {
        "viewer": {"recentTasks": []}
    }
    assert await _pinned(gql, other.id, me.token) == []
    assert await _pinned(gql, "not an id", me.token) == []
    # Another user of the same team: theirs are never shown.
    data = await _data(gql, OTHER_USER, {"id": me.id, "team": w.id}, w.admin.token)
    assert data["node"] == {"recentTasks": [], "pinnedTasks": []}
    # Their own, for comparison: the same documents answer them.
    data = await _data(gql, OTHER_USER, {"id": me.id, "team": w.id}, me.token)
    assert data["node"] == {
        "recentTasks": [{"id": w.tasks["T-1"]}],
        "pinnedTasks": [{"id": w.tasks["T-1"]}],
    }


async def test_pin_and_unpin_read_back_most_recently_pinned_first(
    db: Database, gql: GQL, world: TeamWorld
) -> None:
    w, me = world, world.member
    first = ok(await mutate(gql, PIN, {"taskId": w.tasks["T-2"]}, me.token))
    assert first["task"] == {"id": w.tasks["T-2"], "key": "T-2", "pinned": True}
    assert first["replayed"] is False
    ok(await mutate(gql, PIN, {"taskId": w.tasks["T-1"]}, me.token))
    assert await _pinned(gql, w.id, me.token) == ["T-1", "T-2"]
    # Pinning again changes nothing, not even the order.
    again = ok(await mutate(gql, PIN, {"taskId": w.tasks["T-2"]}, me.token))
    assert again["task"]["pinned"] is True
    assert await _pinned(gql, w.id, me.token) == ["T-1", "T-2"]
    gone = ok(await mutate(gql, UNPIN, {"taskId": w.tasks["T-1"]}, me.token))
    assert gone["task"] == {"id": w.tasks["T-1"], "key": "T-1", "pinned": False}
    assert await _pinned(gql, w.id, me.token) == ["T-2"]
    # Unpinning a task not pinned changes nothing, without an error.
    ok(await mutate(gql, UNPIN, {"taskId": w.tasks["T-1"]}, me.token))
    assert await _pins(db) == [(me.id, w.tasks["T-2"])]


async def test_an_archived_or_closed_pinned_task_stays_pinned(
    db: Database, gql: GQL, world: TeamWorld
) -> None:
    w, me = world, world.member
    for key in ("T-1", "T-2"):
        ok(await mutate(gql, PIN, {"taskId": w.tasks[key]}, me.token))
    async with db.write() as s:
        t1, t2 = await s.get(Task, w.tasks["T-1"]), await s.get(Task, w.tasks["T-2"])
        assert t1 is not None and t2 is not None
        t1.archived_at = utcnow()
        t2.state = "CLOSED"
        await s.commit()
    assert await _pinned(gql, w.id, me.token) == ["T-2", "T-1"]


async def test_pin_replay_answers_the_first_outcome(
    db: Database, gql: GQL, world: TeamWorld
) -> None:
    w, me = world, world.member
    payload = {"taskId": w.tasks["T-1"], "idempotencyKey": "pin-1"}
    assert ok(await mutate(gql, PIN, payload, me.token))["replayed"] is False
    again = ok(await mutate(gql, PIN, payload, me.token))
    assert again["replayed"] is True and again["task"]["pinned"] is True
    conflict = await mutate(gql, PIN, {**payload, "taskId": w.tasks["T-2"]}, me.token)
    refused(conflict, "IDEMPOTENCY_CONFLICT", ["input", "idempotencyKey"])
    unpin = {"taskId": w.tasks["T-1"], "idempotencyKey": "unpin-1"}
    ok(await mutate(gql, UNPIN, unpin, me.token))
    assert ok(await mutate(gql, UNPIN, unpin, me.token))["replayed"] is True
    assert await _pins(db) == []


async def test_bad_and_foreign_task_ids_are_not_found_and_change_nothing(
    db: Database, gql: GQL, world: TeamWorld
) -> None:
    other = await make_team(db, "Other", prefix="b")
    me = world.member
    ok(await mutate(gql, PIN, {"taskId": world.tasks["T-1"]}, me.token))
    before = await _pins(db)
    for task_id in [other.tasks["T-1"], new_id(), "not-an-id", ""]:
        for doc in (PIN, UNPIN):
            payload = await mutate(gql, doc, {"taskId": task_id}, me.token)
            refused(payload, "NOT_FOUND", ["input", "taskId"])
            assert payload["task"] is None
    assert await _pins(db) == before
    long_key = {"taskId": world.tasks["T-2"], "idempotencyKey": "k" * 1000}
    refused(await mutate(gql, PIN, long_key, me.token), "VALIDATION", ["input", "idempotencyKey"])
    assert await _pins(db) == before
    body = await gql(PIN, {"input": {"taskId": world.tasks["T-2"]}})
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert await _pins(db) == before


async def test_the_pin_limit_per_team(
    db: Database, gql: GQL, world: TeamWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pins, "MAX_PINS", 3)
    other = await make_team(db, "Other", prefix="b")
    w, me = world, world.member
    extra = await _add_tasks(db, w.id, ["T-3", "T-4"])
    for task_id in [w.tasks["T-1"], w.tasks["T-2"], extra["T-3"]]:
        ok(await mutate(gql, PIN, {"taskId": task_id}, me.token))
    over = await mutate(gql, PIN, {"taskId": extra["T-4"], "idempotencyKey": "over"}, me.token)
    error = refused(over, "VALIDATION", ["input", "taskId"])
    assert "3" in error["message"]
    assert len(await _pins(db)) == 3
    # Pinning one already pinned is no new pin; another user and another team count apart.
    ok(await mutate(gql, PIN, {"taskId": w.tasks["T-1"]}, me.token))
    ok(await mutate(gql, PIN, {"taskId": extra["T-4"]}, w.admin.token))
    ok(await mutate(gql, PIN, {"taskId": other.tasks["T-1"]}, other.member.token))
    ok(await mutate(gql, UNPIN, {"taskId": w.tasks["T-1"]}, me.token))
    ok(await mutate(gql, PIN, {"taskId": extra["T-4"]}, me.token))
    assert await _pinned(gql, w.id, me.token) == ["T-4", "T-3", "T-2"]
    async with db.read() as s:
        refusals = (
            await s.exec(
                select(func.count())
                .select_from(IdempotencyRecord)
                .where(IdempotencyRecord.key == "over")
            )
        ).one()
    assert refusals == 0  # a refusal stores no outcome: the key may be used again


async def test_task_pinned_is_per_viewer(gql: GQL, world: TeamWorld) -> None:
    w = world
    ok(await mutate(gql, PIN, {"taskId": w.tasks["T-1"]}, w.member.token))
    team_tasks = """query($id: ID!) { node(id: $id) { ... on Team {
      tasks { nodes { key pinned } } } } }"""
    for token, expected in [
        (w.member.token, {"T-1": True, "T-2": False}),
        (w.admin.token, {"T-1": False, "T-2": False}),
    ]:
        data = await _data(gql, team_tasks, {"id": w.id}, token)
        assert {t["key"]: t["pinned"] for t in data["node"]["tasks"]["nodes"]} == expected
        one = await _data(gql, TASK_PINNED, {"id": w.tasks["T-1"]}, token)
        assert one["node"]["pinned"] is expected["T-1"]


async def test_pins_of_a_removed_member_are_not_shown(
    db: Database, gql: GQL, world: TeamWorld
) -> None:
    w, me = world, world.member
    await add_entries(db, team_id=w.id, user_id=me.id, task_id=w.tasks["T-1"], count=1)
    ok(await mutate(gql, PIN, {"taskId": w.tasks["T-1"]}, me.token))
    key = {"taskId": w.tasks["T-2"], "idempotencyKey": "before-removal"}
    ok(await mutate(gql, PIN, key, me.token))
    ok(await mutate(gql, REMOVE, {"teamId": w.id, "userId": me.id}, w.owner.token))
    assert await _pinned(gql, w.id, me.token) == []
    assert await _recent(gql, w, me.token) == []
    # Pinning and unpinning a task of the team they left is NOT_FOUND; a replay shows no task.
    for doc in (PIN, UNPIN):
        payload = await mutate(gql, doc, {"taskId": w.tasks["T-1"]}, me.token)
        refused(payload, "NOT_FOUND", ["input", "taskId"])
    replay = ok(await mutate(gql, PIN, key, me.token))
    assert replay["replayed"] is True and replay["task"] is None
    # The store's read joins the membership too.
    async with db.read() as s:
        assert await pins.pinned_tasks(s, user_id=me.id, team_id=w.id) == []


@pytest.mark.parametrize("dialect", ["postgresql"])  # real concurrency
async def test_concurrent_pins_of_one_user_respect_the_limit(
    db: Database, gql: GQL, world: TeamWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pins, "MAX_PINS", 5)
    w, me = world, world.member
    tasks = await _add_tasks(db, w.id, [f"C-{i}" for i in range(20)])
    results = await asyncio.gather(
        *(mutate(gql, PIN, {"taskId": t}, me.token) for t in tasks.values())
    )
    accepted = [r for r in results if not r["userErrors"]]
    refusals = [r for r in results if r["userErrors"]]
    assert len(accepted) == 5
    assert all(r["userErrors"][0]["code"] == "VALIDATION" for r in refusals)
    pinned = await _pins(db)
    assert len(pinned) == 5
    assert {t for _, t in pinned} == {r["task"]["id"] for r in accepted}


@pytest.mark.parametrize("dialect", ["postgresql"])  # real concurrency
async def test_pins_racing_an_archive_of_their_team_never_deadlock(
    db: Database, gql: GQL, world: TeamWorld, caplog: pytest.LogCaptureFixture
) -> None:
    """``archiveTeam`` holds the team FOR UPDATE, then locks the users whose timers it
    stops; a pin locks the team (FOR KEY SHARE) before the user, so neither waits on the
    other in a circle (a deadlock would show as a retry, after PostgreSQL's 1 s timeout)."""
    w, me = world, world.member
    tasks = list((await _add_tasks(db, w.id, [f"R-{i}" for i in range(12)])).values())
    start = """mutation($input: StartTimerInput!) { startTimer(input: $input) {
      userErrors { code } } }"""
    archive = """mutation($input: ArchiveTeamInput!) { archiveTeam(input: $input) {
      userErrors { code } } }"""
    ok(await mutate(gql, start, {"teamId": w.id, "taskId": w.tasks["T-1"]}, me.token))
    caplog.set_level("INFO", logger="punchclock.mutations")
    results = await asyncio.gather(
        *(mutate(gql, PIN, {"taskId": t}, me.token) for t in tasks[:6]),
        mutate(gql, archive, {"id": w.id}, w.owner.token),
        *(mutate(gql, PIN, {"taskId": t}, me.token) for t in tasks[6:]),
    )
    assert all(r["userErrors"] == [] for r in results), results
    assert len(await _pins(db)) == 12
    retries = [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
    assert not any("DBAPIError" in m or "Deadlock" in m for m in retries), retries

"""Timer limits (issue 20, item 5): ``Team.maxTimerHours``, 1 to 24 hours, default 24.

The setting (bad values coded, nothing changed, a TEAM event for a change), the server's
stop at exactly start + the team's limit (the sweep, and stopTimer / startTimer's stop of a
timer past it before the sweep came), the start refused further back than the limit, and
the sweep's SQL agreeing with the rule per team. Both databases; the two-instance race is
in tests/e2e/test_timer_limit_sweeps.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlmodel import func, select

from gql.server.app import create_app
from gql.settings import Settings
from store import rules, timers
from store.db import Database
from store.events import EntryEvent, EventLog
from store.models import Team, TeamEvent, TimeEntry
from tests.conftest import GQL, gql_over
from tests.factories import add_running_entry, make_team
from tests.gql.mutation_helpers import ERRORS, START, STOP, UPDATE, mutate, ok, refused

TEAM_FIELDS = "id name maxTimerHours"
CREATE_TEAM = f"""mutation($input: CreateTeamInput!) {{ createTeam(input: $input) {{
  replayed {ERRORS} team {{ {TEAM_FIELDS} }} }} }}"""
UPDATE_TEAM = f"""mutation($input: UpdateTeamInput!) {{ updateTeam(input: $input) {{
  replayed {ERRORS} team {{ {TEAM_FIELDS} }} }} }}"""
TEAM = f"""query($id: ID!) {{ team(id: $id) {{ {TEAM_FIELDS} }} }}"""
ENTRY = """query($id: ID!) { timeEntry(id: $id) { id running startedAt stoppedAt
  durationSeconds autoStopped version } }"""


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _text(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


async def _team_events(db: Database, team_id: str, subject: str) -> list[tuple[str, str, Any]]:
    async with db.read() as s:
        rows = (
            await s.exec(
                select(TeamEvent)
                .where(TeamEvent.team_id == team_id, TeamEvent.subject == subject)
                .order_by(TeamEvent.position)  # type: ignore[arg-type]
            )
        ).all()
    return [(r.kind, r.subject_id, r.version) for r in rows]


@pytest.fixture
async def quiet_gql(database_url: str) -> AsyncIterator[GQL]:
    """The API with a sweep that does not come during the test (every hour): what
    stopTimer and startTimer do to a timer past its limit before the sweep stopped it."""
    app = create_app(Settings(database_url=database_url, timer_sweep_seconds=3600))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://t") as client,
    ):
        yield gql_over(client)


# --- the setting ----------------------------------------------------------------------------


async def test_max_timer_hours_is_a_team_setting(db: Database, gql: GQL) -> None:
    w = await make_team(db, "Acme", prefix="a")
    owner = w.owner.token
    team = (await gql(TEAM, {"id": w.id}, token=w.member.token))["data"]["team"]
    assert team["maxTimerHours"] == 24

    created = ok(await mutate(gql, CREATE_TEAM, {"name": "Short", "maxTimerHours": 8}, owner))
    assert created["team"]["maxTimerHours"] == 8
    async with db.read() as s:
        teams_before = (await s.exec(select(func.count()).select_from(Team))).one()
    for bad in (0, 25, -1):
        refused(
            await mutate(gql, CREATE_TEAM, {"name": "Bad", "maxTimerHours": bad}, owner),
            "VALIDATION",
            ["input", "maxTimerHours"],
        )
        refused(
            await mutate(gql, UPDATE_TEAM, {"id": w.id, "maxTimerHours": bad}, owner),
            "VALIDATION",
            ["input", "maxTimerHours"],
        )
    # A member may read the limit, not change it.
    refused(
        await mutate(gql, UPDATE_TEAM, {"id": w.id, "maxTimerHours": 2}, w.member.token),
        "FORBIDDEN",
    )
    async with db.read() as s:
        assert (await s.exec(select(func.count()).select_from(Team))).one() == teams_before
    after_refusals = (await gql(TEAM, {"id": w.id}, token=owner))["data"]["team"]
    assert after_refusals == team
    assert await _team_events(db, w.id, "TEAM") == []

    for hours in (1, 24):
        changed = ok(await mutate(gql, UPDATE_TEAM, {"id": w.id, "maxTimerHours": hours}, owner))
        assert changed["team"]["maxTimerHours"] == hours
    # The same value again is no change and no event.
    ok(await mutate(gql, UPDATE_TEAM, {"id": w.id, "maxTimerHours": 24}, w.admin.token))
    assert [k for k, _, _ in await _team_events(db, w.id, "TEAM")] == ["UPDATED", "UPDATED"]


# --- the server's stop ----------------------------------------------------------------------


async def test_the_sweep_stops_a_timer_at_exactly_start_plus_the_teams_limit(
    db: Database, database_url: str
) -> None:
    w = await make_team(db, "Acme", prefix="a", max_timer_hours=1)
    app = create_app(Settings(database_url=database_url, timer_sweep_seconds=0.2))
    events: list[EntryEvent] = []
    app.state.services.events.listen(events.append)
    transport = httpx.ASGITransport(app=app)
    began = _now() - timedelta(hours=1) + timedelta(seconds=2)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://t") as client,
    ):
        headers = {"authorization": f"Bearer {w.member.token}"}
        start = {"teamId": w.id, "taskId": w.tasks["T-1"], "startedAt": _text(began)}
        response = await client.post(
            "/graphql", json={"query": START, "variables": {"input": start}}, headers=headers
        )
        started = ok(response.json()["data"]["startTimer"])["timeEntry"]
        assert started["running"] is True and started["version"] == 1
        for _ in range(600):  # up to 60 s: the limit is 2 s away, the sweep every 0.2 s
            if any(e.entry_id == started["id"] and e.kind.value == "STOPPED" for e in events):
                break
            await asyncio.sleep(0.1)
        response = await client.post(
            "/graphql", json={"query": ENTRY, "variables": {"id": started["id"]}}, headers=headers
        )
    entry = response.json()["data"]["timeEntry"]
    assert entry == {
        "id": started["id"],
        "running": False,
        "startedAt": _text(began),
        "stoppedAt": _text(began + timedelta(hours=1)),
        "durationSeconds": 3600,
        "autoStopped": True,
        "version": 2,
    }
    assert [(e.kind.value, e.version) for e in events if e.entry_id == started["id"]] == [
        ("STARTED", 1),
        ("STOPPED", 2),
    ]
    entry_events = await _team_events(db, w.id, "ENTRY")
    assert [k for k, i, _ in entry_events if i == started["id"]] == ["STARTED", "STOPPED"]


async def test_a_stop_after_the_limit_ends_the_timer_at_the_limit(
    db: Database, quiet_gql: GQL
) -> None:
    w = await make_team(db, "Acme", prefix="a", max_timer_hours=2)
    now = _now()
    # stopTimer without stoppedAt, 10 minutes after the limit passed.
    late = await add_running_entry(db, w, w.member.id, now - timedelta(hours=2, minutes=10))
    stopped = ok(await mutate(quiet_gql, STOP, {}, w.member.token))["timeEntry"]
    assert stopped["id"] == late
    assert stopped["durationSeconds"] == 7200
    assert stopped["stoppedAt"] == _text(now - timedelta(minutes=10))
    entry = (await quiet_gql(ENTRY, {"id": late}, token=w.member.token))["data"]["timeEntry"]
    assert entry["autoStopped"] is True and entry["version"] == 2

    # startTimer's switch stops the running one at its limit, too.
    older = await add_running_entry(db, w, w.admin.id, now - timedelta(hours=3))
    switched = ok(
        await mutate(quiet_gql, START, {"teamId": w.id, "taskId": w.tasks["T-2"]}, w.admin.token)
    )
    assert switched["stoppedEntry"]["id"] == older
    assert switched["stoppedEntry"]["stoppedAt"] == _text(now - timedelta(hours=1))
    assert switched["stoppedEntry"]["durationSeconds"] == 7200

    # A limit lowered below a running timer's age: the stop is at start + the new limit,
    # an instant in the past.
    ok(await mutate(quiet_gql, UPDATE_TEAM, {"id": w.id, "maxTimerHours": 1}, w.owner.token))
    running = switched["timeEntry"]
    assert running["running"] is True
    ok(await mutate(quiet_gql, STOP, {}, w.admin.token))
    async with db.read() as s:
        row = await s.get(TimeEntry, running["id"])
    assert row is not None and row.auto_stopped is False  # it ran less than an hour

    two_hours_ago = await add_running_entry(db, w, w.owner.id, now - timedelta(hours=2))
    ok(await mutate(quiet_gql, STOP, {"stoppedAt": _text(now)}, w.owner.token))
    async with db.read() as s:
        row = await s.get(TimeEntry, two_hours_ago)
    assert row is not None and row.auto_stopped is True
    assert row.stopped_at == now - timedelta(hours=1) and row.duration_seconds == 3600
    stops = [i for k, i, _ in await _team_events(db, w.id, "ENTRY") if k == "STOPPED"]
    assert stops == [late, older, running["id"], two_hours_ago]


async def test_start_timer_refuses_a_start_further_back_than_the_limit(
    db: Database, gql: GQL
) -> None:
    w = await make_team(db, "Acme", prefix="a", max_timer_hours=2)
    token = w.member.token
    too_early = {
        "teamId": w.id,
        "taskId": w.tasks["T-1"],
        "startedAt": _text(_now() - timedelta(hours=2, minutes=5)),
    }
    refused(await mutate(gql, START, too_early, token), "VALIDATION", ["input", "startedAt"])
    refused(await mutate(gql, STOP, {}, token), "TIMER_NOT_RUNNING")  # nothing started
    assert await _team_events(db, w.id, "ENTRY") == []

    within = {**too_early, "startedAt": _text(_now() - timedelta(hours=1, minutes=55))}
    running = ok(await mutate(gql, START, within, token))["timeEntry"]
    # Moving the running timer's start past the limit is refused the same way.
    moved = {"id": running["id"], "startedAt": too_early["startedAt"]}
    refused(await mutate(gql, UPDATE, moved, token), "VALIDATION", ["input", "startedAt"])
    entry = (await gql(ENTRY, {"id": running["id"]}, token=token))["data"]["timeEntry"]
    assert entry["startedAt"] == within["startedAt"] and entry["version"] == 1


# --- the sweep's SQL is the rule, per team --------------------------------------------------


async def test_the_sweep_stops_only_timers_past_their_own_teams_limit(db: Database) -> None:
    short = await make_team(db, "Short", prefix="s", max_timer_hours=1)
    long = await make_team(db, "Long", prefix="l", max_timer_hours=24)
    hourly = await make_team(db, "Three", prefix="h", max_timer_hours=3)
    now = _now()
    due = await add_running_entry(db, short, short.member.id, now - timedelta(hours=1, seconds=1))
    at_limit = await add_running_entry(db, short, short.admin.id, now - timedelta(hours=1))
    young = await add_running_entry(db, long, long.member.id, now - timedelta(hours=23))
    old = await add_running_entry(db, long, long.admin.id, now - timedelta(hours=25))
    within = await add_running_entry(db, hourly, hourly.member.id, now - timedelta(hours=2))
    async with db.read() as s:
        assert await timers.any_overdue(s, now=now)
    events = EventLog()
    async with db.write() as s:
        stopped = await timers.stop_overdue(s, now=now, events=events)
        await s.commit()
    assert sorted(e.id for e in stopped) == sorted([due, old])
    async with db.read() as s:
        assert not await timers.any_overdue(s, now=now)
        rows = {i: await s.get(TimeEntry, i) for i in (due, at_limit, young, old, within)}
    for entry_id, hours in ((due, 1), (old, 24)):
        row = rows[entry_id]
        assert row is not None and row.auto_stopped and row.version == 2
        assert row.stopped_at == row.started_at + rules.timer_limit(hours)
        assert row.duration_seconds == hours * 3600
    assert all(rows[i].stopped_at is None for i in (at_limit, young, within))  # type: ignore[union-attr]
    assert [(e.kind.value, e.entry_id) for e in events] == [
        ("STOPPED", old),
        ("STOPPED", due),
    ]

"""Live reports (``timeReportUpdates``) with a real uvicorn process and real WebSockets:
the first report and every later one equal ``timeReport``'s answer, bursts are paced, a
running timer ticks once a second, and tenancy, bad arguments and revoked tokens."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from store import tokens
from store.db import Database
from store.timeutil import utcnow
from tests.e2e.server import free_port, running_server, until_live
from tests.e2e.test_subscriptions import call
from tests.e2e.wsclient import GraphQLWS
from tests.factories import TeamWorld, make_team
from tests.gql.mutation_helpers import COMMENT, DELETE, LOG, START, STOP, UPDATE
from tests.services import private_redis

pytestmark = pytest.mark.e2e

SUMS = "totalSeconds roundedSeconds totalCents entryCount runningCount"
FIELDS = f"""groupBy timeZone weekStart
  buckets {{ user {{ id nickname }} task {{ key title }} category {{ key }} day {SUMS} }}
  totals {{ {SUMS} }}"""
ARGS = "$f: TimeEntryFilter!, $g: [GroupBy!]!, $tz: String, $ws: Int"
CALL = "(filter: $f, groupBy: $g, timeZone: $tz, weekStart: $ws)"
LIVE = f"subscription({ARGS}) {{ timeReportUpdates{CALL} {{ {FIELDS} }} }}"
QUERY = f"query({ARGS}) {{ timeReport{CALL} {{ {FIELDS} }} }}"


def variables(world: TeamWorld, **more: Any) -> dict[str, Any]:
    return {"f": {"teamId": world.id}, "g": ["USER", "TASK"], "tz": "Europe/Berlin", **more}


async def query(base: str, world: TeamWorld, token: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base) as client:
        r = await client.post(
            "/graphql",
            json={"query": QUERY, "variables": variables(world)},
            headers={"authorization": f"Bearer {token}"},
        )
    body = r.json()
    assert "errors" not in body, body
    report: dict[str, Any] = body["data"]["timeReport"]
    return report


async def report(ws: GraphQLWS, timeout: float = 10) -> dict[str, Any]:
    data = await ws.next_data(timeout=timeout)
    found: dict[str, Any] = data["timeReportUpdates"]
    return found


async def live(base: str, world: TeamWorld, token: str, **more: Any) -> GraphQLWS:
    ws = await GraphQLWS.open(base, token)
    assert (await ws.acked())["type"] == "connection_ack"
    await ws.subscribe(LIVE, variables(world, **more))
    return ws


def log_input(world: TeamWorld, task: str = "T-1", duration: str = "1h") -> dict[str, Any]:
    return {
        "teamId": world.id,
        "taskId": world.tasks[task],
        "startedAt": "2025-03-10T09:00:00Z",
        "duration": duration,
    }


async def test_each_change_sends_the_query_s_new_answer(db: Database, database_url: str) -> None:
    world = await make_team(db, "Acme", prefix="a")
    with running_server(database_url) as base:
        ws = await live(base, world, world.member.token)
        first = await report(ws)
        assert first == await query(base, world, world.member.token)
        assert first["totals"]["entryCount"] == 0 and first["timeZone"] == "Europe/Berlin"
        await until_live(base, 1)

        logged = await call(base, LOG, log_input(world), world.member.token)
        entry = logged["timeEntry"]
        after_log = await report(ws)
        assert after_log == await query(base, world, world.member.token)
        assert after_log["totals"]["totalSeconds"] == 3600

        await call(
            base,
            UPDATE,
            {"id": entry["id"], "duration": "2h", "taskId": world.tasks["T-2"]},
            world.member.token,
        )
        after_update = await report(ws)
        assert after_update == await query(base, world, world.member.token)
        assert [b["task"]["key"] for b in after_update["buckets"]] == ["T-2"]
        assert after_update["totals"]["totalSeconds"] == 7200

        # A comment changes no figure: nothing is sent.
        await call(base, COMMENT, {"timeEntryId": entry["id"], "content": "x"}, world.owner.token)
        await ws.nothing_for(1.5)

        await call(base, DELETE, {"id": entry["id"]}, world.member.token)
        after_delete = await report(ws)
        assert after_delete == await query(base, world, world.member.token)
        assert after_delete["totals"]["entryCount"] == 0

        await call(
            base, START, {"teamId": world.id, "taskId": world.tasks["T-1"]}, world.admin.token
        )
        assert (await report(ws))["totals"]["runningCount"] == 1
        await call(base, STOP, {}, world.admin.token)
        # Ticks of the running timer may come first; the report after the stop follows.
        deadline = time.monotonic() + 10
        while (stopped := await report(ws))["totals"]["runningCount"]:
            assert time.monotonic() < deadline, stopped
        assert stopped == await query(base, world, world.member.token)
        assert stopped["totals"]["entryCount"] == 1 and stopped["totals"]["totalSeconds"] >= 1
        # Nothing runs any more: no more ticks.
        await ws.nothing_for(1.5)
        await ws.close()


@pytest.mark.parametrize("dialect", ["sqlite"])
async def test_a_burst_gives_at_most_two_reports_and_the_last_is_right(
    db: Database, database_url: str
) -> None:
    world = await make_team(db, "Acme", prefix="a")
    with running_server(database_url) as base:
        ws = await live(base, world, world.member.token)
        await report(ws)
        await until_live(base, 1)
        await asyncio.sleep(1.1)  # a quiet second: the burst's first change is sent at once
        began = time.monotonic()
        for n in range(8):
            await call(base, LOG, log_input(world, duration=f"{n + 1}m"), world.member.token)
        burst = time.monotonic() - began
        received = []
        try:
            while True:
                received.append(await report(ws, timeout=2.5))
        except TimeoutError:
            pass
        print(f"burst of 8 changes in {burst:.2f} s: {len(received)} reports")
        # The first change is sent at once, the rest at the end of each second they span.
        assert 1 <= len(received) <= 2 + int(burst), (burst, len(received))
        assert received[-1] == await query(base, world, world.member.token)
        assert received[-1]["totals"]["entryCount"] == 8
        assert received[-1]["totals"]["totalSeconds"] == sum(60 * (n + 1) for n in range(8))
        await ws.close()


@pytest.mark.parametrize("dialect", ["sqlite"])
async def test_a_running_timer_sends_about_once_a_second(db: Database, database_url: str) -> None:
    world = await make_team(db, "Acme", prefix="a")
    with running_server(database_url) as base:
        ws = await live(base, world, world.member.token)
        await report(ws)
        await until_live(base, 1)
        await call(
            base, START, {"teamId": world.id, "taskId": world.tasks["T-1"]}, world.admin.token
        )
        seen: list[tuple[float, int]] = []
        while len(seen) < 4:
            totals = (await report(ws, timeout=5))["totals"]
            assert totals["runningCount"] == 1
            seen.append((time.monotonic(), int(totals["totalSeconds"])))
        print("ticks (s, totalSeconds):", [(round(t - seen[0][0], 2), s) for t, s in seen])
        seconds = [s for _, s in seen]
        assert seconds == sorted(seconds) and seconds[-1] > seconds[0], seen
        gaps = [b[0] - a[0] for a, b in itertools.pairwise(seen)]
        # At most once a second (a little less for scheduling), and on a loaded machine
        # never far behind.
        assert all(gap >= 0.9 for gap in gaps), gaps
        assert seen[-1][0] - seen[0][0] < 3 * 3, gaps
        await ws.close()


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
async def test_foreign_team_and_bad_arguments(db: Database, database_url: str) -> None:
    world = await make_team(db, "Acme", prefix="a")
    other = await make_team(db, "Other", prefix="b")
    with running_server(database_url) as base:
        ws = await GraphQLWS.open(base, other.member.token)
        await ws.acked()
        for more, code in (
            ({}, "NOT_FOUND"),  # another team's report: an error, no data
            ({"f": {"teamId": other.id}, "ws": 9}, "VALIDATION"),
            ({"f": {"teamId": other.id}, "tz": "Mars/Olympus"}, "VALIDATION"),
            ({"f": {"teamId": other.id}, "g": []}, "VALIDATION"),
            ({"f": {"teamId": other.id}, "g": ["YEAR"]}, "BAD_USER_INPUT"),
        ):
            op = await ws.subscribe(LIVE, variables(world, **more))
            message = await ws.receive()
            assert message["id"] == op and message["type"] in ("error", "next"), message
            if message["type"] == "error":
                errors = message["payload"]
            else:
                assert message["payload"].get("data") is None, message
                errors = message["payload"]["errors"]
                assert await ws.receive() == {"id": op, "type": "complete"}
            assert errors[0]["extensions"]["code"] == code, (more, errors)
        # Nothing of the first team reaches the outsider.
        await call(base, LOG, log_input(world), world.member.token)
        remaining = []
        try:
            while True:
                remaining.append(await ws.receive(1.5))
        except TimeoutError:
            pass
        assert all(m["type"] == "complete" for m in remaining), remaining
        await ws.close()


@pytest.mark.parametrize("dialect", ["sqlite"])
async def test_a_revoked_token_gets_nothing_more(db: Database, database_url: str) -> None:
    world = await make_team(db, "Acme", prefix="a")
    with running_server(database_url) as base:
        revoked = await live(base, world, world.member.token)
        kept = await live(base, world, world.owner.token)
        await report(revoked)
        await report(kept)
        await until_live(base, 2)
        prefix, _ = tokens.parse_token(world.member.token) or ("", "")
        async with db.write() as s:
            assert await tokens.revoke_token(s, prefix=prefix, at=utcnow())
            await s.commit()
        await call(base, LOG, log_input(world), world.admin.token)
        assert (await report(kept))["totals"]["entryCount"] == 1
        try:
            message = await revoked.receive(7)
        except ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code == 4403
        else:
            raise AssertionError(f"a revoked token got {message}")
        await kept.close()


UPDATE_TASK = """mutation($input: UpdateTaskInput!) { updateTask(input: $input) {
  userErrors { code field message } task { id } } }"""
BY_CATEGORY = f"""subscription({ARGS}) {{ timeReportUpdates{CALL} {{
  buckets {{ category {{ key }} task {{ title }} {SUMS} }} }} }}"""
BY_CATEGORY_QUERY = BY_CATEGORY.replace("subscription(", "query(").replace(
    "timeReportUpdates", "timeReport"
)


@pytest.mark.parametrize("dialect", ["sqlite"])
async def test_a_task_moved_or_renamed_changes_the_report(db: Database, database_url: str) -> None:
    world = await make_team(db, "Acme", prefix="a")
    with running_server(database_url) as base:
        await call(base, LOG, log_input(world, "T-1"), world.member.token)
        ws = await GraphQLWS.open(base, world.owner.token)
        await ws.acked()
        values = variables(world, g=["CATEGORY"])
        await ws.subscribe(BY_CATEGORY, values)
        first = (await ws.next_data())["timeReportUpdates"]
        assert [b["category"]["key"] for b in first["buckets"]] == ["api"]
        await until_live(base, 1)
        # The task moves to the root category: its time moves with it.
        await call(
            base,
            UPDATE_TASK,
            {"id": world.tasks["T-1"], "categoryId": world.categories["dev"]},
            world.owner.token,
        )
        moved = (await ws.next_data(timeout=10))["timeReportUpdates"]
        assert [b["category"]["key"] for b in moved["buckets"]] == ["dev"]
        async with httpx.AsyncClient(base_url=base) as client:
            r = await client.post(
                "/graphql",
                json={"query": BY_CATEGORY_QUERY, "variables": values},
                headers={"authorization": f"Bearer {world.owner.token}"},
            )
        assert moved == r.json()["data"]["timeReport"]
        await ws.close()


# A fragment at the top keeps a document off the shared path: Strawberry runs it for this
# subscriber alone, and the subscription itself compares the reports it sends.
UNSHARED = f"""subscription({ARGS}) {{ ...R }}
fragment R on Subscription {{ timeReportUpdates{CALL} {{ {FIELDS} }} }}"""


@pytest.mark.parametrize("dialect", ["sqlite"])
@pytest.mark.parametrize("document", [LIVE, UNSHARED], ids=["shared", "own"])
async def test_only_changed_reports_are_sent(
    db: Database, database_url: str, document: str
) -> None:
    """Shared, the group compares the encoded reports; on its own, the subscription
    compares the report's values."""
    world = await make_team(db, "Acme", prefix="a")
    with running_server(database_url) as base:
        ws = await GraphQLWS.open(base, world.member.token)
        await ws.acked()
        await ws.subscribe(document, variables(world, f={"teamId": world.id, "billable": True}))
        assert (await ws.next_data())["timeReportUpdates"]["totals"]["entryCount"] == 0
        await until_live(base, 1)
        # Outside the filter (T-1's category is not billable): the report stays the same.
        await call(base, LOG, log_input(world, "T-1"), world.member.token)
        await ws.nothing_for(2)
        await call(base, LOG, log_input(world, "T-2"), world.member.token)
        changed = (await ws.next_data(timeout=10))["timeReportUpdates"]
        assert changed["totals"]["entryCount"] == 1
        async with httpx.AsyncClient(base_url=base) as client:
            r = await client.post(
                "/graphql",
                json={
                    "query": QUERY,
                    "variables": variables(world, f={"teamId": world.id, "billable": True}),
                },
                headers={"authorization": f"Bearer {world.member.token}"},
            )
        assert changed == r.json()["data"]["timeReport"]
        await ws.close()


@pytest.mark.parametrize("dialect", ["sqlite"])
async def test_a_redis_outage_delays_no_report(db: Database, database_url: str) -> None:
    """The trigger is the outbox, not the broadcast: with the backend down, the change
    still reaches the live report (through the outbox poll, about a second later)."""
    world = await make_team(db, "Acme", prefix="a")
    port = free_port()
    env = {"PUNCHCLOCK_BROADCAST_URL": f"redis://127.0.0.1:{port}/0"}
    with private_redis(port) as redis, running_server(database_url, env=env) as base:
        ws = await live(base, world, world.member.token)
        await report(ws)
        await until_live(base, 1)
        redis.terminate()
        redis.wait(timeout=10)
        await call(base, LOG, log_input(world), world.member.token)
        during = await report(ws, timeout=15)
        assert during == await query(base, world, world.member.token)
        assert during["totals"]["entryCount"] == 1
        await ws.close()


UPDATE_TEAM = """mutation($input: UpdateTeamInput!) { updateTeam(input: $input) {
  userErrors { code field message } team { rounding } } }"""


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
@pytest.mark.parametrize("document", [LIVE, UNSHARED], ids=["shared", "own"])
async def test_a_change_of_the_teams_rounding_sends_the_report_again(
    db: Database, database_url: str, document: str
) -> None:
    world = await make_team(db, "Acme", prefix="a")
    with running_server(database_url) as base:
        await call(base, LOG, log_input(world, "T-1", duration="67m"), world.member.token)
        ws = await GraphQLWS.open(base, world.owner.token)
        await ws.acked()
        await ws.subscribe(document, variables(world))
        assert (await report(ws))["totals"]["roundedSeconds"] == 67 * 60
        await until_live(base, 1)
        changed = await call(
            base,
            UPDATE_TEAM,
            {"id": world.id, "rounding": "CEIL", "roundingMinutes": 15},
            world.owner.token,
        )
        assert changed["team"]["rounding"] == "CEIL"
        after = await report(ws)
        assert after["totals"]["roundedSeconds"] == 75 * 60
        assert after == await query(base, world, world.owner.token)
        await ws.close()

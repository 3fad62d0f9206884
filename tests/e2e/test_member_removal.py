"""A removed member's open subscriptions get nothing of the team after the removal, with a
real uvicorn process and real WebSocket clients: a subscription of its own ends at the
removal's MEMBER DELETED event; a shared one (``gql.live.fanout``) is refused before its
next item; a new one is refused at once, though the socket authenticated before."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from store.db import Database
from tests.e2e.server import running_server, until_live
from tests.e2e.test_subscriptions import EVENTS, RUNNING, call, expect_event
from tests.e2e.wsclient import GraphQLWS
from tests.factories import make_team
from tests.gql.mutation_helpers import LOG, START
from tests.gql.test_team_lifecycle import REMOVE

pytestmark = pytest.mark.e2e

REPORT = """subscription($team: ID!) { timeReportUpdates(filter: {teamId: $team}, groupBy: [USER]) {
  totals { entryCount } } }"""
RESUMING = """subscription($team: ID!, $after: String) { timerEvents(teamId: $team, after: $after) {
  kind timeEntry { id } } }"""


def refused_with(message: dict[str, Any], code: str) -> None:
    """An operation ended with a coded error (graphql-transport-ws: an ``error`` message,
    or a ``next`` whose payload carries the errors)."""
    if message["type"] == "error":
        errors = message["payload"]
    else:
        assert message["type"] == "next", message
        errors = message["payload"].get("errors")
    assert errors and errors[0]["extensions"]["code"] == code, message


async def no_data_for(ws: GraphQLWS, seconds: float) -> None:
    """Nothing but the end of operations (``complete``) for ``seconds``."""
    deadline = asyncio.get_running_loop().time() + seconds
    while (left := deadline - asyncio.get_running_loop().time()) > 0:
        try:
            message = await ws.receive(left)
        except TimeoutError:
            return
        assert message["type"] == "complete", message


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
async def test_removed_member_subscriptions_get_nothing_more(
    db: Database, database_url: str
) -> None:
    world = await make_team(db, "Acme", prefix="a")
    with running_server(database_url) as base:
        async with httpx.AsyncClient(base_url=base) as client:
            cursor = (
                await client.post(
                    "/graphql",
                    json={
                        "query": "query($t: ID!) { team(id: $t) { eventCursor } }",
                        "variables": {"t": world.id},
                    },
                    headers={"authorization": f"Bearer {world.member.token}"},
                )
            ).json()["data"]["team"]["eventCursor"]
        shared = await GraphQLWS.open(base, world.member.token)
        await shared.acked()
        await shared.subscribe(EVENTS, {"team": world.id})
        own = await GraphQLWS.open(base, world.member.token)
        await own.acked()
        await own.subscribe(RESUMING, {"team": world.id, "after": cursor})
        running = await GraphQLWS.open(base, world.member.token)
        await running.acked()
        await running.subscribe(RUNNING, {"team": world.id})
        assert (await running.next_data())["runningTimers"] == []
        report = await GraphQLWS.open(base, world.member.token)
        await report.acked()
        await report.subscribe(REPORT, {"team": world.id})
        assert (await report.next_data())["timeReportUpdates"]["totals"]["entryCount"] == 0
        owner = await GraphQLWS.open(base, world.owner.token)
        await owner.acked()
        await owner.subscribe(EVENTS, {"team": world.id})
        await until_live(base, 5)

        started = await call(
            base, START, {"teamId": world.id, "taskId": world.tasks["T-1"]}, world.member.token
        )
        timer = started["timeEntry"]["id"]
        for ws in (shared, owner):
            await expect_event(ws, "STARTED", timer)
        assert (await own.next_data())["timerEvents"] == {
            "kind": "STARTED",
            "timeEntry": {"id": timer},
        }
        assert [e["id"] for e in (await running.next_data())["runningTimers"]] == [timer]

        removed = await call(
            base, REMOVE, {"teamId": world.id, "userId": world.member.id}, world.admin.token
        )
        assert removed["stoppedEntry"]["id"] == timer
        # Their timer's stop comes before the removal, in the team's order. It may still
        # reach them, or not (their membership was checked again after a removal was
        # met); then the refusal, and nothing of what follows.
        await expect_event(owner, "STOPPED", timer)
        for ws in (shared, own):
            message = await ws.receive(10)
            if message["type"] == "next" and "errors" not in message["payload"]:
                event = message["payload"]["data"]["timerEvents"]
                assert (event["kind"], event["timeEntry"]["id"]) == ("STOPPED", timer), message
                message = await ws.receive(10)
            refused_with(message, "NOT_FOUND")
        refused_with(await running.receive(10), "NOT_FOUND")  # not the list without its timer

        logged = await call(
            base,
            LOG,
            {
                "teamId": world.id,
                "taskId": world.tasks["T-2"],
                "startedAt": "2025-03-10T09:00:00Z",
                "duration": "1h",
            },
            world.owner.token,
        )
        await expect_event(owner, "LOGGED", logged["timeEntry"]["id"])
        # The live report: reports from before the removal (the timer's seconds, its
        # stop) may still come; then the refusal, and never the owner's later entry.
        while (message := await report.receive(10))["type"] == "next" and (
            "errors" not in message["payload"]
        ):
            assert message["payload"]["data"]["timeReportUpdates"]["totals"]["entryCount"] == 1
        refused_with(message, "NOT_FOUND")
        for ws in (shared, own, running, report):
            await no_data_for(ws, 0.5)

        # A new subscription on a socket that authenticated before the removal: refused.
        await own.subscribe(EVENTS, {"team": world.id})
        refused_with(await own.receive(10), "NOT_FOUND")
        await own.subscribe(RESUMING, {"team": world.id, "after": cursor})
        refused_with(await own.receive(10), "NOT_FOUND")
        await no_data_for(own, 0.3)
        for ws in (shared, own, running, report, owner):
            await ws.close()


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
async def test_a_removed_members_live_report_alone_gets_nothing_more(
    db: Database, database_url: str
) -> None:
    """The live report is the team's only subscription in the process: it notes the
    removal itself (no other subscription of the team does it for it)."""
    world = await make_team(db, "Acme", prefix="a")
    with running_server(database_url) as base:
        report = await GraphQLWS.open(base, world.member.token)
        await report.acked()
        await report.subscribe(REPORT, {"team": world.id})
        assert (await report.next_data())["timeReportUpdates"]["totals"]["entryCount"] == 0
        await until_live(base, 1)
        await call(base, REMOVE, {"teamId": world.id, "userId": world.member.id}, world.admin.token)
        entry = {"teamId": world.id, "taskId": world.tasks["T-2"], "duration": "1h"}
        await call(base, LOG, {**entry, "startedAt": "2025-03-10T09:00:00Z"}, world.owner.token)
        message = await report.receive(10)
        refused_with(message, "NOT_FOUND")
        await report.close()

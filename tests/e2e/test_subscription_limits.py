"""Subscriptions go through the query limits too, shared (fan-out) or not."""

from __future__ import annotations

import pytest

from store.db import Database
from tests.e2e.server import running_server
from tests.e2e.wsclient import GraphQLWS
from tests.factories import make_team

pytestmark = pytest.mark.e2e

# Depth 5: timerEvents > timeEntry > task > category > id.
DEEP = (
    "subscription($t: ID!) { timerEvents(teamId: $t) { timeEntry { task { category { id } } } } }"
)
# A fragment at the top keeps it off the shared path: Strawberry runs it itself.
DEEP_UNSHARED = (
    "subscription($t: ID!) { ...F } fragment F on Subscription { "
    "timerEvents(teamId: $t) { timeEntry { task { category { id } } } } }"
)


@pytest.mark.parametrize("dialect", ["sqlite"])
async def test_subscriptions_are_refused_over_the_limits(db: Database, database_url: str) -> None:
    world = await make_team(db, "Acme", prefix="a")
    with running_server(database_url, env={"PUNCHCLOCK_MAX_DEPTH": "3"}) as base:
        ws = await GraphQLWS.open(base, world.owner.token)
        await ws.acked()
        for query in (DEEP, DEEP_UNSHARED):
            op = await ws.subscribe(query, {"t": world.id})
            message = await ws.receive()
            assert message["type"] == "error" and message["id"] == op, message
            [error] = message["payload"]
            assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX", error
            assert "Depth 5 exceeds the limit of 3" in error["message"]
        # Too many tokens: refused before the shared path's analysis parses it.
        op = await ws.subscribe(
            DEEP.replace("{ id }", "{ id " + "id " * 3000 + "}"), {"t": world.id}
        )
        message = await ws.receive()
        assert message["type"] == "error" and message["id"] == op, message
        assert message["payload"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX", message
        assert "more than 2000 tokens" in message["payload"][0]["message"]
        # Within the limits the same connection subscribes fine.
        await ws.subscribe(DEEP.replace("task { category { id } }", "id"), {"t": world.id})
        await ws.nothing_for(0.3)  # no error: it runs, waiting for events
        await ws.close()


REPORT = """subscription($f: TimeEntryFilter!) { timeReportUpdates(filter: $f, groupBy: [TASK]) {
  buckets { task { category { parent { id } } } } } }"""  # depth 5


@pytest.mark.parametrize("dialect", ["sqlite"])
async def test_live_reports_count_toward_the_limits(db: Database, database_url: str) -> None:
    world = await make_team(db, "Acme", prefix="a")
    env = {"PUNCHCLOCK_MAX_DEPTH": "4", "PUNCHCLOCK_WS_MAX_OPERATIONS": "2"}
    with running_server(database_url, env=env) as base:
        ws = await GraphQLWS.open(base, world.owner.token)
        await ws.acked()
        op = await ws.subscribe(REPORT, {"f": {"teamId": world.id}})
        message = await ws.receive()
        assert message["type"] == "error" and message["id"] == op, message
        assert message["payload"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"
        shallow = REPORT.replace("{ category { parent { id } } }", "{ id }")
        for _ in range(2):  # the limit of operations on one connection
            await ws.subscribe(shallow, {"f": {"teamId": world.id}})
            assert (await ws.receive())["type"] == "next"
        op = await ws.subscribe(shallow, {"f": {"teamId": world.id}})
        message = await ws.receive()
        assert message["type"] == "error" and message["id"] == op, message
        assert message["payload"][0]["extensions"]["code"] == "TOO_MANY_OPERATIONS"
        await ws.close()

"""Allow-list mode on a real server: over HTTP and on WebSockets, only the operations of
the file run."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import httpx
import pytest

from store.db import Database
from tests.e2e.server import running_server, until_live
from tests.e2e.test_subscriptions import EVENTS, call, expect_event
from tests.e2e.wsclient import GraphQLWS
from tests.factories import make_team
from tests.gql.mutation_helpers import START

pytestmark = pytest.mark.e2e

VIEWER = "query Me { viewer { id } }"


@pytest.mark.parametrize("dialect", ["sqlite"])
async def test_only_listed_operations_run(db: Database, database_url: str, tmp_path: Path) -> None:
    world = await make_team(db, "Acme", prefix="a")
    operations = tmp_path / "operations.json"
    # START is listed too: call() below logs the change that the subscription hears.
    operations.write_text(json.dumps({"me": VIEWER, "events": EVENTS, "start": START}))
    env = {
        "PUNCHCLOCK_PERSISTED_QUERIES_FILE": str(operations),
        "PUNCHCLOCK_PERSISTED_QUERIES_ONLY": "true",
    }
    with running_server(database_url, env=env) as base:
        auth = {"authorization": f"Bearer {world.owner.token}"}
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            sha = hashlib.sha256(VIEWER.encode()).hexdigest()
            by_hash = await client.post(
                "/graphql",
                json={"extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha}}},
                headers=auth,
            )
            assert by_hash.json()["data"] == {"viewer": {"id": world.owner.id}}
            other = await client.post("/graphql", json={"query": "{ teams { id } }"}, headers=auth)
            assert other.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_ALLOWED"

        ws = await GraphQLWS.open(base, world.owner.token)
        assert (await ws.acked())["type"] == "connection_ack"
        refused = await ws.subscribe('subscription { runningTimers(teamId: "x") { id } }')
        message = await ws.receive()
        assert (message["id"], message["type"]) == (refused, "error"), message
        assert message["payload"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_ALLOWED"
        await ws.subscribe(EVENTS, {"team": world.id})
        await until_live(base, 1)
        started = await call(
            base, START, {"teamId": world.id, "taskId": world.tasks["T-1"]}, world.member.token
        )
        await expect_event(ws, "STARTED", started["timeEntry"]["id"])
        await ws.close()

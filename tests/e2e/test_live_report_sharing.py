"""The done-when test of live reports: 500 WebSocket subscribers of the same report cost one
computation per change, counted in SQL statements.

The app is served by a real uvicorn server inside the test process (so the test can
count the statements its engines send), and the subscribers are real WebSocket clients
over TCP. The report is computed by one grouped statement (``store.reports``), so the
count of grouped statements on ``time_entries`` after a change is the number of
computations.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import event

from gql.server.app import create_app
from gql.settings import Settings
from store.db import Database
from tests.conftest import QUIET
from tests.e2e.server import reserved_socket
from tests.e2e.test_live_reports import LIVE, QUERY, log_input, variables
from tests.e2e.wsclient import GraphQLWS
from tests.factories import make_team
from tests.gql.mutation_helpers import LOG

pytestmark = pytest.mark.e2e

SUBSCRIBERS = 500


@contextlib.asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    """uvicorn serving ``app`` in this process's event loop; yields its base URL."""
    sock = reserved_socket()
    config = uvicorn.Config(
        app, log_level="warning", ws_per_message_deflate=False, lifespan="on", backlog=2048
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)
        sock.close()


def report_statements(app: Any) -> list[str]:
    """The grouped reads of ``time_entries`` (one per report computed) from now on."""
    found: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "time_entries" in statement and "GROUP BY" in statement.upper():
            found.append(statement)

    database = app.state.services.db
    for engine in {id(e): e for e in (database.engine, database.write_engine)}.values():
        event.listen(engine.sync_engine, "before_cursor_execute", seen)
    return found


async def test_five_hundred_subscribers_cost_one_report_per_change(
    db: Database, database_url: str
) -> None:
    world = await make_team(db, "Acme", prefix="a")
    app = create_app(Settings(database_url=database_url, **QUIET))
    statements = report_statements(app)
    async with serving(app) as base, httpx.AsyncClient(base_url=base) as http:

        async def post(doc: str, values: dict[str, Any], token: str) -> dict[str, Any]:
            r = await http.post(
                "/graphql",
                json={"query": doc, "variables": values},
                headers={"authorization": f"Bearer {token}"},
            )
            body: dict[str, Any] = r.json()
            assert "errors" not in body, body
            return body

        # What one report costs: the timeReport query's grouped statements.
        statements.clear()
        await post(QUERY, variables(world), world.member.token)
        one_report = len(statements)
        assert one_report == 1, statements

        tokens = [world.member.token, world.admin.token, world.owner.token]
        clients: list[GraphQLWS] = []
        for batch in range(0, SUBSCRIBERS, 50):
            opened = await asyncio.gather(
                *(GraphQLWS.open(base, tokens[n % 3]) for n in range(batch, batch + 50))
            )
            for ws in opened:
                assert (await ws.acked())["type"] == "connection_ack"
                await ws.subscribe(LIVE, variables(world))
            clients += opened
        firsts = await asyncio.gather(*(ws.next_data(timeout=30) for ws in clients))
        assert all(f["timeReportUpdates"]["totals"]["entryCount"] == 0 for f in firsts)
        fanout = app.state.services.fanout
        assert fanout.group_count == 1
        [group] = fanout.groups.values()
        assert len(group.members) == SUBSCRIBERS
        await asyncio.sleep(1.5)  # past the outbox poll's first look at the team

        statements.clear()
        await post(LOG, {"input": log_input(world)}, world.member.token)
        reports = await asyncio.gather(*(ws.receive(timeout=30) for ws in clients))
        await asyncio.sleep(1.5)  # anything computed a second time would show by now
        print(f"{SUBSCRIBERS} subscribers, one change: {len(statements)} report statement(s)")
        assert len(statements) == one_report, statements
        # Every subscriber got the same report, and it is the query's answer.
        payloads = {str(r["payload"]) for r in reports}
        assert len(payloads) == 1 and all(r["type"] == "next" for r in reports)
        answer = (await post(QUERY, variables(world), world.member.token))["data"]
        assert reports[0]["payload"]["data"]["timeReportUpdates"] == answer["timeReport"]
        await asyncio.gather(*(ws.close() for ws in clients))
    await app.state.services.db.dispose()

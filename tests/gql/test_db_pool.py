"""The PostgreSQL pool: a hard cap with no overflow, and a saturated pool answers UNAVAILABLE.

Overflow connections are closed as soon as they come back to a full pool, so a load just
above the pool size used to open and close a connection per request. Here a load well
above the pool size opens no more connections than the pool holds; a request that cannot
get one in time is answered 503 ``UNAVAILABLE`` and writes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import event, func
from sqlmodel import col, select

from gql.server.app import create_app
from gql.settings import Settings
from store.models import TimeEntry
from tests.factories import make_team

LOG = """mutation($i: LogTimeEntryInput!) { logTimeEntry(input: $i) {
  timeEntry { id } userErrors { code } } }"""
VIEWER = "{ viewer { id } }"


def _log(team: str, task: str, n: int) -> dict[str, Any]:
    return {
        "query": LOG,
        "variables": {
            "i": {
                "teamId": team,
                "taskId": task,
                "startedAt": f"2026-01-05T{n % 24:02d}:00:00Z",
                "durationSeconds": 600,
                "idempotencyKey": f"pool-{n}",
            }
        },
    }


@contextlib.asynccontextmanager
async def _serving(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client of ``app``, with its lifespan running."""
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://t") as client,
    ):
        yield client


async def _entries(app: Any) -> int:
    async with app.state.services.db.read() as session:
        return int((await session.exec(select(func.count(col(TimeEntry.id))))).one())


@pytest.mark.parametrize("dialect", ["postgresql"])
async def test_load_above_the_pool_size_opens_no_more_connections(database_url: str) -> None:
    app = create_app(Settings(database_url=database_url, db_pool_size=3))
    db = app.state.services.db
    opened = []
    event.listen(db.engine.sync_engine.pool, "connect", lambda *_: opened.append(1))
    async with _serving(app) as client:
        world = await make_team(db, "Acme", prefix="p")
        headers = {"authorization": f"Bearer {world.member.token}"}
        task = world.tasks["T-1"]
        for wave in range(3):  # 3 waves of 24 at once: 8 times the pool
            responses = await asyncio.gather(
                *(
                    client.post(
                        "/graphql", json=_log(world.id, task, wave * 24 + n), headers=headers
                    )
                    for n in range(24)
                ),
                *(
                    client.post("/graphql", json={"query": VIEWER}, headers=headers)
                    for _ in range(8)
                ),
            )
            for response in responses:
                body = response.json()
                assert response.status_code == 200, body
                assert "errors" not in body, body
                assert body["data"].get("logTimeEntry", {}).get("userErrors", []) == []
        assert await _entries(app) == 72
        # Every request found a pooled connection; none was opened for one request only.
        assert len(opened) <= 3, len(opened)
        assert db.engine.sync_engine.pool.overflow() <= 0


@pytest.mark.parametrize("dialect", ["postgresql"])
async def test_a_saturated_pool_answers_unavailable_and_writes_nothing(database_url: str) -> None:
    app = create_app(
        Settings(database_url=database_url, db_pool_size=1, db_pool_timeout_seconds=0.3)
    )
    db = app.state.services.db
    async with _serving(app) as client:
        world = await make_team(db, "Acme", prefix="p")
        headers = {"authorization": f"Bearer {world.member.token}"}
        task = world.tasks["T-1"]
        async with db.engine.connect():  # the pool's only connection, held
            for body_json in (_log(world.id, task, 1), {"query": VIEWER}):
                response = await client.post("/graphql", json=body_json, headers=headers)
                body = response.json()
                assert response.status_code == 503, body
                assert body["errors"][0]["extensions"]["code"] == "UNAVAILABLE", body
        # Released, the same request goes through: nothing half-written blocks it.
        assert await _entries(app) == 0
        response = await client.post("/graphql", json=_log(world.id, task, 1), headers=headers)
        body = response.json()
        assert body["data"]["logTimeEntry"]["userErrors"] == [], body
        assert await _entries(app) == 1

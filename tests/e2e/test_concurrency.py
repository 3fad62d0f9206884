"""Real concurrency: many requests at once against one database.

* 50 concurrent startTimer calls of one user leave exactly one entry running and no two
  entries of that user overlapping (SQLite and PostgreSQL).
* 100 concurrent identical requests, same client id and separately same idempotency key,
  at a real uvicorn server on PostgreSQL: one row, one piece of work, 100 identical answers.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from gql.server.app import create_app
from gql.settings import Settings
from store.db import Database
from store.events import EntryEvent
from store.ids import new_id
from store.models import IdempotencyRecord, TimeEntry
from tests.e2e.server import running_server
from tests.factories import make_team
from tests.gql.mutation_helpers import LOG, START

pytestmark = pytest.mark.e2e


async def _post(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any], token: str
) -> dict[str, Any]:
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"authorization": f"Bearer {token}"},
        timeout=120,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_fifty_concurrent_starts_leave_one_running(db: Database, database_url: str) -> None:
    world = await make_team(db, "Acme", prefix="a")
    app = create_app(Settings(database_url=database_url))
    events: list[EntryEvent] = []
    app.state.services.events.listen(events.append)
    tasks = list(world.tasks.values())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as client:
        bodies = await asyncio.gather(
            *(
                _post(
                    client,
                    START,
                    {"input": {"teamId": world.id, "taskId": tasks[n % 2]}},
                    world.member.token,
                )
                for n in range(50)
            )
        )
    await app.state.services.db.dispose()
    for body in bodies:
        assert body.get("errors") is None, body
        assert body["data"]["startTimer"]["userErrors"] == []
    async with db.read() as s:
        rows = list(
            (
                await s.exec(
                    select(TimeEntry)
                    .where(TimeEntry.user_id == world.member.id)
                    .order_by(col(TimeEntry.started_at), col(TimeEntry.version))
                )
            ).all()
        )
    assert len(rows) == 50
    running = [r for r in rows if r.stopped_at is None]
    assert len(running) == 1
    spans = sorted((r.started_at, r.stopped_at or r.started_at, r.id) for r in rows if r.stopped_at)
    for (_, end, _), (start, _, _) in itertools.pairwise(spans):
        assert end <= start, "two entries of one user overlap"
    assert all(r.started_at <= running[0].started_at for r in rows)
    # One STARTED per call, one STOPPED per entry but the last.
    kinds = [e.kind.value for e in events]
    assert kinds.count("STARTED") == 50 and kinds.count("STOPPED") == 49


async def _hundred_identical(
    base: str, variables: dict[str, Any], token: str
) -> list[dict[str, Any]]:
    limits = httpx.Limits(max_connections=100)
    async with httpx.AsyncClient(base_url=base, limits=limits) as client:
        return await asyncio.gather(*(_post(client, LOG, variables, token) for _ in range(100)))


def _normalised(body: dict[str, Any]) -> str:
    payload = dict(body["data"]["logTimeEntry"])
    payload.pop("replayed")
    return json.dumps(payload, sort_keys=True)


@pytest.mark.parametrize("dialect", ["postgresql"])
async def test_hundred_identical_requests_do_the_work_once(db: Database, database_url: str) -> None:
    world = await make_team(db, "Acme", prefix="a")
    base_input = {
        "teamId": world.id,
        "taskId": world.tasks["T-2"],
        "startedAt": "2025-03-10T09:00:00Z",
        "duration": "1h30m",
        "description": "concurrent",
    }
    with running_server(database_url) as base:
        same_id = {**base_input, "id": new_id()}
        by_id = await _hundred_identical(base, {"input": same_id}, world.member.token)
        same_key = {**base_input, "idempotencyKey": "retry-me", "startedAt": "2025-03-11T09:00:00Z"}
        by_key = await _hundred_identical(base, {"input": same_key}, world.member.token)

    for name, bodies in (("same id", by_id), ("same key", by_key)):
        for body in bodies:
            assert body.get("errors") is None, (name, body)
            assert body["data"]["logTimeEntry"]["userErrors"] == [], (name, body)
        answers = {_normalised(b) for b in bodies}
        replayed = sum(b["data"]["logTimeEntry"]["replayed"] for b in bodies)
        print(f"{name}: 100 requests, {len(answers)} distinct answer(s), {100 - replayed} executed")
        assert len(answers) == 1, name
        assert replayed == 99, name
    async with db.read() as s:
        rows = list((await s.exec(select(TimeEntry).where(TimeEntry.team_id == world.id))).all())
        records = list((await s.exec(select(IdempotencyRecord))).all())
    assert len(rows) == 2  # one per kind of retry
    assert all(r.version == 1 for r in rows)  # nothing was done twice
    assert {r.id for r in rows} == {
        json.loads(_normalised(by_id[0]))["timeEntry"]["id"],
        json.loads(_normalised(by_key[0]))["timeEntry"]["id"],
    }
    assert len(records) == 1 and records[0].key == "retry-me"

"""Events that are never lost (the transactional outbox, ``store.outbox``):

* Redis, shared by two real server instances, stops for 10 s under a stream of mutations:
  every subscriber on both instances receives every event exactly once and in order.
* A subscriber's connection drops mid-stream; it reconnects with its last cursor and gets
  exactly what it missed, then live events.
* Many concurrent writers and a sync client paging ``teamChanges`` with its last cursor:
  the client ends with every committed change (both databases).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from gql.server.app import create_app
from gql.settings import Settings
from store.db import Database
from tests.e2e.server import free_port, running_server
from tests.e2e.wsclient import GraphQLWS
from tests.factories import TeamWorld, make_team
from tests.gql.mutation_helpers import DELETE, LOG, UPDATE
from tests.reliability.harness import ServerProcess
from tests.services import private_redis

pytestmark = pytest.mark.e2e

EVENTS = """subscription($team: ID!, $after: String) {
  timerEvents(teamId: $team, after: $after) { kind cursor timeEntry { id version } } }"""
CHANGES = """query($team: ID!, $after: String) { teamChanges(teamId: $team, after: $after) {
  nodes { cursor kind subject subjectId version } endCursor hasNextPage } }"""


async def _post(client: httpx.AsyncClient, doc: str, variables: dict[str, Any], token: str) -> Any:
    response = await client.post(
        "/graphql",
        json={"query": doc, "variables": variables},
        headers={"authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()


async def _log(client: httpx.AsyncClient, world: TeamWorld, n: int) -> str:
    body = await _post(
        client,
        LOG,
        {
            "input": {
                "teamId": world.id,
                "taskId": world.tasks["T-1"],
                "startedAt": f"2025-03-{1 + n // 24:02d}T{n % 24:02d}:00:00Z",
                "durationSeconds": 60,
            }
        },
        world.member.token,
    )
    payload = body["data"]["logTimeEntry"]
    assert payload["userErrors"] == [], payload
    return str(payload["timeEntry"]["id"])


async def _collect(ws: GraphQLWS, want: int, timeout: float) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(got) < want:
        left = deadline - time.monotonic()
        assert left > 0, f"got {len(got)} of {want} events"
        got.append((await ws.next_data(timeout=left))["timerEvents"])
    return got


async def test_a_redis_outage_delays_events_and_loses_none(
    postgres_clean_url: str, tmp_path: Path
) -> None:
    db = Database(postgres_clean_url)
    world = await make_team(db, "Acme", prefix="a")
    await db.dispose()
    port = free_port()
    env = {"PUNCHCLOCK_BROADCAST_URL": f"redis://127.0.0.1:{port}/0"}
    with private_redis(port) as redis:
        servers = [
            ServerProcess(postgres_clean_url, tmp_path / f"server{i}.log", env=env)
            for i in range(2)
        ]
        for server in servers:
            server.start()
        try:
            subscribers = []
            for server in servers:
                for _ in range(2):
                    ws = await GraphQLWS.open(server.base, world.owner.token)
                    await ws.acked()
                    await ws.subscribe(EVENTS, {"team": world.id})
                    subscribers.append(ws)
            await asyncio.sleep(0.5)
            clients = [httpx.AsyncClient(base_url=s.base, timeout=30) for s in servers]
            written: list[str] = []
            try:
                for n in range(10):  # before the outage
                    written.append(await _log(clients[n % 2], world, n))
                redis.terminate()
                redis.wait(timeout=10)
                outage_ends = time.monotonic() + 10
                n = 10
                while time.monotonic() < outage_ends:  # a stream of mutations for 10 s
                    written.append(await _log(clients[n % 2], world, n))
                    n += 1
                    await asyncio.sleep(0.1)
                with private_redis(port):
                    for m in range(n, n + 10):  # and after it
                        written.append(await _log(clients[m % 2], world, m))
                    for ws in subscribers:
                        got = await _collect(ws, len(written), timeout=30)
                        assert [g["timeEntry"]["id"] for g in got] == written
                        assert {g["kind"] for g in got} == {"LOGGED"}
                        cursors = [g["cursor"] for g in got]
                        assert len(set(cursors)) == len(cursors)
                        await ws.nothing_for(1.5)  # no duplicate comes later either
            finally:
                for client in clients:
                    await client.aclose()
            print(f"outage: {len(written)} events, {len(subscribers)} subscribers on 2 instances")
            assert len(written) > 40
            for ws in subscribers:
                await ws.close()
        finally:
            for server in servers:
                server.stop()


async def test_a_reconnecting_subscriber_gets_exactly_what_it_missed(
    db: Database, database_url: str
) -> None:
    world = await make_team(db, "Acme", prefix="a")
    with running_server(database_url) as base:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            ws = await GraphQLWS.open(base, world.member.token)
            await ws.acked()
            await ws.subscribe(EVENTS, {"team": world.id})
            await asyncio.sleep(0.3)
            seen = [await _log(client, world, n) for n in range(3)]
            got = await _collect(ws, 3, timeout=10)
            assert [g["timeEntry"]["id"] for g in got] == seen
            cursor = got[-1]["cursor"]
            await ws.close()  # the connection drops mid-stream
            missed = [await _log(client, world, n) for n in range(3, 8)]
            entry = missed[0]
            changed = await _post(
                client, UPDATE, {"input": {"id": entry, "description": "x"}}, world.member.token
            )
            assert changed["data"]["updateTimeEntry"]["userErrors"] == []
            ws = await GraphQLWS.open(base, world.member.token)
            await ws.acked()
            await ws.subscribe(EVENTS, {"team": world.id, "after": cursor})
            replayed = await _collect(ws, 6, timeout=10)
            assert [(g["kind"], g["timeEntry"]["id"]) for g in replayed] == [
                *(("LOGGED", m) for m in missed),
                ("UPDATED", entry),
            ]
            live = await _log(client, world, 9)
            assert (await _collect(ws, 1, timeout=10))[0]["timeEntry"]["id"] == live
            await ws.nothing_for(1.5)
            await ws.close()
            # A cursor the team never gave is refused with a code, not silence.
            bogus = await GraphQLWS.open(base, world.member.token)
            await bogus.acked()
            await bogus.subscribe(EVENTS, {"team": world.id, "after": "cHw5OTk5"})  # "p|9999"
            message = await bogus.receive(timeout=10)
            assert message["type"] == "error" or "errors" in message.get("payload", {}), message
            errors = (
                message["payload"] if message["type"] == "error" else message["payload"]["errors"]
            )
            assert [e["extensions"]["code"] for e in errors] == ["CURSOR_EXPIRED"]
            await bogus.close()


async def test_a_sync_client_misses_no_change_under_concurrent_writers(
    db: Database, database_url: str
) -> None:
    world = await make_team(db, "Acme", prefix="a")
    app = create_app(Settings(database_url=database_url))
    token = world.member.token
    made: set[tuple[str, int]] = set()
    done = asyncio.Event()
    seen: list[tuple[str, int]] = []

    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):

        async def writer(w: int) -> None:
            for i in range(6):
                n = w * 10 + i
                entry = await _log(client, world, n)
                made.add((entry, 1))
                body = await _post(
                    client, UPDATE, {"input": {"id": entry, "description": f"{n}"}}, token
                )
                made.add((entry, body["data"]["updateTimeEntry"]["timeEntry"]["version"]))
                if i % 3 == 0:
                    body = await _post(client, DELETE, {"input": {"id": entry}}, token)
                    made.add((entry, body["data"]["deleteTimeEntry"]["timeEntry"]["version"]))

        async def sync() -> None:
            cursor: str | None = None
            while True:
                finished = done.is_set()
                body = await _post(client, CHANGES, {"team": world.id, "after": cursor}, token)
                page = body["data"]["teamChanges"]
                seen.extend((n["subjectId"], n["version"]) for n in page["nodes"])
                cursor = page["endCursor"]
                if finished and not page["hasNextPage"]:
                    return
                if not page["nodes"]:
                    await asyncio.sleep(0.01)

        syncing = asyncio.ensure_future(sync())
        await asyncio.gather(*(writer(w) for w in range(12)))
        done.set()
        await syncing
    assert len(made) == 12 * (6 * 2 + 2)
    assert len(seen) == len(set(seen)), "a change came twice"
    assert set(seen) == made


async def test_task_pickers_get_catalogue_changes(db: Database, database_url: str) -> None:
    world = await make_team(db, "Acme", prefix="a")
    catalog = """subscription($team: ID!) { catalogEvents(teamId: $team) {
      kind subject subjectId cursor task { key title } category { key } } }"""
    create = """mutation($input: CreateTaskInput!) { createTask(input: $input) {
      userErrors { code } task { id } } }"""
    rename = """mutation($input: UpdateCategoryInput!) { updateCategory(input: $input) {
      userErrors { code } category { id } } }"""
    with running_server(database_url) as base:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            ws = await GraphQLWS.open(base, world.member.token)
            await ws.acked()
            await ws.subscribe(catalog, {"team": world.id})
            await asyncio.sleep(0.3)
            made = await _post(
                client,
                create,
                {"input": {"teamId": world.id, "key": "PC-9", "title": "Export"}},
                world.member.token,
            )
            task_id = made["data"]["createTask"]["task"]["id"]
            await _log(client, world, 1)  # an entry's event is not the catalogue's
            await _post(
                client,
                rename,
                {"input": {"id": world.categories["dev"], "title": "Engineering"}},
                world.admin.token,
            )
            first = (await ws.next_data(timeout=10))["catalogEvents"]
            second = (await ws.next_data(timeout=10))["catalogEvents"]
            assert (first["kind"], first["subject"], first["subjectId"]) == (
                "CREATED",
                "TASK",
                task_id,
            )
            assert first["task"] == {"key": "PC-9", "title": "Export"}
            assert (second["kind"], second["subject"]) == ("UPDATED", "CATEGORY")
            assert second["category"] == {"key": "dev"} and second["task"] is None
            await ws.nothing_for(1.5)
            await ws.close()

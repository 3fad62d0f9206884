"""Dependency faults: PostgreSQL stopped under load answers UNAVAILABLE (503) quickly and
the server recovers by itself; Redis stopped under load loses no mutation, and
subscriptions resume when it is back. Private PostgreSQL and Redis instances only."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from gql.server.app import create_app
from gql.settings import Settings
from store.db import Database
from store.migrate import upgrade
from tests.e2e.server import free_port
from tests.e2e.wsclient import GraphQLWS
from tests.factories import make_team
from tests.reliability.harness import ServerProcess, private_postgres
from tests.services import private_redis

RESPONSE_JSON = "application/graphql-response+json"
VIEWER = "{ viewer { id teams { id name } } }"
LOG = """mutation($input: LogTimeEntryInput!) { logTimeEntry(input: $input) {
  replayed userErrors { code message } timeEntry { id } } }"""
COUNT = "query($f: TimeEntryFilter!) { timeEntries(filter: $f) { totalCount } }"
EVENTS = "subscription($team: ID!) { timerEvents(teamId: $team) { kind timeEntry { id } } }"


async def test_a_database_out_of_reach_answers_unavailable_not_500() -> None:
    """Regression: authentication runs before execution, where nothing masked a lost
    database; every request answered a bare 500 (and dropped the connection)."""
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    app = create_app(Settings(database_url=url))
    token = "pc_" + "a" * 12 + "_" + "b" * 32
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        for accept in (RESPONSE_JSON, "application/json"):
            response = await client.post(
                "/graphql",
                json={"query": VIEWER},
                headers={"authorization": f"Bearer {token}", "accept": accept},
            )
            assert response.status_code == 503, accept  # the contract: whatever the media type
            body = response.json()
            assert body["data"] is None
            assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAVAILABLE"]
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["database"] == "down"


def test_a_connection_lost_mid_operation_counts_as_unavailable() -> None:
    """Regression (found by the outage test): asyncpg's "connection was closed in the
    middle of operation" reaches us as SQLAlchemy's generic DBAPIError, which was not
    recognised, so a write cut off by the outage answered INTERNAL."""
    from asyncpg.exceptions import CannotConnectNowError, ConnectionDoesNotExistError
    from sqlalchemy.exc import DBAPIError

    from gql.schema.errors import is_unavailable

    cut = ConnectionDoesNotExistError("connection was closed in the middle of operation")
    wrapped = DBAPIError("INSERT ...", {}, cut, connection_invalidated=False)
    wrapped.__cause__ = cut
    assert is_unavailable(wrapped)
    assert is_unavailable(
        DBAPIError("SELECT 1", {}, Exception("gone"), connection_invalidated=True)
    )
    assert is_unavailable(CannotConnectNowError("the database system is starting up"))
    assert not is_unavailable(DBAPIError("SELECT 1", {}, ValueError("bad value")))


def test_another_operation_in_progress_counts_as_unavailable() -> None:
    """Regression (issue 17): during a PostgreSQL restart asyncpg raised its own
    InterfaceError, unwrapped, and the answer was a bare 500."""
    from asyncpg.exceptions import InterfaceError

    from gql.schema.errors import is_unavailable

    busy = InterfaceError("cannot perform operation: another operation is in progress")
    assert is_unavailable(busy)
    assert not is_unavailable(InterfaceError("the server sent something unexpected"))


@dataclass
class Tally:
    outcomes: Counter[str] = field(default_factory=Counter)
    slowest: float = 0.0
    keys: list[str] = field(default_factory=list)
    acked: dict[str, str] = field(default_factory=dict)


async def _load(
    base: str, token: str, team_id: str, task_id: str, tag: str, tally: Tally, stop: asyncio.Event
) -> None:
    """Reads and writes back to back until told to stop; every answer is classified."""
    headers = {"authorization": f"Bearer {token}", "accept": RESPONSE_JSON}
    day = datetime(2025, 1, 1, tzinfo=UTC)
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        for n in range(10**6):
            if stop.is_set():
                return
            key = f"{tag}-{n}"
            tally.keys.append(key)  # before sending: a refused or unanswered write counts
            data = {
                "teamId": team_id,
                "taskId": task_id,
                "startedAt": (day + timedelta(minutes=n)).isoformat(),
                "duration": "1m",
                "idempotencyKey": key,
            }
            for query, variables in ((VIEWER, {}), (LOG, {"input": data})):
                started = time.monotonic()
                response = await client.post(
                    "/graphql", json={"query": query, "variables": variables}, headers=headers
                )
                tally.slowest = max(tally.slowest, time.monotonic() - started)
                body = response.json()
                if body.get("errors"):
                    codes = {e["extensions"]["code"] for e in body["errors"]}
                    assert codes == {"UNAVAILABLE"}, body
                    assert response.status_code == 503, (response.status_code, body)
                    tally.outcomes["UNAVAILABLE"] += 1
                else:
                    assert response.status_code == 200
                    tally.outcomes["ok"] += 1
                    if query is LOG:
                        payload = body["data"]["logTimeEntry"]
                        assert payload["userErrors"] == [], payload
                        tally.acked[key] = payload["timeEntry"]["id"]


@pytest.mark.e2e
@pytest.mark.postgres
async def test_postgres_stopped_under_load_answers_503_and_recovers_by_itself(
    tmp_path: Path,
) -> None:
    with private_postgres() as pg:
        await upgrade(pg.url)
        db = Database(pg.url)
        world = await make_team(db, "Acme", prefix="a")
        await db.dispose()
        server = ServerProcess(pg.url, tmp_path / "server.log")
        server.start()
        tally = Tally()
        stop = asyncio.Event()
        users = (world.owner, world.admin, world.member)
        workers = [
            asyncio.create_task(
                _load(server.base, m.token, world.id, world.tasks["T-2"], f"u{i}", tally, stop)
            )
            for i, m in enumerate(users)
        ]
        try:
            async with httpx.AsyncClient(base_url=server.base, timeout=10) as client:
                await asyncio.sleep(1.0)
                before = tally.outcomes["ok"]
                pg.stop("immediate")  # a crash: connections cut, nothing flushed politely
                await asyncio.sleep(2.0)
                ready = await client.get("/readyz")
                assert ready.status_code == 503 and ready.json()["database"] == "down"
                during = tally.outcomes["UNAVAILABLE"]
                assert during > 0
                # A WebSocket opened now is told to try again later (1013), not crashed.
                ws = await GraphQLWS.open(server.base, world.owner.token)
                with pytest.raises(ConnectionClosed) as closed:
                    await ws.receive(5)
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
                pg.start()
                outage_ended = time.monotonic()
                # Recovery needs no restart: answers turn good again by themselves.
                ok_at_restart = tally.outcomes["ok"]
                while tally.outcomes["ok"] < ok_at_restart + 20:
                    assert time.monotonic() - outage_ended < 60, tally
                    await asyncio.sleep(0.1)
                recovered_in = time.monotonic() - outage_ended
                assert (await client.get("/readyz")).status_code == 200
                ws = await GraphQLWS.open(server.base, world.owner.token)
                assert (await ws.acked())["type"] == "connection_ack"
                await ws.close()
                await asyncio.sleep(0.5)
        finally:
            stop.set()  # not cancelled: a request cut off mid-way is not what is tested
            results = await asyncio.gather(*workers, return_exceptions=True)
        for result in results:
            if result is not None:
                raise AssertionError(f"a load worker failed: {result!r}") from result
        assert server.alive()
        assert "Exception in ASGI application" not in server.log(), server.log()[-3000:]
        assert tally.slowest < 25, f"a request took {tally.slowest:.1f} s: it hung"
        # Nothing acknowledged is lost, and retrying every key (acknowledged or refused
        # during the outage) leaves exactly one entry per key.
        async with httpx.AsyncClient(base_url=server.base, timeout=30) as client:
            by_user = {f"u{i}": m.token for i, m in enumerate(users)}
            for key in tally.keys:
                n = int(key.split("-")[1])
                data = {
                    "teamId": world.id,
                    "taskId": world.tasks["T-2"],
                    "startedAt": (
                        datetime(2025, 1, 1, tzinfo=UTC) + timedelta(minutes=n)
                    ).isoformat(),
                    "duration": "1m",
                    "idempotencyKey": key,
                }
                response = await client.post(
                    "/graphql",
                    json={"query": LOG, "variables": {"input": data}},
                    headers={"authorization": f"Bearer {by_user[key.split('-')[0]]}"},
                )
                payload = response.json()["data"]["logTimeEntry"]
                assert payload["userErrors"] == [], payload
                if key in tally.acked:
                    assert payload["replayed"] is True
                    assert payload["timeEntry"]["id"] == tally.acked[key]
            count = await client.post(
                "/graphql",
                json={"query": COUNT, "variables": {"f": {"teamId": world.id}}},
                headers={"authorization": f"Bearer {world.owner.token}"},
            )
            assert count.json()["data"]["timeEntries"]["totalCount"] == len(set(tally.keys))
        server.stop()
        server.socket.close()
    print(
        f"postgres outage: {before} ok before, {during} UNAVAILABLE (503) during, recovered "
        f"in {recovered_in:.1f} s; {sum(tally.outcomes.values())} requests, slowest "
        f"{tally.slowest:.2f} s; {len(tally.acked)} acknowledged writes, "
        f"{len(set(tally.keys))} keys retried, 0 lost, 0 doubled"
    )


async def _post(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any], token: str
) -> Any:
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"authorization": f"Bearer {token}"},
    )
    return response.json()


@pytest.mark.e2e
@pytest.mark.redis
@pytest.mark.parametrize("dialect", ["sqlite"])
async def test_redis_stopped_under_load_loses_no_mutation_and_events_resume(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    world = await make_team(db, "Acme", prefix="a")
    port = free_port()
    env = {"PUNCHCLOCK_BROADCAST_URL": f"redis://127.0.0.1:{port}/0"}
    token = world.member.token
    written: list[str] = []

    async def log(client: httpx.AsyncClient, n: int) -> str:
        data = {
            "teamId": world.id,
            "taskId": world.tasks["T-1"],
            "startedAt": (datetime(2025, 1, 1, tzinfo=UTC) + timedelta(minutes=n)).isoformat(),
            "duration": "1m",
        }
        body = await _post(client, LOG, {"input": data}, token)
        payload = body["data"]["logTimeEntry"]
        assert payload["userErrors"] == [], payload
        written.append(payload["timeEntry"]["id"])
        return str(payload["timeEntry"]["id"])

    with private_redis(port) as redis:
        server = ServerProcess(database_url, tmp_path / "server.log", env=env)
        server.start()
        try:
            ws = await GraphQLWS.open(server.base, world.owner.token)
            await ws.acked()
            await ws.subscribe(EVENTS, {"team": world.id})
            await asyncio.sleep(0.3)
            async with httpx.AsyncClient(base_url=server.base, timeout=10) as client:
                first = await log(client, 0)
                assert (await ws.next_data())["timerEvents"]["timeEntry"]["id"] == first
                redis.terminate()
                redis.wait(timeout=10)
                # 50 mutations during the outage: all succeed and are committed.
                outage = await asyncio.gather(*(log(client, n) for n in range(1, 51)))
                ready = await client.get("/readyz")
                assert ready.status_code == 503 and ready.json()["broadcast"] == "down"
                with private_redis(port):
                    deadline = time.monotonic() + 15
                    while (await client.get("/readyz")).status_code != 200:
                        assert time.monotonic() < deadline, "broadcast did not come back"
                        await asyncio.sleep(0.2)
                    after = await log(client, 100)
                    while True:  # the open subscription delivers again
                        data = await ws.next_data(timeout=max(0.1, deadline - time.monotonic()))
                        if data["timerEvents"]["timeEntry"]["id"] == after:
                            break
                    assert data["timerEvents"]["kind"] == "LOGGED"
                    count = await _post(client, COUNT, {"f": {"teamId": world.id}}, token)
                    assert count["data"]["timeEntries"]["totalCount"] == len(written) == 52
                    assert len(set(outage)) == 50
            await ws.close()
        finally:
            server.stop()
            server.socket.close()

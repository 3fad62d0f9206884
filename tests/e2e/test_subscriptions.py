"""Live timers across server instances, with real uvicorn processes, Redis and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from store.db import Database
from tests.e2e.server import free_port, running_server, until_live
from tests.e2e.wsclient import GraphQLWS
from tests.factories import make_team
from tests.gql.mutation_helpers import COMMENT, LOG, START, STOP
from tests.services import POSTGRES_URL, REDIS_URL, private_redis, require

pytestmark = pytest.mark.e2e

EVENTS = """subscription($team: ID!, $user: ID) { timerEvents(teamId: $team, userId: $user) {
  kind occurredAt timeEntry { id running user { id } } } }"""
RUNNING = "subscription($team: ID!) { runningTimers(teamId: $team) { id running user { id } } }"


async def call(base: str, doc: str, data: dict[str, Any], token: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base) as client:
        r = await client.post(
            "/graphql",
            json={"query": doc, "variables": {"input": data}},
            headers={"authorization": f"Bearer {token}"},
        )
    [payload] = r.json()["data"].values()
    assert payload["userErrors"] == [], payload
    result: dict[str, Any] = payload
    return result


async def expect_event(ws: GraphQLWS, kind: str, entry_id: str, within: float = 15.0) -> None:
    """The next event is ``kind`` of ``entry_id`` (a generous bound: how soon is a matter
    for bench/subscriptions_bench.py, not for a test on a loaded machine)."""
    data = await ws.next_data(timeout=within)
    assert data["timerEvents"]["kind"] == kind, data
    assert data["timerEvents"]["timeEntry"]["id"] == entry_id, data


async def _cross_instance(db: Database, database_url: str, broadcast_url: str) -> None:
    world = await make_team(db, "Acme", prefix="a")
    env = {"PUNCHCLOCK_BROADCAST_URL": broadcast_url}
    with running_server(database_url, env=env) as a, running_server(database_url, env=env) as b:
        ws = await GraphQLWS.open(a, world.owner.token)
        assert (await ws.acked())["type"] == "connection_ack"
        await ws.subscribe(EVENTS, {"team": world.id})
        await until_live(a, 1)  # the subscription is registered before the first change
        started = await call(
            b, START, {"teamId": world.id, "taskId": world.tasks["T-1"]}, world.member.token
        )
        entry = started["timeEntry"]["id"]
        await expect_event(ws, "STARTED", entry)
        await call(b, STOP, {}, world.member.token)
        await expect_event(ws, "STOPPED", entry)
        logged = await call(
            b,
            LOG,
            {
                "teamId": world.id,
                "taskId": world.tasks["T-2"],
                "startedAt": "2025-03-10T09:00:00Z",
                "duration": "1h",
            },
            world.member.token,
        )
        await expect_event(ws, "LOGGED", logged["timeEntry"]["id"])
        await call(
            b,
            COMMENT,
            {"timeEntryId": logged["timeEntry"]["id"], "content": "hi"},
            world.admin.token,
        )
        await expect_event(ws, "COMMENTED", logged["timeEntry"]["id"])
        await ws.close()


@pytest.mark.parametrize("dialect", ["postgresql"])
async def test_events_cross_instances_through_redis(db: Database, database_url: str) -> None:
    require(REDIS_URL, "redis")
    await _cross_instance(db, database_url, REDIS_URL)


@pytest.mark.parametrize("dialect", ["postgresql"])
async def test_events_cross_instances_through_postgres(db: Database, database_url: str) -> None:
    await _cross_instance(db, database_url, POSTGRES_URL)


@pytest.mark.parametrize("dialect", ["sqlite"])
async def test_running_timers_and_filters(db: Database, database_url: str) -> None:
    world = await make_team(db, "Acme", prefix="a")
    with running_server(database_url) as base:
        running = await GraphQLWS.open(base, world.owner.token)
        await running.acked()
        await running.subscribe(RUNNING, {"team": world.id})
        assert (await running.next_data())["runningTimers"] == []
        mine = await GraphQLWS.open(base, world.owner.token)
        await mine.acked()
        await mine.subscribe(EVENTS, {"team": world.id, "user": world.admin.id})
        await until_live(base, 2)
        started = await call(
            base, START, {"teamId": world.id, "taskId": world.tasks["T-1"]}, world.member.token
        )
        listed = (await running.next_data())["runningTimers"]
        assert [e["id"] for e in listed] == [started["timeEntry"]["id"]]
        admin = await call(
            base, START, {"teamId": world.id, "taskId": world.tasks["T-2"]}, world.admin.token
        )
        listed = (await running.next_data())["runningTimers"]
        assert {e["id"] for e in listed} == {started["timeEntry"]["id"], admin["timeEntry"]["id"]}
        # The user filter: only the admin's change reached `mine`.
        await expect_event(mine, "STARTED", admin["timeEntry"]["id"])
        await call(base, STOP, {}, world.member.token)
        listed = (await running.next_data())["runningTimers"]
        assert [e["id"] for e in listed] == [admin["timeEntry"]["id"]]
        await mine.nothing_for(0.5)
        # A comment does not change the running list: nothing is sent.
        await call(
            base,
            COMMENT,
            {"timeEntryId": admin["timeEntry"]["id"], "content": "x"},
            world.owner.token,
        )
        await running.nothing_for(0.5)
        await running.close()
        await mine.close()


@pytest.mark.parametrize("dialect", ["sqlite"])
async def test_auth_and_tenancy(db: Database, database_url: str) -> None:
    world = await make_team(db, "Acme", prefix="a")
    other = await make_team(db, "Other", prefix="b")
    with running_server(database_url) as base:
        for token in (None, "pc_AAAAAAAAAAAA_" + "B" * 32, "garbage"):
            ws = await GraphQLWS.open(base, token)
            with pytest.raises(ConnectionClosed) as closed:
                await ws.receive()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
        # Another team's subscription ends with an error and no data.
        ws = await GraphQLWS.open(base, other.member.token)
        await ws.acked()
        op = await ws.subscribe(EVENTS, {"team": world.id})
        message = await ws.receive()
        assert message["id"] == op and message["type"] in ("error", "next"), message
        errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
        assert errors[0]["extensions"]["code"] == "NOT_FOUND"
        assert message["type"] == "error" or message["payload"].get("data") is None
        # ...and a subscriber of its own team hears nothing of the first team.
        await ws.subscribe(EVENTS, {"team": other.id})
        await until_live(base, 1)
        await call(
            base, START, {"teamId": world.id, "taskId": world.tasks["T-1"]}, world.member.token
        )
        await call(base, STOP, {}, world.member.token)
        remaining = []
        with contextlib.suppress(TimeoutError):
            while True:
                remaining.append(await ws.receive(0.7))
        assert all(m["type"] == "complete" for m in remaining), remaining
        await ws.close()


@pytest.mark.parametrize("dialect", ["sqlite"])
async def test_websocket_origins_are_checked(db: Database, database_url: str) -> None:
    await make_team(db, "Acme", prefix="a")
    env = {"PUNCHCLOCK_CORS_ORIGINS": "https://app.example"}
    with running_server(database_url, env=env) as base:
        with pytest.raises(Exception, match="403"):
            await GraphQLWS.open(base, None, origin="https://evil.example")  # type: ignore[arg-type]
        ws = await GraphQLWS.open(base, None, origin="https://app.example")  # type: ignore[arg-type]
        await ws.close()


@pytest.mark.parametrize("dialect", ["sqlite"])
async def test_delivery_resumes_after_a_redis_restart(db: Database, database_url: str) -> None:
    world = await make_team(db, "Acme", prefix="a")
    port = free_port()
    env = {"PUNCHCLOCK_BROADCAST_URL": f"redis://127.0.0.1:{port}/0"}
    with private_redis(port) as first, running_server(database_url, env=env) as base:
        ws = await GraphQLWS.open(base, world.owner.token)
        await ws.acked()
        await ws.subscribe(EVENTS, {"team": world.id})
        dash = await GraphQLWS.open(base, world.owner.token)
        await dash.acked()
        await dash.subscribe(RUNNING, {"team": world.id})
        assert (await dash.next_data())["runningTimers"] == []
        await until_live(base, 2)
        started = await call(
            base, START, {"teamId": world.id, "taskId": world.tasks["T-1"]}, world.member.token
        )
        await expect_event(ws, "STARTED", started["timeEntry"]["id"])
        assert len((await dash.next_data())["runningTimers"]) == 1

        first.terminate()
        first.wait(timeout=10)
        # During the outage a mutation still succeeds and is committed.
        stopped = await call(base, STOP, {}, world.member.token)
        assert stopped["timeEntry"]["running"] is False
        with private_redis(port):
            # The dashboard is told the current list again once the backend is back.
            resent = await dash.next_data(timeout=15)
            assert resent["runningTimers"] == []
            again = await call(
                base, START, {"teamId": world.id, "taskId": world.tasks["T-2"]}, world.member.token
            )
            deadline = time.monotonic() + 10
            while True:
                data = await ws.next_data(timeout=max(0.1, deadline - time.monotonic()))
                if data["timerEvents"]["timeEntry"]["id"] == again["timeEntry"]["id"]:
                    break
            assert data["timerEvents"]["kind"] == "STARTED"
        await ws.close()
        await dash.close()


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.parametrize("dialect", ["sqlite"])
async def test_a_client_that_never_reads_does_not_grow_the_server(
    db: Database, database_url: str
) -> None:
    world = await make_team(db, "Acme", prefix="a")
    with running_server(database_url) as base:
        pid = base.pid
        ws = await GraphQLWS.open(base, world.owner.token, max_size=None)
        await ws.acked()
        await ws.subscribe(
            EVENTS.replace("running user { id }", "running description"), {"team": world.id}
        )
        await until_live(base, 1)
        text = "x" * 10_000
        async with httpx.AsyncClient(base_url=base) as client:

            async def log(n: int) -> None:
                r = await client.post(
                    "/graphql",
                    json={
                        "query": LOG,
                        "variables": {
                            "input": {
                                "teamId": world.id,
                                "taskId": world.tasks["T-2"],
                                "startedAt": "2025-03-10T09:00:00Z",
                                "duration": "1m",
                                "description": text,
                            }
                        },
                    },
                    headers={"authorization": f"Bearer {world.member.token}"},
                )
                assert r.json()["data"]["logTimeEntry"]["userErrors"] == [], n

            # Warm up: 15 MB of 10 kB rows fill the SQLite page caches (2 MB per pooled
            # connection), the subscriber's bounded queue (256 events, ~2.5 MB) and the
            # shared reads (512 rows); with a 5 MB warm-up the caches were still filling
            # and the growth reached 4.7 MB, and with 10 MB it could still reach 6 MB,
            # the shared execution lagging hundreds of events behind the writer.
            for n in range(1500):
                await log(n)
            middle = _rss_kb(pid)
            for n in range(1500, 2000):
                await log(n)
            end = _rss_kb(pid)
            print("server RSS growth over the last 500 events:", end - middle, "kB")
            # More again: the server must have given up on the client by the time it
            # reads, however far the shared execution lagged.
            for n in range(2000, 3000):
                await log(n)
        # Another 500 events of 10 kB each would be 5 MB more if they were held for it.
        assert end - middle < 4_500, (middle, end)
        # When the client finally reads, the server has given up on it: the subscription
        # ended as too slow, or (when the client also stopped answering pings) the
        # connection was closed.
        codes, received = [], 0
        try:
            while True:
                message = await ws.receive(2)
                received += 1
                if message["type"] == "error":
                    codes.append(message["payload"][0]["extensions"]["code"])
                    break
                if message["type"] == "next" and message["payload"].get("errors"):
                    codes.append(message["payload"]["errors"][0]["extensions"]["code"])
                    break
        except ConnectionClosed:
            codes.append("CLOSED")
        except TimeoutError:
            codes.append(f"TIMEOUT after {received}")
        print("slow client:", received, "messages then", codes)
        assert codes in (["SUBSCRIBER_TOO_SLOW"], ["CLOSED"]), codes
        assert received < 3000
        await ws.close()


@pytest.mark.parametrize("dialect", ["sqlite"])
async def test_shared_execution_keeps_viewers_and_revocation_apart(
    db: Database, database_url: str
) -> None:
    from store import tokens
    from store.timeutil import utcnow

    world = await make_team(db, "Acme", prefix="a")
    doc = """subscription($team: ID!) { timerEvents(teamId: $team) { kind timeEntry { id user { email } } } }"""
    plain = "subscription($team: ID!) { timerEvents(teamId: $team) { kind timeEntry { id } } }"
    with running_server(database_url) as base:
        clients = {}
        for name, token, query in (
            ("admin", world.admin.token, doc),
            ("member", world.member.token, doc),
            ("owner", world.owner.token, plain),
            ("owner2", world.owner.token, plain),
            ("member2", world.member.token, plain),
        ):
            ws = await GraphQLWS.open(base, token)
            await ws.acked()
            await ws.subscribe(query, {"team": world.id})
            clients[name] = ws
        await until_live(base, 5)
        started = await call(
            base, START, {"teamId": world.id, "taskId": world.tasks["T-1"]}, world.owner.token
        )
        entry = started["timeEntry"]["id"]
        got = {name: (await ws.next_data())["timerEvents"] for name, ws in clients.items()}
        # The e-mail is visible to the admin only, although both ran the same document.
        assert got["admin"]["timeEntry"]["user"]["email"] == world.owner.email
        assert got["member"]["timeEntry"]["user"]["email"] is None
        assert (
            got["owner"]
            == got["owner2"]
            == got["member2"]
            == {"kind": "STARTED", "timeEntry": {"id": entry}}
        )

        # Revoke the member's token: its subscriptions end, the others go on.
        prefix, _ = tokens.parse_token(world.member.token) or ("", "")
        async with db.write() as s:
            assert await tokens.revoke_token(s, prefix=prefix, at=utcnow())
            await s.commit()
        # The token check every 5 s ends the member's two subscriptions, no event needed.
        await until_live(base, 3)
        await call(base, STOP, {}, world.owner.token)
        assert (await clients["owner"].next_data())["timerEvents"]["kind"] == "STOPPED"
        assert (await clients["admin"].next_data())["timerEvents"]["kind"] == "STOPPED"
        for name in ("member", "member2"):
            try:
                message = await clients[name].receive()
            except ConnectionClosed as closed:
                # The connection's own token check (every 5 s) got there first.
                assert closed.rcvd is not None and closed.rcvd.code == 4403, name
                continue
            assert message["type"] in ("error", "next"), message
            errors = (
                message["payload"]
                if message["type"] == "error"
                else message["payload"].get("errors")
            )
            assert errors and errors[0]["extensions"]["code"] == "NOT_FOUND", (name, message)
        for ws in clients.values():
            await ws.close()


@pytest.mark.parametrize("dialect", ["sqlite"])
async def test_legacy_graphql_ws_protocol(db: Database, database_url: str) -> None:
    import json

    import websockets

    world = await make_team(db, "Acme", prefix="a")
    with running_server(database_url) as base:
        url = base.replace("http://", "ws://") + "/graphql"
        async with websockets.connect(url, subprotocols=["graphql-ws"]) as ws:  # type: ignore[list-item]
            await ws.send(
                json.dumps(
                    {
                        "type": "connection_init",
                        "payload": {"authorization": f"Bearer {world.owner.token}"},
                    }
                )
            )
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            await ws.send(
                json.dumps(
                    {
                        "id": "1",
                        "type": "start",
                        "payload": {"query": EVENTS, "variables": {"team": world.id}},
                    }
                )
            )
            await until_live(base, 1)
            started = await call(
                base, START, {"teamId": world.id, "taskId": world.tasks["T-1"]}, world.member.token
            )
            while True:
                message = json.loads(await asyncio.wait_for(ws.recv(), 5))
                if message["type"] == "ka":  # the legacy protocol's keep-alive
                    continue
                break
            assert message["type"] == "data" and message["id"] == "1"
            assert (
                message["payload"]["data"]["timerEvents"]["timeEntry"]["id"]
                == started["timeEntry"]["id"]
            )
        async with websockets.connect(url, subprotocols=["graphql-ws"]) as ws:  # type: ignore[list-item]
            await ws.send(
                json.dumps({"type": "connection_init", "payload": {"authorization": "Bearer nope"}})
            )
            # That protocol refuses with its own message, then closes the socket.
            assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "connection_error"
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 5)

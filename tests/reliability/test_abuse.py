"""Abuse: oversized bodies, huge variables, slow clients and WebSocket subscribe floods are
refused early with a clear code, other clients are served meanwhile, and the server's
memory stays bounded. (Deep, wide and aliased queries are #6's query limits.)"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from gql.server.app import create_app
from gql.settings import Settings
from store.db import Database
from tests.e2e.wsclient import GraphQLWS
from tests.factories import make_team
from tests.reliability.harness import rss_kb, server_process

VIEWER = "{ viewer { id nickname } }"
EVENTS = "subscription($team: ID!) { timerEvents(teamId: $team) { kind timeEntry { id } } }"
MIB = 1024 * 1024


@pytest.fixture
async def small_limit_client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(database_url=database_url, max_body_bytes=64 * 1024))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        yield client


def _assert_413(response: httpx.Response, limit: int) -> None:
    assert response.status_code == 413, response.text
    body = response.json()
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    assert str(limit) in error["message"]
    assert response.headers["x-request-id"]


@pytest.mark.parametrize("dialect", ["sqlite"])
async def test_a_body_over_the_limit_is_refused_with_413(
    db: Database, small_limit_client: httpx.AsyncClient
) -> None:
    world = await make_team(db, "Acme", prefix="a")
    headers = {"authorization": f"Bearer {world.owner.token}"}
    huge = {"query": VIEWER, "variables": {"blob": "x" * (65 * 1024)}}
    # Declared length over the limit.
    _assert_413(await small_limit_client.post("/graphql", json=huge, headers=headers), 65536)

    # No declared length (chunked): counted as it streams and cut off past the limit.
    async def chunks() -> AsyncIterator[bytes]:
        raw = json.dumps(huge).encode()
        for i in range(0, len(raw), 4096):
            yield raw[i : i + 4096]

    response = await small_limit_client.post(
        "/graphql", content=chunks(), headers={**headers, "content-type": "application/json"}
    )
    _assert_413(response, 65536)
    # Just under the limit, huge variables are an ordinary request.
    fits = {"query": VIEWER, "variables": {"blob": "x" * (60 * 1024)}}
    response = await small_limit_client.post("/graphql", json=fits, headers=headers)
    assert response.status_code == 200
    assert response.json()["data"]["viewer"]["id"] == world.owner.id


def _raw_request(port: int, head: bytes, body_part: bytes = b"") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(head + body_part)
    return sock


def _read_status(sock: socket.socket, timeout: float) -> bytes:
    sock.settimeout(timeout)
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    return data.split(b"\r\n", 1)[0]


@pytest.mark.e2e
@pytest.mark.parametrize("dialect", ["sqlite"])
async def test_huge_bodies_are_refused_before_they_are_read(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    await make_team(db, "Acme", prefix="a")
    with server_process(database_url, tmp_path / "server.log") as server:
        before = rss_kb(server.pid)
        # 50 MB declared: the 413 comes after 1 kB has been sent.
        head = (
            b"POST /graphql HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            b"Content-Length: 50000000\r\n\r\n"
        )
        sock = _raw_request(server.port, head, b'{"query": "' + b"x" * 1000)
        # Answered with 49.99 MB of the body never sent: refused on its declared length.
        assert _read_status(sock, 30) == b"HTTP/1.1 413 Request Entity Too Large"
        sock.close()

        # 20 MB streamed in chunks without a length: refused once 1 MiB has arrived.
        head = (
            b"POST /graphql HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        sock = _raw_request(server.port, head)
        chunk = b"%x\r\n%s\r\n" % (64 * 1024, b"x" * 64 * 1024)
        sent = 0
        try:
            for _ in range(320):
                sock.sendall(chunk)
                sent += 64 * 1024
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert _read_status(sock, 5) == b"HTTP/1.1 413 Request Entity Too Large"
        sock.close()
        grown = rss_kb(server.pid) - before
        print(f"streamed {sent / MIB:.1f} MiB before the refusal; server grew {grown} KiB")
        assert sent < 20 * MIB  # the server closed the connection before it was all sent
        assert grown < 8_000, grown
        assert httpx.get(server.base + "/healthz").status_code == 200


@pytest.mark.e2e
@pytest.mark.parametrize("dialect", ["sqlite"])
async def test_slow_clients_neither_block_others_nor_grow_the_server(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    world = await make_team(db, "Acme", prefix="a")
    # A deadline well above the 5 s an ordinary request may take here, so "served while the
    # slow clients wait" and "served after their deadline" cannot be mistaken.
    env = {"PUNCHCLOCK_HEADER_TIMEOUT_SECONDS": "12"}
    with server_process(database_url, tmp_path / "server.log", env=env) as server:
        await asyncio.sleep(0.5)
        before = rss_kb(server.pid)
        # 300 slowloris connections, each with half a request head, trickling more.
        slow = [
            _raw_request(server.port, b"POST /graphql HTTP/1.1\r\nHost: t\r\n") for _ in range(300)
        ]
        # One client sending endless headers.
        endless = _raw_request(server.port, b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Pad: ")
        endless_refused = False
        try:
            for _ in range(100):
                endless.sendall(b"a" * 64 * 1024)
        except (BrokenPipeError, ConnectionResetError):
            endless_refused = True
        assert endless_refused, "6 MB of headers were accepted"

        # Meanwhile ordinary clients are served at once.
        async with httpx.AsyncClient(base_url=server.base, timeout=30) as client:
            for _ in range(20):
                started = time.monotonic()
                response = await client.post(
                    "/graphql",
                    json={"query": VIEWER},
                    headers={"authorization": f"Bearer {world.owner.token}"},
                )
                assert response.json()["data"]["viewer"]["id"] == world.owner.id
                # Not queued behind the slow clients' deadline (12 s); generous on a busy box.
                assert time.monotonic() - started < 5
        for sock in slow[:100]:
            sock.sendall(b"X-Slow: 1\r\n")  # trickling does not extend the deadline
        during = rss_kb(server.pid)
        # Past the deadline every slow connection was answered 408 and closed.
        statuses = {_read_status(sock, 30) for sock in slow}
        assert statuses == {b"HTTP/1.1 408 Request Timeout"}, statuses
        for sock in slow:
            sock.close()
        endless.close()
        print(f"300 slow clients: server {before} KiB before, {during} KiB during")
        assert during - before < 10_000, (before, during)
        assert httpx.get(server.base + "/healthz").status_code == 200


@pytest.mark.e2e
@pytest.mark.parametrize("dialect", ["sqlite"])
async def test_a_websocket_subscribe_flood_is_capped_then_cut_off(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    world = await make_team(db, "Acme", prefix="a")
    env = {"PUNCHCLOCK_WS_MAX_OPERATIONS": "5"}
    with server_process(database_url, tmp_path / "server.log", env=env) as server:
        ws = await GraphQLWS.open(server.base, world.owner.token)
        assert (await ws.acked())["type"] == "connection_ack"
        for _ in range(5):
            await ws.subscribe(EVENTS, {"team": world.id})
        sixth = await ws.subscribe(EVENTS, {"team": world.id})
        refusal = await ws.receive()
        assert refusal["type"] == "error" and refusal["id"] == sixth, refusal
        assert refusal["payload"][0]["extensions"]["code"] == "TOO_MANY_OPERATIONS"
        before = rss_kb(server.pid)
        # A flood of 20,000 more: the connection is closed instead of answered forever.
        closed = None
        try:
            for _ in range(20_000):
                await ws.subscribe(EVENTS, {"team": world.id})
            while True:
                await ws.receive(5)
        except ConnectionClosed as exc:
            closed = exc.rcvd.code if exc.rcvd else None
        assert closed == 4429
        # One huge message (2 MiB of variables) closes the socket: 1009, message too big.
        huge = await GraphQLWS.open(server.base, world.owner.token)
        await huge.acked()
        with pytest.raises(ConnectionClosed) as too_big:
            await huge.subscribe(EVENTS, {"team": world.id, "blob": "x" * 2 * MIB})
            await huge.receive(5)
        assert too_big.value.rcvd is not None and too_big.value.rcvd.code == 1009
        grown = rss_kb(server.pid) - before
        assert grown < 8_000, grown
        # The server goes on serving others.
        other = await GraphQLWS.open(server.base, world.member.token)
        assert (await other.acked())["type"] == "connection_ack"
        await other.close()

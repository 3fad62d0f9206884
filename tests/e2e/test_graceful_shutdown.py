"""SIGTERM under load: in-flight requests finish, WebSockets close with 1001, no
committed write is lost and none is half done. The server runs as production runs it
(``punchclock serve``), logging JSON, whose lines are checked on the way."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import threading
import time

import httpx
import pytest
from sqlmodel import select
from websockets.exceptions import ConnectionClosed

from store.db import Database
from store.models import IdempotencyRecord, TimeEntry
from tests.e2e.server import free_port, serve_command
from tests.e2e.test_serve_demo import _collect
from tests.e2e.wsclient import GraphQLWS
from tests.factories import make_team
from tests.gql.mutation_helpers import LOG

pytestmark = pytest.mark.e2e

REQUESTS = 200


@pytest.mark.parametrize("dialect", ["postgresql"])
async def test_sigterm_under_load_loses_nothing(db: Database, database_url: str) -> None:
    world = await make_team(db, "Acme", prefix="a")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [*serve_command(), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env={
            **os.environ,
            "PUNCHCLOCK_DATABASE_URL": database_url,
            "PUNCHCLOCK_LOG_FORMAT": "json",
            "PUNCHCLOCK_LOG_LEVEL": "info",
            "PUNCHCLOCK_SHUTDOWN_TIMEOUT": "20",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=_collect, args=(process.stdout, lines), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 30
        while not any("Uvicorn running on" in line for line in lines):  # listening
            assert process.poll() is None and time.monotonic() < deadline, "".join(lines)
            await asyncio.sleep(0.1)

        ws = await GraphQLWS.open(base, world.owner.token)
        assert (await ws.acked())["type"] == "connection_ack"
        await ws.subscribe(
            "subscription($t: ID!) { timerEvents(teamId: $t) { kind } }", {"t": world.id}
        )

        done = asyncio.Event()
        finished = 0

        async def log_one(client: httpx.AsyncClient, i: int) -> str:
            nonlocal finished
            try:
                response = await client.post(
                    "/graphql",
                    json={
                        "query": LOG,
                        "variables": {
                            "input": {
                                "teamId": world.id,
                                "taskId": world.tasks["T-1"],
                                "startedAt": f"2025-03-10T{i // 60:02d}:{i % 60:02d}:00Z",
                                "duration": "1m",
                                "description": f"load-{i}",
                                "idempotencyKey": f"load-{i}",
                            }
                        },
                    },
                    headers={"authorization": f"Bearer {world.member.token}"},
                )
                payload = response.json()["data"]["logTimeEntry"]
                assert payload["userErrors"] == [], payload
                entry_id: str = payload["timeEntry"]["id"]
                return entry_id
            finally:
                finished += 1
                if finished == 20:
                    done.set()

        limits = httpx.Limits(max_connections=40)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
            calls = [asyncio.create_task(log_one(client, i)) for i in range(REQUESTS)]
            await done.wait()
            process.send_signal(signal.SIGTERM)
            outcomes = await asyncio.gather(*calls, return_exceptions=True)

        # The WebSocket is told the server is going away (1001), not cut.
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await ws.receive(timeout=20)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
        # uvicorn re-raises the signal once it has shut down cleanly, so the exit is by
        # SIGTERM; the log says whether the shutdown completed.
        assert process.wait(timeout=30) in (0, -signal.SIGTERM)

        acknowledged = {o for o in outcomes if isinstance(o, str)}
        failures = [o for o in outcomes if not isinstance(o, str)]
        # Whatever did not get an answer failed to connect or lost its connection; no
        # request got a wrong answer.
        assert all(isinstance(f, httpx.TransportError) for f in failures), failures
        assert len(acknowledged) >= 20
        async with db.read() as session:
            rows = (
                await session.exec(select(TimeEntry).where(TimeEntry.team_id == world.id))
            ).all()
            records_of_member = select(IdempotencyRecord).where(
                IdempotencyRecord.user_id == world.member.id
            )
            keys = [r.key for r in (await session.exec(records_of_member)).all()]
        stored = {row.id: row.description for row in rows}
        # Every acknowledged write is there ...
        assert acknowledged <= set(stored), acknowledged - set(stored)
        # ... and every stored entry is whole: committed with its idempotency record.
        assert sorted(stored.values()) == sorted(f"load-{k.removeprefix('load-')}" for k in keys)
        print(
            f"SIGTERM after 20 answers: {len(acknowledged)} acknowledged, "
            f"{len(stored)} stored, {len(failures)} refused or cut"
        )
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        reader.join(timeout=5)
        if process.stdout:
            process.stdout.close()

    # JSON log lines, each with a request id (or "-" outside requests).
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert len(records) + 1 >= len(lines)  # all but the "Serving Punchclock" banner
    access = [r for r in records if r["logger"] == "uvicorn.access"]
    assert access and all(len(r["request_id"]) == 26 for r in access)
    assert any("closed 1 WebSocket(s) with 1001" in r["message"] for r in records)
    assert any(r["message"] == "Application shutdown complete." for r in records)
    assert not [r for r in records if r["level"] == "error"], records

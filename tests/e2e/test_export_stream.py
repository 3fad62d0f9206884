"""The CSV export from a real uvicorn process: sent chunked as it is read (no
``Content-Length``, which would need the whole body first), complete, and a client that
goes away mid-way gives the server's database connection back. The memory figure of a
million rows is bench/export_bench.py's."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from store.db import Database
from store.ids import new_id
from store.models import TimeEntry
from tests.e2e.server import running_server
from tests.factories import make_team

pytestmark = pytest.mark.e2e

ROWS = 3000


async def test_the_export_streams_chunked_from_a_real_server(
    db: Database, database_url: str
) -> None:
    world = await make_team(db, "Acme", prefix="a")
    start = datetime(2025, 6, 1, tzinfo=UTC)
    async with db.write() as s:
        for i in range(ROWS):
            began = start - timedelta(minutes=i)
            s.add(
                TimeEntry(
                    id=new_id(),
                    team_id=world.id,
                    user_id=world.member.id,
                    scope_type="TASK",
                    task_id=world.tasks["T-1"],
                    started_at=began,
                    stopped_at=began + timedelta(seconds=59),
                    duration_seconds=59,
                    work_date=began.date(),
                    billable=True,
                    rate_snapshot_cents=6000,
                    description=f"entry {i}",
                )
            )
        await s.commit()
    env = {"PUNCHCLOCK_EXPORT_BATCH_ROWS": "250"}
    headers = {"authorization": f"Bearer {world.owner.token}"}
    with running_server(database_url, env=env) as base:
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            async with client.stream(
                "GET", "/export/time-entries.csv", params={"teamId": world.id}, headers=headers
            ) as response:
                assert response.status_code == 200
                assert response.headers["transfer-encoding"] == "chunked"
                assert "content-length" not in response.headers
                body = b"".join([chunk async for chunk in response.aiter_bytes()])
            rows = list(csv.DictReader(io.StringIO(body.decode(), newline="")))
            assert len(rows) == ROWS
            assert [r["description"] for r in rows[:2]] == ["entry 0", "entry 1"]
            assert rows[-1]["description"] == f"entry {ROWS - 1}"
            # Clients that read a little and go away, many times over: each export's
            # connection goes back to the pool (10 connections), so the next still runs.
            for _ in range(15):
                async with client.stream(
                    "GET",
                    "/export/time-entries.csv",
                    params={"teamId": world.id},
                    headers=headers,
                ) as response:
                    async for _chunk in response.aiter_bytes():
                        break
            await asyncio.sleep(0.5)
            response = await asyncio.wait_for(
                client.get(
                    "/export/time-entries.csv", params={"teamId": world.id}, headers=headers
                ),
                timeout=30,
            )
            assert response.status_code == 200
            assert len(response.content.splitlines()) >= ROWS + 1

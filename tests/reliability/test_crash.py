"""Crash safety: ``kill -9`` the server under a stream of acknowledged writes, restart it,
and every acknowledged change is there; replaying its idempotency key returns the stored
result (``replayed: true``, the same ids and values), on SQLite and on PostgreSQL.

``PUNCHCLOCK_CRASH_ROUNDS`` sets how many kills per database (CI default 3).
"""

from __future__ import annotations

import asyncio
import itertools
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from store import accounts
from store.db import Database
from tests.factories import Member, make_team, make_user
from tests.reliability.harness import ServerProcess

pytestmark = pytest.mark.e2e

ROUNDS = int(os.environ.get("PUNCHCLOCK_CRASH_ROUNDS", "3"))
FIELDS = "id startedAt stoppedAt running durationSeconds description"
LOG = f"""mutation($input: LogTimeEntryInput!) {{ logTimeEntry(input: $input) {{
  replayed userErrors {{ code message }} timeEntry {{ {FIELDS} }} }} }}"""
START = f"""mutation($input: StartTimerInput!) {{ startTimer(input: $input) {{
  replayed userErrors {{ code message }} timeEntry {{ {FIELDS} }} stoppedEntry {{ id }} }} }}"""
STOP = f"""mutation($input: StopTimerInput!) {{ stopTimer(input: $input) {{
  replayed userErrors {{ code message }} timeEntry {{ {FIELDS} }} }} }}"""
READ = f"query($id: ID!) {{ timeEntry(id: $id) {{ {FIELDS} }} }}"


@dataclass
class Ack:
    """An acknowledged write: what was sent, by whom, and what came back."""

    document: str
    input: dict[str, Any]
    token: str
    entry: dict[str, Any]


async def _writer(
    base: str, member: Member, team_id: str, task_id: str, tag: str, acks: list[Ack]
) -> None:
    """log, start, stop, over and over, until the server goes away."""
    day = datetime(2025, 1, 1, tzinfo=UTC)
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        for n in itertools.count():
            when = (day + timedelta(minutes=n)).isoformat()
            steps = (
                (
                    "log",
                    LOG,
                    {"teamId": team_id, "taskId": task_id, "startedAt": when, "duration": "1m"},
                ),
                (
                    "start",
                    START,
                    {"teamId": team_id, "taskId": task_id, "description": f"{tag}-{n}"},
                ),
                ("stop", STOP, {}),
            )
            for name, document, data in steps:
                data = {**data, "idempotencyKey": f"{tag}-{n}-{name}"}
                try:
                    response = await client.post(
                        "/graphql",
                        json={"query": document, "variables": {"input": data}},
                        headers={"authorization": f"Bearer {member.token}"},
                    )
                    body = response.json()
                except (httpx.HTTPError, ValueError):
                    return  # killed mid-request: not acknowledged
                [payload] = body["data"].values()
                assert payload["userErrors"] == [], payload
                assert payload["replayed"] is False, payload
                acks.append(Ack(document, data, member.token, payload["timeEntry"]))


async def _crash_rounds(db: Database, database_url: str, tmp_path: Path) -> None:
    world = await make_team(db, "Acme", prefix="a")
    members = [world.owner, world.admin, world.member]
    for i in range(3):
        extra = await make_user(db, f"Extra {i}", f"extra-{i}@example.test")
        async with db.write() as s:
            await accounts.add_member(s, team_id=world.id, user_id=extra.id)
            await s.commit()
        members.append(extra)
    server = ServerProcess(database_url, tmp_path / "server.log")
    acks: list[Ack] = []
    try:
        for round_ in range(ROUNDS):
            server.start()
            writers = [
                asyncio.create_task(
                    _writer(
                        server.base,
                        m,
                        world.id,
                        world.tasks["T-1"],
                        f"r{round_}u{i}",
                        acks,
                    )
                )
                for i, m in enumerate(members)
            ]
            await asyncio.sleep(1.5)
            server.kill()  # SIGKILL while requests are in flight
            await asyncio.gather(*writers)
        server.start()
        async with httpx.AsyncClient(base_url=server.base, timeout=30) as client:
            for ack in acks:
                headers = {"authorization": f"Bearer {ack.token}"}
                read = await client.post(
                    "/graphql",
                    json={"query": READ, "variables": {"id": ack.entry["id"]}},
                    headers=headers,
                )
                stored = read.json()["data"]["timeEntry"]
                assert stored is not None, f"acknowledged write lost: {ack}"
                if ack.document is START:
                    # A later acknowledged stop may have stopped it since.
                    assert stored["startedAt"] == ack.entry["startedAt"], (ack, stored)
                    assert stored["description"] == ack.entry["description"], (ack, stored)
                else:
                    assert {k: stored[k] for k in ("startedAt", "stoppedAt")} == {
                        k: ack.entry[k] for k in ("startedAt", "stoppedAt")
                    }, (ack, stored)
                replay = await client.post(
                    "/graphql",
                    json={"query": ack.document, "variables": {"input": ack.input}},
                    headers=headers,
                )
                [payload] = replay.json()["data"].values()
                assert payload["replayed"] is True, (ack, payload)
                assert payload["userErrors"] == [], (ack, payload)
                assert payload["timeEntry"]["id"] == ack.entry["id"]
                assert payload["timeEntry"]["startedAt"] == ack.entry["startedAt"]
                if ack.document is not START:
                    assert payload["timeEntry"]["stoppedAt"] == ack.entry["stoppedAt"]
    finally:
        server.stop()
        server.socket.close()
    kinds = {doc: sum(a.document is doc for a in acks) for doc in (LOG, START, STOP)}
    print(
        f"{database_url.split(':')[0]}: {ROUNDS} kills, {len(acks)} acknowledged writes "
        f"({kinds[LOG]} logs, {kinds[START]} starts, {kinds[STOP]} stops) checked and "
        "replayed, 0 lost"
    )
    assert len(acks) >= ROUNDS * 10, "too few writes to say anything"


@pytest.mark.parametrize("dialect", ["sqlite"])
async def test_acknowledged_writes_survive_kill_9_on_sqlite(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    await _crash_rounds(db, database_url, tmp_path)


@pytest.mark.postgres
@pytest.mark.parametrize("dialect", ["postgresql"])
async def test_acknowledged_writes_survive_kill_9_on_postgresql(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    await _crash_rounds(db, database_url, tmp_path)

"""A flooded subscriber gets every event or a coded SUBSCRIBER_TOO_SLOW, never a silent
``complete`` (issue 17): with ``comments`` selected, each event costs the shared
execution a read, and a flood used to outrun it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from store.db import Database
from tests.e2e.wsclient import GraphQLWS
from tests.factories import make_team
from tests.gql.mutation_helpers import LOG
from tests.reliability.harness import server_process

pytestmark = pytest.mark.e2e

FLOOD = 480
WRITERS = 8
WITH_COMMENTS = """subscription($team: ID!) { timerEvents(teamId: $team) {
  kind timeEntry { id description comments { id content user { nickname } } } } }"""


async def _flood(base: str, team_id: str, task_id: str, token: str) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:

        async def writer(w: int) -> None:
            for n in range(w, FLOOD, WRITERS):
                response = await client.post(
                    "/graphql",
                    json={
                        "query": LOG,
                        "variables": {
                            "input": {
                                "teamId": team_id,
                                "taskId": task_id,
                                "startedAt": "2025-03-10T09:00:00Z",
                                "duration": "1m",
                                "description": f"flood {n}",
                            }
                        },
                    },
                    headers={"authorization": f"Bearer {token}"},
                )
                assert response.json()["data"]["logTimeEntry"]["userErrors"] == [], n

        await asyncio.gather(*(writer(w) for w in range(WRITERS)))


async def _flooded(
    db: Database, database_url: str, tmp_path: Path, env: dict[str, str] | None = None
) -> tuple[str, list[str], dict[str, Any] | None, str]:
    """Flood a subscriber that keeps reading: (its operation id, the entry ids it got,
    the message that ended it or None, the server's log)."""
    world = await make_team(db, "Acme", prefix="a")
    log_path = tmp_path / "server.log"
    with server_process(database_url, log_path, env=env) as server:
        ws = await GraphQLWS.open(server.base, world.owner.token, max_size=None)
        await ws.acked()
        op = await ws.subscribe(WITH_COMMENTS, {"team": world.id})
        await asyncio.sleep(0.3)
        received: list[str] = []
        ended: dict[str, Any] | None = None

        async def read() -> None:
            nonlocal ended
            while len(received) < FLOOD:
                message = await ws.receive(30)
                if message["type"] == "next" and "errors" not in message["payload"]:
                    received.append(message["payload"]["data"]["timerEvents"]["timeEntry"]["id"])
                    continue
                ended = message
                return

        reader = asyncio.create_task(read())
        await _flood(server.base, world.id, world.tasks["T-1"], world.member.token)
        await asyncio.wait_for(reader, 60)
        await ws.close()
    print(f"received {len(received)} of {FLOOD} events, then {ended}")
    return op, received, ended, log_path.read_text()


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
async def test_a_flooded_subscriber_selecting_comments_gets_every_event(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    _, received, ended, log = await _flooded(db, database_url, tmp_path)
    assert ended is None, ended
    assert len(set(received)) == FLOOD
    assert "Traceback" not in log, log


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
async def test_a_shared_execution_that_falls_behind_ends_with_a_coded_error(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    """With room for only 4 events, the shared execution (a read per event for the
    comments) falls behind the flood: the subscriber gets SUBSCRIBER_TOO_SLOW as the
    operation's error frame, not a ``complete``, and the server logs it."""
    env = {"PUNCHCLOCK_SHARED_SUBSCRIPTION_QUEUE": "4"}
    op, received, ended, log = await _flooded(db, database_url, tmp_path, env)
    assert len(received) < FLOOD
    assert ended is not None and ended["type"] == "error" and ended["id"] == op, ended
    [error] = ended["payload"]
    assert error["extensions"]["code"] == "SUBSCRIBER_TOO_SLOW", ended
    assert error["message"].startswith("More than 4 events waited unread; subscribe again")
    assert "fell more than 4 events behind: SUBSCRIBER_TOO_SLOW" in log, log
    assert "Traceback" not in log, log

"""Secrets: a token is printed once, at creation, and never again: not in any response,
not in the server's logs at debug level (every logger, SQL included); a revoked token
stops working on the next HTTP request and closes the open WebSockets that used it."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from store import tokens
from store.db import Database
from store.timeutil import utcnow
from tests.e2e.wsclient import GraphQLWS
from tests.factories import make_team
from tests.reliability.harness import server_process

pytestmark = pytest.mark.e2e

EVENTS = "subscription($team: ID!) { timerEvents(teamId: $team) { kind timeEntry { id } } }"
LOG = """mutation($input: LogTimeEntryInput!) { logTimeEntry(input: $input) {
  replayed userErrors { code message } timeEntry { id user { id email } } } }"""
EVERYTHING_LOGGED = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "stream": "ext://sys.stderr",
        }
    },
    "root": {"level": "DEBUG", "handlers": ["stderr"]},
    # SQL statements and their parameters too.
    "loggers": {"sqlalchemy.engine": {"level": "DEBUG"}},
}


def _secret(token: str) -> str:
    parsed = tokens.parse_token(token)
    assert parsed is not None
    return parsed[1]


@pytest.mark.parametrize("dialect", ["sqlite"])
async def test_tokens_appear_only_at_creation(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    world = await make_team(db, "Acme", prefix="a")
    created = subprocess.run(
        [sys.executable, "-m", "gql.cli", "token", "create", "--email", world.admin.email],
        env={**os.environ, "PUNCHCLOCK_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        check=True,
    )
    cli_token = created.stdout.strip()
    assert tokens.parse_token(cli_token), created.stdout  # printed once, in full
    everyone = [world.owner.token, world.admin.token, world.member.token, cli_token]
    revoked = world.member.token
    config = tmp_path / "logging.json"
    config.write_text(json.dumps(EVERYTHING_LOGGED))
    bodies: list[str] = []
    with server_process(database_url, tmp_path / "server.log", log_level="debug") as server:
        server.stop()  # again, with every logger at debug
        server.start(log_level="debug", args=["--log-config", str(config)])
        async with httpx.AsyncClient(base_url=server.base, timeout=10) as client:

            async def ask(
                token: str, query: str, variables: dict[str, object] | None = None
            ) -> None:
                for header in (f"Bearer {token}", f"bearer  {token}", token):
                    response = await client.post(
                        "/graphql",
                        json={"query": query, "variables": variables or {}},
                        headers={"authorization": header, "x-request-id": "secrets-test"},
                    )
                    bodies.append(response.text)
                response = await client.get(
                    "/graphql",
                    params={"query": query},
                    headers={"authorization": f"Bearer {token}"},
                )
                bodies.append(response.text)

            for token in everyone:
                await ask(token, "{ viewer { id email teams { id name } } }")
                await ask(token, "{ viewer { nope } }")  # validation error
                await ask(token, "{ viewer { id ")  # syntax error
                await ask(
                    token,
                    LOG,
                    {"input": {"teamId": world.id, "taskId": world.tasks["T-1"], "duration": "9"}},
                )  # a userError
                await ask(token, "query($d: DateTime) { viewer { id } }", {"d": "bad"})
                await ask(token[:-1] + "x", "{ viewer { id } }")  # a wrong secret
            # WebSockets: a good token, a wrong one.
            ws = await GraphQLWS.open(server.base, world.owner.token)
            await ws.acked()
            await ws.subscribe(EVENTS, {"team": world.id})
            await ws.close()
            bad = await GraphQLWS.open(server.base, world.owner.token[:-1] + "x")
            with pytest.raises(ConnectionClosed):  # refused: whatever it says first, then closed
                while True:
                    message = await bad.receive(timeout=15)
                    assert message["type"] != "connection_ack", message
            # Revoked, then used.
            prefix, _ = tokens.parse_token(revoked) or ("", "")
            async with db.write() as s:
                assert await tokens.revoke_token(s, prefix=prefix, at=utcnow())
                await s.commit()
            await ask(revoked, "{ viewer { id } }")
        server.stop()
    log = server.log()
    assert "DEBUG" in log and "SELECT" in log, "the server did not log at debug level"
    for token in everyone:
        assert _secret(token) not in log, "a token secret was logged"
        for body in bodies:
            assert _secret(token) not in body, f"a token came back in a response: {body}"
    print(f"{len(bodies)} responses and {len(log.splitlines())} debug log lines: no token")


@pytest.mark.parametrize("dialect", ["sqlite"])
async def test_a_revoked_token_stops_at_once_on_http_and_open_websockets(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    world = await make_team(db, "Acme", prefix="a")
    with server_process(database_url, tmp_path / "server.log") as server:
        idle = await GraphQLWS.open(server.base, world.member.token)
        await idle.acked()
        await idle.subscribe(EVENTS, {"team": world.id})
        other = await GraphQLWS.open(server.base, world.owner.token)
        await other.acked()
        await other.subscribe(EVENTS, {"team": world.id})
        headers = {"authorization": f"Bearer {world.member.token}"}
        async with httpx.AsyncClient(base_url=server.base, timeout=10) as client:
            before = await client.post(
                "/graphql", json={"query": "{ viewer { id } }"}, headers=headers
            )
            assert before.json()["data"]["viewer"]["id"] == world.member.id

            prefix, _ = tokens.parse_token(world.member.token) or ("", "")
            async with db.write() as s:
                assert await tokens.revoke_token(s, prefix=prefix, at=utcnow())
                await s.commit()
            revoked_at = time.monotonic()
            # HTTP: the very next request.
            after = await client.post(
                "/graphql", json={"query": "{ viewer { id } }"}, headers=headers
            )
            assert after.json()["data"] is None
            assert after.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        # WebSocket: closed with 4403 within the re-check period, with no event flowing.
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await idle.receive(timeout=8)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
        took = time.monotonic() - revoked_at
        assert took < 6.5, took
        # The other viewer's subscription goes on.
        await asyncio.sleep(0.1)
        await other.nothing_for(0.2)
        await other.close()
        print(f"revoked: HTTP refused on the next request, WebSocket closed after {took:.1f} s")


# The team from the variable's default, not from the variables sent: the shared fan-out
# path only plans documents whose team it can read up front, so this one runs on its own.
EVENTS_UNSHARED = 'subscription($team: ID! = "TEAM") { timerEvents(teamId: $team) { kind } }'


async def test_the_event_after_a_revocation_reaches_no_revoked_subscriber(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    """No 5 s grace: the first event after the revocation commits is withheld from every
    subscription of the token, shared or not, while other viewers still get it."""
    world = await make_team(db, "Acme", prefix="a")
    with server_process(database_url, tmp_path / "server.log") as server:
        shared = await GraphQLWS.open(server.base, world.member.token)
        await shared.acked()
        await shared.subscribe(EVENTS, {"team": world.id})
        alone = await GraphQLWS.open(server.base, world.member.token)
        await alone.acked()
        await alone.subscribe(EVENTS_UNSHARED.replace("TEAM", world.id))
        other = await GraphQLWS.open(server.base, world.owner.token)
        await other.acked()
        await other.subscribe(EVENTS, {"team": world.id})
        await asyncio.sleep(0.3)
        owner = {"authorization": f"Bearer {world.owner.token}"}
        entry = {
            "teamId": world.id,
            "taskId": world.tasks["T-1"],
            "workDate": "2025-03-10",
            "duration": "5m",
        }
        async with httpx.AsyncClient(base_url=server.base, timeout=10) as client:

            async def log() -> None:
                body = (
                    await client.post(
                        "/graphql",
                        json={"query": LOG, "variables": {"input": entry}},
                        headers=owner,
                    )
                ).json()
                assert body["data"]["logTimeEntry"]["userErrors"] == [], body

            await log()  # before: all three subscriptions receive it
            for ws in (shared, alone, other):
                assert (await ws.next_data())["timerEvents"]["kind"] == "LOGGED"
            prefix, _ = tokens.parse_token(world.member.token) or ("", "")
            async with db.write() as s:
                assert await tokens.revoke_token(s, prefix=prefix, at=utcnow())
                await s.commit()
            started = time.monotonic()
            await log()  # at once after the revocation
        assert (await other.next_data())["timerEvents"]["kind"] == "LOGGED"
        # The shared subscription's socket is closed (4403) instead of sent the event.
        with pytest.raises(ConnectionClosed) as closed:
            message = await shared.receive(timeout=3)
            raise AssertionError(f"a revoked subscriber received {message}")
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
        # The subscription of its own ends with UNAUTHENTICATED and no data.
        message = await alone.receive(timeout=3)
        assert message["type"] in ("error", "next"), message
        errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
        assert [e["extensions"]["code"] for e in errors] == ["UNAUTHENTICATED"], message
        assert message["type"] == "error" or message["payload"].get("data") is None, message
        took = time.monotonic() - started
        assert took < 3, took
        await other.close()
        print(f"revoked: the next event withheld from both subscriptions ({took:.2f} s)")


RUNNING = "subscription($team: ID!) { runningTimers(teamId: $team) { id } }"


async def test_a_revoked_token_cannot_join_a_running_list(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    """A runningTimers group hands a new member its last list at once: a socket whose
    token was revoked after it connected gets no list, only a 4403 close."""
    world = await make_team(db, "Acme", prefix="a")
    with server_process(database_url, tmp_path / "server.log") as server:
        other = await GraphQLWS.open(server.base, world.owner.token)
        await other.acked()
        await other.subscribe(RUNNING, {"team": world.id})
        assert (await other.next_data())["runningTimers"] == []  # the group has a list
        late = await GraphQLWS.open(server.base, world.member.token)
        await late.acked()
        prefix, _ = tokens.parse_token(world.member.token) or ("", "")
        async with db.write() as s:
            assert await tokens.revoke_token(s, prefix=prefix, at=utcnow())
            await s.commit()
        await late.subscribe(RUNNING, {"team": world.id})
        with pytest.raises(ConnectionClosed) as closed:
            message = await late.receive(timeout=3)
            raise AssertionError(f"a revoked subscriber received {message}")
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
        await other.close()

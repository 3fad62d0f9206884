"""Webhooks from two real server instances on PostgreSQL, to a real receiver on 127.0.0.1:

* under a stream of mutations on both instances, every webhook gets every event of its
  team, in order, and no event twice;
* ``kill -9`` of the instance that is delivering loses nothing: the other instance
  resumes once the dead one's lease runs out, and the restarted one delivers too. The
  event in flight at the kill may arrive twice (at least once); nothing else does.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from store.db import Database
from tests.e2e.test_durable_events import _log, _post
from tests.factories import TeamWorld, make_team
from tests.reliability.harness import ServerProcess
from tests.webhook_receiver import Receiver, receiver, verify

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

CREATE = """mutation($input: CreateWebhookInput!) { createWebhook(input: $input) {
  secret userErrors { code } webhook { id } } }"""
ENV = {
    "PUNCHCLOCK_WEBHOOKS_ALLOW_PRIVATE": "true",
    "PUNCHCLOCK_WEBHOOKS_POLL_SECONDS": "0.05",
    "PUNCHCLOCK_WEBHOOKS_TIMEOUT_SECONDS": "1",  # a lease of 3 * 1 + 5 = 8 s
    "PUNCHCLOCK_WEBHOOKS_RETRY_BASE_SECONDS": "0.1",
    "PUNCHCLOCK_WEBHOOKS_RETRY_MAX_SECONDS": "0.5",
    "PUNCHCLOCK_WEBHOOKS_CONCURRENCY": "2",  # so that each instance has work left to share
}


async def _hook(client: httpx.AsyncClient, world: TeamWorld, url: str) -> tuple[str, str]:
    body = await _post(
        client,
        CREATE,
        {"input": {"teamId": world.id, "url": url, "kinds": ["LOGGED"]}},
        world.owner.token,
    )
    made = body["data"]["createWebhook"]
    assert made["userErrors"] == []
    return made["webhook"]["id"], made["secret"]


def _by_hook(rx: Receiver) -> dict[str, list[str]]:
    """The subject ids each webhook received (answered 2xx), in arrival order."""
    got: dict[str, list[str]] = defaultdict(list)
    for r in rx.ok():
        got[r.headers["Punchclock-Webhook-Id"]].append(r.event["subjectId"])
    return got


async def _until(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


def _servers(url: str, tmp_path: Path) -> list[ServerProcess]:
    return [ServerProcess(url, tmp_path / f"server{i}.log", env=ENV) for i in range(2)]


async def test_two_instances_never_deliver_an_event_twice(
    postgres_clean_url: str, tmp_path: Path
) -> None:
    db = Database(postgres_clean_url)
    worlds = [await make_team(db, f"Team {i}", prefix=f"t{i}") for i in range(3)]
    await db.dispose()
    servers = _servers(postgres_clean_url, tmp_path)
    for server in servers:
        server.start()
    clients = [httpx.AsyncClient(base_url=s.base, timeout=30) for s in servers]
    try:
        with receiver() as rx:
            hooks: dict[str, tuple[TeamWorld, str]] = {}
            for i, world in enumerate(worlds):
                for j in range(2):  # two webhooks per team, made on either instance
                    hook_id, secret = await _hook(clients[(i + j) % 2], world, rx.url)
                    hooks[hook_id] = (world, secret)

            async def writer(world: TeamWorld, offset: int) -> list[str]:
                return [await _log(clients[(n + offset) % 2], world, n) for n in range(20)]

            owners: set[int] = set()
            watching = asyncio.create_task(_watch_owners(postgres_clean_url, owners))
            written = await asyncio.gather(*(writer(w, i) for i, w in enumerate(worlds)))
            expected = {
                hook_id: written[worlds.index(world)] for hook_id, (world, _) in hooks.items()
            }
            total = sum(len(v) for v in expected.values())
            await _until(
                lambda: sum(len(v) for v in _by_hook(rx).values()) >= total,
                60,
                "not every delivery arrived",
            )
            await asyncio.sleep(1)  # a late duplicate would arrive by now
            watching.cancel()
            assert owners == {s.pid for s in servers}  # both instances delivered
            got = _by_hook(rx)
            assert got == expected  # each event once, in commit order, per webhook
            assert len(rx.received) == total  # no attempt beyond them (nothing failed)
            for r in rx.received:
                secret = hooks[r.headers["Punchclock-Webhook-Id"]][1]
                assert verify(secret, r.headers["Punchclock-Signature"], r.body)
    finally:
        for client in clients:
            await client.aclose()
        for server in servers:
            server.stop()


async def _watch_owners(url: str, owners: set[int]) -> None:
    """Collect the pids of the processes seen holding a lease."""
    conn = await asyncpg.connect(url)
    try:
        while True:
            for (owner,) in await conn.fetch("SELECT lease_owner FROM webhooks"):
                if owner:
                    owners.add(int(owner.split(":")[1]))
            await asyncio.sleep(0.01)
    finally:
        await conn.close()


async def _lease_owner_pid(url: str, hook_id: str) -> int | None:
    conn = await asyncpg.connect(url)
    try:
        owner = await conn.fetchval("SELECT lease_owner FROM webhooks WHERE id = $1", hook_id)
    finally:
        await conn.close()
    return int(owner.split(":")[1]) if owner else None


async def test_kill_9_of_the_delivering_instance_loses_no_delivery(
    postgres_clean_url: str, tmp_path: Path
) -> None:
    db = Database(postgres_clean_url)
    world = await make_team(db, "Acme", prefix="a")
    await db.dispose()
    servers = _servers(postgres_clean_url, tmp_path)
    for server in servers:
        server.start()
    clients = [httpx.AsyncClient(base_url=s.base, timeout=30) for s in servers]
    try:
        with receiver() as rx:
            hook_id, secret = await _hook(clients[0], world, rx.url)
            written = [await _log(clients[n % 2], world, n) for n in range(5)]
            await _until(lambda: len(rx.ok()) >= 5, 30, "the first events did not arrive")
            rx.hold.clear()  # from now on the receiver keeps each request waiting
            rx.in_flight.clear()
            written.append(await _log(clients[0], world, 5))
            await _until(rx.in_flight.is_set, 30, "no delivery in flight")
            pid = await _lease_owner_pid(postgres_clean_url, hook_id)
            victim = next(s for s in servers if s.pid == pid)
            survivor = next(s for s in servers if s is not victim)
            in_flight = rx.received[-1].event["subjectId"]
            assert in_flight == written[5]
            victim.kill()  # kill -9 while its POST waits for an answer
            rx.hold.set()
            survivor_client = clients[servers.index(survivor)]
            for n in range(6, 12):
                written.append(await _log(survivor_client, world, n))
            # The survivor takes over once the dead one's lease (8 s) runs out.
            await _until(
                lambda: set(_by_hook(rx)[hook_id]) >= set(written), 60, "deliveries were lost"
            )
            victim.start()  # restarted, it shares the rest of the work
            for n in range(12, 16):
                written.append(await _log(clients[servers.index(victim)], world, n))
            await _until(
                lambda: set(_by_hook(rx)[hook_id]) >= set(written), 60, "deliveries were lost"
            )
            await asyncio.sleep(1)
            got = _by_hook(rx)[hook_id]
            first_seen = list(dict.fromkeys(got))
            assert first_seen == written  # every event, in order
            duplicates = [s for s in got if got.count(s) > 1]
            assert set(duplicates) <= {in_flight}  # at most the one in flight at the kill
            assert len(got) - len(written) <= 1
            for r in rx.ok():
                assert verify(secret, r.headers["Punchclock-Signature"], r.body)
    finally:
        for client in clients:
            await client.aclose()
        for server in servers:
            server.stop()

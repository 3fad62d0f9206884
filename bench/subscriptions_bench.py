"""Fan-out latency of timerEvents: N WebSocket subscribers on one server process.

    python bench/subscriptions_bench.py [--subscribers 2000] [--rounds 20]

Starts one uvicorn process (SQLite, memory:// broadcast), opens N graphql-transport-ws
subscribers of one team, then a client runs stopTimer/startTimer in a loop. For every
event it records, per subscriber, the delay from the mutation's HTTP response to the
subscriber's receipt. Prints p50/p99/max and the server's resident memory per subscriber.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.server import running_server
from tests.factories import make_team

from store.db import Database
from store.models import metadata

SUBSCRIPTION = "subscription($t: ID!) { timerEvents(teamId: $t) { kind timeEntry { id } } }"
START = """mutation($i: StartTimerInput!) {
  startTimer(input: $i) { timeEntry { id } userErrors { code } } }"""
STOP = "mutation { stopTimer(input: {}) { timeEntry { id } userErrors { code } } }"


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def subscriber(
    url: str,
    token: str,
    team: str,
    ready: asyncio.Event,
    arrivals: dict[str, list[float]],
    counter: list[int],
    total: int,
) -> None:
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"], max_queue=None) as ws:  # type: ignore[list-item]
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
        )
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": SUBSCRIPTION, "variables": {"t": team}},
                }
            )
        )
        counter[0] += 1
        if counter[0] == total:
            ready.set()
        async for raw in ws:
            now = time.perf_counter()
            message = json.loads(raw)
            if message.get("type") == "ping":
                await ws.send(json.dumps({"type": "pong"}))
            elif message.get("type") == "next":
                event = message["payload"]["data"]["timerEvents"]
                arrivals.setdefault(f"{event['kind']}:{event['timeEntry']['id']}", []).append(now)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subscribers", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="pc-bench-"))
    url = f"sqlite:///{workdir / 'bench.db'}"
    db = Database(url)
    async with db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    world = await make_team(db, "Bench", prefix="bench")
    await db.dispose()

    with running_server(url, env={"PUNCHCLOCK_LOG_LEVEL": "warning"}) as base:
        ws_url = base.replace("http://", "ws://") + "/graphql"
        idle = rss_kb(base.pid)
        ready, arrivals, counter = asyncio.Event(), {}, [0]
        tasks = []
        for n in range(args.subscribers):
            tasks.append(
                asyncio.create_task(
                    subscriber(
                        ws_url,
                        world.owner.token,
                        world.id,
                        ready,
                        arrivals,
                        counter,
                        args.subscribers,
                    )
                )
            )
            if n % 100 == 99:
                await asyncio.sleep(0.05)
        await asyncio.wait_for(ready.wait(), 300)
        await asyncio.sleep(1)
        loaded = rss_kb(base.pid)
        sent: dict[str, float] = {}
        async with httpx.AsyncClient(
            base_url=base, headers={"authorization": f"Bearer {world.member.token}"}
        ) as client:
            for round_ in range(args.rounds):
                body = (
                    await client.post(
                        "/graphql",
                        json={
                            "query": START,
                            "variables": {"i": {"teamId": world.id, "taskId": world.tasks["T-1"]}},
                        },
                    )
                ).json()
                entry = body["data"]["startTimer"]["timeEntry"]["id"]
                sent[f"STARTED:{entry}"] = time.perf_counter()
                await asyncio.sleep(0.5)
                await client.post("/graphql", json={"query": STOP})
                sent[f"STOPPED:{entry}"] = time.perf_counter()
                await asyncio.sleep(0.5)
                print(f"round {round_ + 1}/{args.rounds}", file=sys.stderr, end="\r")
        await asyncio.sleep(3)
        delays = [
            (t - sent[key]) * 1000 for key, times in arrivals.items() if key in sent for t in times
        ]
        expected = len(sent) * args.subscribers
        for t in tasks:
            t.cancel()
    delays.sort()
    p = lambda q: delays[min(len(delays) - 1, int(q * len(delays)))]  # noqa: E731
    print(
        f"subscribers: {args.subscribers}, events: {len(sent)}, "
        f"deliveries: {len(delays)}/{expected}"
    )
    print(
        f"delay ms: p50 {p(0.50):.1f}  p99 {p(0.99):.1f}  max {delays[-1]:.1f}  "
        f"mean {statistics.fmean(delays):.1f}"
    )
    print(
        f"server RSS: idle {idle / 1024:.1f} MB, with subscribers {loaded / 1024:.1f} MB, "
        f"per subscriber {(loaded - idle) / args.subscribers:.1f} KB"
    )
    os.environ.pop("PUNCHCLOCK_LOG_LEVEL", None)


if __name__ == "__main__":
    asyncio.run(main())

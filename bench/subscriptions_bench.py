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
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.typing import Subprotocol
from websockets.uri import WebSocketURI, parse_uri

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


class Subscriber(asyncio.Protocol):
    """One graphql-transport-ws subscriber on websockets' sans-I/O protocol.

    Receipt is stamped when the bytes reach this subscriber's socket and the frames are
    decoded after the run. With websockets' asyncio client, 2,000 subscribers in one process
    spent ~150 ms of CPU per event decoding each other's frames (py-spy), so the last
    subscriber's "receipt" measured the load generator's queue, not the server.
    """

    def __init__(self, uri: WebSocketURI, token: str, team: str) -> None:
        self.ws = ClientProtocol(uri, subprotocols=[Subprotocol("graphql-transport-ws")])
        self.token, self.team = token, team
        self.subscribed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.received: list[tuple[float, bytes]] = []
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.ws.send_request(self.ws.connect())
        self._flush()

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        self.ws.receive_data(data)
        for event in self.ws.events_received():
            if isinstance(event, Response):
                if event.status_code != 101:
                    self._fail(f"handshake refused: {event.status_code}")
                    return
                self._send(
                    {
                        "type": "connection_init",
                        "payload": {"authorization": f"Bearer {self.token}"},
                    }
                )
            elif isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                if self.subscribed.done():
                    self.received.append((now, event.data))
                    if b'"type":"ping"' in event.data:
                        self._send({"type": "pong"})
                elif json.loads(event.data).get("type") == "connection_ack":
                    self._send(
                        {
                            "id": "1",
                            "type": "subscribe",
                            "payload": {"query": SUBSCRIPTION, "variables": {"t": self.team}},
                        }
                    )
                    self.subscribed.set_result(None)
                else:
                    self._fail(f"not acknowledged: {event.data!r}")
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(f"connection lost: {exc!r}")

    def arrivals(self) -> list[tuple[str, float]]:
        """(kind:entry id, receipt time) of every event this subscriber received."""
        found = []
        for at, data in self.received:
            message = json.loads(data)
            if message.get("type") == "next":
                event = message["payload"]["data"]["timerEvents"]
                found.append((f"{event['kind']}:{event['timeEntry']['id']}", at))
        return found

    def _send(self, message: dict[str, object]) -> None:
        self.ws.send_text(json.dumps(message).encode())

    def _flush(self) -> None:
        if self.transport is not None:
            for chunk in self.ws.data_to_send():
                if chunk:
                    self.transport.write(chunk)

    def _fail(self, reason: str) -> None:
        if not self.subscribed.done():
            self.subscribed.set_exception(RuntimeError(reason))


async def subscribe(url: str, token: str, team: str) -> Subscriber:
    uri = parse_uri(url)
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(
        lambda: Subscriber(uri, token, team), uri.host, uri.port
    )
    await asyncio.wait_for(protocol.subscribed, 30)
    return protocol


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
        subscribers: list[Subscriber] = []
        for start in range(0, args.subscribers, 100):
            batch = range(start, min(start + 100, args.subscribers))
            subscribers += await asyncio.gather(
                *(subscribe(ws_url, world.owner.token, world.id) for _ in batch)
            )
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
        by_event: dict[str, list[float]] = {key: [] for key in sent}
        for sub in subscribers:
            for key, at in sub.arrivals():
                if key in by_event:
                    by_event[key].append((at - sent[key]) * 1000)
        delays = [d for ds in by_event.values() for d in ds]
        expected = len(sent) * args.subscribers
        for sub in subscribers:
            if sub.transport is not None:
                sub.transport.close()
    delays.sort()
    # Per event, in the order they were sent: a slow event shows as a whole row.
    for n, (key, ds) in enumerate(sorted(by_event.items(), key=lambda kv: sent[kv[0]])):
        ds.sort()
        print(
            f"event {n + 1:>3} {key.split(':')[0]:<7} first {ds[0]:6.1f}  "
            f"median {ds[len(ds) // 2]:6.1f}  last {ds[-1]:6.1f} ms"
        )
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

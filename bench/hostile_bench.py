"""Hostile documents against a real server: how fast each is refused, and what a
concurrent simple query sees meanwhile (issue 17).

    python bench/hostile_bench.py [--seconds 10] [--clients 8] [--database-url URL]

1. Refusal: each document of ``tests/hostile.py`` is sent ``--repeat`` times, one at a
   time, every copy made unique by a comment so no cache (parse, measure, validation)
   answers it: client-side round trip, median and maximum.
2. Under load: ``--clients`` clients (in a process of their own) send those documents
   (unique copies, round robin) as fast as they are answered, for ``--seconds``, while
   one probe sends ``{ viewer { id } }`` every 20 ms: the probe's latency, p50, p99 and
   maximum, and the same probe without the hostile clients as the baseline.
3. In process: Strawberry's ``QueryDepthLimiter`` and ``MaxAliasesLimiter`` rules on
   the fragment bomb of n fragments, next to :mod:`gql.guard.limits` (why the latter is kept).

The load generator runs on the same cores as the server, so every figure includes its
own cost.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from graphql import parse, validate

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.factories import make_team
from tests.hostile import HOSTILE, fragment_bomb
from tests.reliability.harness import server_process

from store.db import Database
from store.migrate import upgrade

PROBE = {"query": "{ viewer { id } }"}


def unique(document: str, n: int) -> str:
    return f"# copy {n}\n{document}"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def refusals(client: httpx.AsyncClient, headers: dict[str, str], repeat: int) -> None:
    print(f"\n1. Refusal of each hostile document ({repeat} unique copies, one at a time)")
    print("| document | bytes | code | median | max |\n| --- | --- | --- | --- | --- |")
    counter = 0
    for name, make in HOSTILE.items():
        document = make()
        times, codes = [], set()
        for _ in range(repeat):
            counter += 1
            started = time.perf_counter()
            response = await client.post(
                "/graphql", json={"query": unique(document, counter)}, headers=headers
            )
            times.append(time.perf_counter() - started)
            codes.update(e["extensions"]["code"] for e in response.json()["errors"])
        print(
            f"| {name} | {len(document)} | {', '.join(sorted(codes))} | "
            f"{ms(statistics.median(times))} | {ms(max(times))} |"
        )


async def probe_latencies(
    client: httpx.AsyncClient, headers: dict[str, str], seconds: float
) -> list[float]:
    latencies = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        response = await client.post("/graphql", json=PROBE, headers=headers)
        latencies.append(time.perf_counter() - started)
        assert "errors" not in response.json(), response.text
        await asyncio.sleep(0.02)
    return latencies


async def hostile_clients(
    base: str, token: str, clients: int, seconds: float, control: bool = False
) -> None:
    """The hostile load, in a process of its own (``--hostile``) so that the probe's
    figures are the server's, not this loop's: prints how many requests it sent.
    ``control``: the same clients send ``{ __typename }`` instead (the cheapest valid
    query), to tell the hostile documents' cost from that of any request."""
    documents = [make() for make in HOSTILE.values()]
    if control:
        documents = ["{ __typename }"]
    headers = {"authorization": f"Bearer {token}"}
    deadline = time.monotonic() + seconds
    sent = 0

    async def hostile(worker: int) -> None:
        nonlocal sent
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            n = worker
            while time.monotonic() < deadline:
                document = documents[n % len(documents)]
                response = await client.post(
                    "/graphql", json={"query": unique(document, 1_000_000 + n)}, headers=headers
                )
                body = response.json()
                assert control or body["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"
                sent += 1
                n += clients

    await asyncio.gather(*(hostile(w) for w in range(clients)))
    print(sent)


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def loaded_probe(
    base: str, pid: int, token: str, clients: int, seconds: float, *, control: bool
) -> tuple[list[float], float, float]:
    """The probe's latencies while the load runs; (latencies, load requests/s, server CPU)."""
    headers = {"authorization": f"Bearer {token}"}
    load = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--hostile",
        base,
        token,
        "--clients",
        str(clients),
        "--seconds",
        str(seconds + 1),
        *(["--control"] if control else []),
        stdout=asyncio.subprocess.PIPE,
    )
    async with httpx.AsyncClient(base_url=base, timeout=30) as probe:
        await asyncio.sleep(0.5)
        cpu, started = cpu_seconds(pid), time.monotonic()
        latencies = await probe_latencies(probe, headers, seconds)
        busy = (cpu_seconds(pid) - cpu) / (time.monotonic() - started)
    out, _ = await load.communicate()
    return latencies, int(out.decode().strip() or 0) / (seconds + 1), busy


async def under_load(base: str, pid: int, token: str, clients: int, seconds: float) -> None:
    headers = {"authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, timeout=30) as probe:
        baseline = await probe_latencies(probe, headers, min(seconds, 5))
    rows = [("none", baseline, "-", "-")]
    for label, control in (
        (f"{clients} clients, hostile", False),
        (f"{clients} clients, `{{ __typename }}`", True),
    ):
        latencies, rate, busy = await loaded_probe(
            base, pid, token, clients, seconds, control=control
        )
        rows.append((label, latencies, f"{rate:.0f}", f"{busy:.0%}"))
    print(f"\n2. `{PROBE['query']}` every 20 ms, alone and with {clients} clients")
    print("| load | probes | p50 | p99 | max | load requests/s | server CPU |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for label, values, rate, busy in rows:
        print(
            f"| {label} | {len(values)} | {ms(percentile(values, 0.5))} | "
            f"{ms(percentile(values, 0.99))} | {ms(max(values))} | {rate} | {busy} |"
        )


def in_process() -> None:
    # Imported here: the schema's objects would make this client's own full garbage
    # collections (tens of ms) land in the round trips measured above.
    from strawberry.extensions.max_aliases import create_validator as aliases_rule
    from strawberry.extensions.query_depth_limiter import create_validator as depth_rule

    from gql.guard.limits import measure
    from gql.schema.build import schema

    graphql_schema = schema._schema
    rules = {
        "QueryDepthLimiter(10)": depth_rule(10, None),
        "MaxAliasesLimiter(30)": aliases_rule(30),
    }
    print("\n3. The fragment bomb of n fragments, in process (CPU time)")
    print("| n | gql.guard.limits.measure | " + " | ".join(rules) + " |")
    print("| --- | --- |" + " --- |" * len(rules))
    for n in (10, 14, 16, 18):
        document = parse(fragment_bomb(n))
        started = time.process_time()
        measure(graphql_schema, document, None, {})
        row = [ms(time.process_time() - started)]
        for rule in rules.values():
            started = time.process_time()
            validate(graphql_schema, document, [rule])
            row.append(ms(time.process_time() - started))
        print(f"| {n} | " + " | ".join(row) + " |")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--hostile", nargs=2, metavar=("BASE", "TOKEN"), help=argparse.SUPPRESS)
    parser.add_argument("--control", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.hostile:
        os.nice(10)  # the load yields the cores to the server and the probe it measures
        await hostile_clients(*args.hostile, args.clients, args.seconds, args.control)
        return
    workdir = Path(tempfile.mkdtemp(prefix="pc-hostile-"))
    url = args.database_url or f"sqlite:///{workdir / 'bench.db'}"
    await upgrade(url)
    db = Database(url)
    world = await make_team(db, "Bench", prefix="h")
    await db.dispose()
    headers = {"authorization": f"Bearer {world.owner.token}"}
    gc.collect()
    gc.freeze()  # what this client holds so far is not collected again while it measures
    with server_process(url, workdir / "server.log") as server:
        async with httpx.AsyncClient(base_url=server.base, timeout=30) as client:
            await client.post("/graphql", json=PROBE, headers=headers)  # warm up
            await refusals(client, headers, args.repeat)
        await under_load(server.base, server.pid, world.owner.token, args.clients, args.seconds)
    in_process()
    log = (workdir / "server.log").read_text()
    print("\nserver log:", "no traceback" if "Traceback" not in log else "TRACEBACKS (see log)")


if __name__ == "__main__":
    asyncio.run(main())

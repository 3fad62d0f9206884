"""Throughput of the GraphQL API against a hand-written baseline, under load.

    python bench/api_bench.py list  [--dialect sqlite|postgresql|both] [--runs 5] [--keep]
    python bench/api_bench.py write [--dialect sqlite|postgresql|both] [--runs 5] [--keep]

Seeds 1,000,000 entries (10 teams of 20 members, 1,000 tasks and 50 categories each: 200
users, 10,000 tasks, 500 categories) through the migrations and ``bench/seeding.py``, then
starts two real uvicorn processes of one worker each on that database:

- the server: ``gql.server.app:create_app`` exactly as ``punchclock serve`` runs it;
- the baseline: ``bench/baseline_app.py``, one hand-written statement per request and
  orjson (plus one statement for the token and membership check).

``wrk`` (Debian's ``wrk`` package: a C load generator, so the client's own cost stays small
on a 2-core box) drives each with 16 keep-alive connections from one thread, alternately,
``--runs`` times for ``--duration`` seconds after a warm-up; the medians and their ratio
are printed.

- ``list``: ``timeEntries(filter: {teamId}, first: 100) { nodes { id startedAt stoppedAt
  durationSeconds billable description user { id nickname } task { id title category {
  id title } } } }``; the baseline answers the same JSON (checked before timing).
- ``write``: ``logTimeEntry`` with a fresh ``idempotencyKey`` per request (20 minutes on a
  task); the baseline inserts the same row directly.

``--keep`` keeps the seeded database (SQLite under the temp directory, PostgreSQL database
``punchclock_api_bench``) with a note of its ids, and reuses it on the next ``--keep`` run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.seeding import (
    drop_pg_database,
    entry_rows,
    recreate_pg_database,
    seed_postgres,
    seed_sqlite,
    seed_tags,
    setup_teams,
)

from store.db import Database
from store.migrate import upgrade

ROOT = Path(__file__).resolve().parents[1]
PG_NAME = "punchclock_api_bench"
SQLITE_DIR = Path(tempfile.gettempdir()) / "punchclock-api-bench"
LIST_QUERY = (
    "query($teamId: ID!) { timeEntries(filter: {teamId: $teamId}, first: 100) { nodes { "
    "id startedAt stoppedAt durationSeconds billable description user { id nickname } "
    "task { id title category { id title } } } } }"
)
WRITE_QUERY = (
    "mutation($i: LogTimeEntryInput!) { logTimeEntry(input: $i) { "
    "timeEntry { id } replayed userErrors { code field message } } }"
)
# One thread of wrk, 16 connections; a fresh idempotency key per request for writes.
LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(token)s"
local template = %(template)s
local run = "x"
local counter = 0
function init(args)
  run = args[1] or "x"
end
function request()
  counter = counter + 1
  return wrk.format(nil, nil, nil, string.format(template, run .. "-" .. counter))
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def require_wrk() -> str:
    found = shutil.which("wrk")
    if found is None:
        sys.exit(
            "wrk is not installed: `apt-get install wrk` (Debian). It is a C load generator; "
            "a Python client would spend most of the two cores on itself."
        )
    return found


async def seed(
    dialect: str,
    entries: int,
    keep: bool,
    *,
    pg_name: str = PG_NAME,
    directory: Path = SQLITE_DIR,
) -> dict[str, Any]:
    """The benchmark database (reused from a previous ``--keep`` run when there is one):
    PostgreSQL database ``pg_name``, or ``bench.db`` in ``directory``, where the note of its
    ids is kept too. ``bench/peer_bench.py`` seeds its own under other names."""
    directory.mkdir(exist_ok=True)
    note = directory / f"{dialect}.json"
    if keep and note.exists():
        state: dict[str, Any] = json.loads(note.read_text())
        if state["entries"] == entries and state.get("tags"):  # seeded before tags: again
            print(f"reusing the {dialect} database seeded earlier ({state['url']})")
            await upgrade(state["url"])  # its schema as the code's: newer migrations too
            return state
    if dialect == "sqlite":
        path = directory / "bench.db"
        for p in directory.glob("bench.db*"):
            p.unlink()
        url = f"sqlite:///{path}"
    else:
        url = await recreate_pg_database(pg_name)
    await upgrade(url)
    db = Database(url)
    teams, token = await setup_teams(db, max(1, entries // 100_000), tasks=1000, categories=50)
    await db.dispose()
    began = time.perf_counter()
    rows = entry_rows(teams, entries)
    if dialect == "sqlite":
        seed_sqlite(path, rows)
    else:
        await seed_postgres(url, rows)
    await seed_tags(url, dialect, teams)
    print(f"seeded {entries:,} entries in {time.perf_counter() - began:.0f} s ({dialect})")
    state = {
        "url": url,
        "entries": entries,
        "team": teams[0]["id"],
        "task": teams[0]["tasks"][0],
        "token": token,
        "tags": True,
    }
    note.write_text(json.dumps(state))
    return state


def launch(
    command: list[str], env: dict[str, str], port: int, log: Path, *, cwd: Path = ROOT
) -> subprocess.Popen[bytes]:
    """Start ``command`` (a server listening on ``port``) in a session of its own, and wait
    until it accepts connections."""
    # The log takes the servers' complaints about wrk closing connections mid-request at
    # the end of each run.
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env={**os.environ, **env},
            start_new_session=True,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    for _ in range(600):
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            return process
        except httpx.TransportError:
            if process.poll() is not None:
                break
            time.sleep(0.1)
    stop(process)
    raise SystemExit(f"{command[0]} did not start; its log: {log}")


def start(args: list[str], env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    """One uvicorn process of ``args`` (an ASGI app) on ``port``."""
    uvicorn = [sys.executable, "-m", "uvicorn", *args]
    return launch([*uvicorn, "--port", str(port), "--log-level", "warning"], env, port, log)


def stop(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:  # it ended already
        return
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def bodies(kind: str, state: dict[str, Any]) -> tuple[str, str]:
    """Lua string templates (``%s`` = a unique key) of the API's and the baseline's body."""
    if kind == "list":
        variables = {"teamId": state["team"]}
        api = {"query": LIST_QUERY, "variables": variables}
        return json.dumps(json.dumps(api)), json.dumps(json.dumps({"variables": variables}))
    entry = {
        "teamId": state["team"],
        "taskId": state["task"],
        "startedAt": "2026-01-05T09:00:00Z",
        "durationSeconds": 1200,
        "description": "bench",
        "idempotencyKey": "KEY",
    }
    api = {"query": WRITE_QUERY, "variables": {"i": entry}}
    return (
        json.dumps(json.dumps(api).replace("KEY", "%s")),
        json.dumps(json.dumps({"variables": entry}).replace("KEY", "%s")),
    )


def check(kind: str, api_url: str, base_url: str, state: dict[str, Any]) -> None:
    """Both answer, without errors, and (for list) the same nodes."""
    headers = {"authorization": f"Bearer {state['token']}", "content-type": "application/json"}
    api_body, base_body = (json.loads(b).replace("%s", "check") for b in bodies(kind, state))
    a = httpx.post(api_url, content=api_body, headers=headers, timeout=30).json()
    b = httpx.post(base_url, content=base_body, headers=headers, timeout=30).json()
    assert "errors" not in a and "errors" not in b, (a, b)
    if kind == "list":
        left, right = a["data"]["timeEntries"]["nodes"], b["data"]["timeEntries"]["nodes"]
        for node in (*left, *right):
            if node["stoppedAt"] is None:  # running: moves with the clock
                node["durationSeconds"] = None
        assert left == right, "the baseline answers other data than the API"
    else:
        assert a["data"]["logTimeEntry"]["userErrors"] == [], a


def wrk(
    binary: str,
    url: str,
    script: Path,
    seconds: int,
    connections: int,
    run: str,
    *extra: str,
    threads: int = 1,
) -> float:
    """Requests per second of one ``wrk`` run; ``run`` and ``extra`` go to the script's
    ``init(args)``. Any non-2xx answer or socket error ends the benchmark."""
    out = subprocess.run(
        [
            binary,
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "60s",
            "-s",
            str(script),
            url,
            "--",
            run,
            *extra,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if bad or "Socket errors" in out:
        raise SystemExit(f"wrk saw failures:\n{out}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert match, out
    return float(match.group(1))


async def bench(kind: str, dialect: str, args: argparse.Namespace, binary: str) -> None:
    state = await seed(dialect, args.entries, args.keep)
    work = Path(tempfile.mkdtemp(prefix="pc-api-bench-"))
    api_port, base_port = free_port(), free_port()
    api_proc = start(
        ["gql.server.app:create_app", "--factory", "--no-access-log"],
        {"PUNCHCLOCK_DATABASE_URL": state["url"], "PUNCHCLOCK_LOG_LEVEL": "warning"},
        api_port,
        work / "api.log",
    )
    base_proc = start(
        ["bench.baseline_app:app", "--no-access-log"],
        {"PUNCHCLOCK_BENCH_DATABASE_URL": state["url"]},
        base_port,
        work / "baseline.log",
    )
    try:
        api_url = f"http://127.0.0.1:{api_port}/graphql"
        base_url = f"http://127.0.0.1:{base_port}/{kind}"
        check(kind, api_url, base_url, state)
        api_body, base_body = bodies(kind, state)
        scripts = {}
        for name, template in (("api", api_body), ("base", base_body)):
            scripts[name] = work / f"{name}.lua"
            scripts[name].write_text(LUA % {"token": state["token"], "template": template})
        stamp = str(int(time.time()))
        for name, url in (("api", api_url), ("base", base_url)):
            wrk(binary, url, scripts[name], args.warmup, args.connections, f"{stamp}-warm")
        api_rates: list[float] = []
        base_rates: list[float] = []
        for run in range(args.runs):
            api_rates.append(
                wrk(
                    binary,
                    api_url,
                    scripts["api"],
                    args.duration,
                    args.connections,
                    f"{stamp}-{run}",
                )
            )
            base_rates.append(
                wrk(
                    binary,
                    base_url,
                    scripts["base"],
                    args.duration,
                    args.connections,
                    f"{stamp}-{run}",
                )
            )
            print(
                f"  run {run + 1}: API {api_rates[-1]:8.1f} req/s   baseline "
                f"{base_rates[-1]:8.1f} req/s   ratio {api_rates[-1] / base_rates[-1]:.3f}",
                flush=True,
            )
        api_med, base_med = statistics.median(api_rates), statistics.median(base_rates)
        ratios = [a / b for a, b in zip(api_rates, base_rates, strict=True)]
        print(
            f"{kind} on {dialect}, median of {args.runs} runs of {args.duration} s, "
            f"{args.connections} connections:\n"
            f"  API      {api_med:8.1f} req/s\n"
            f"  baseline {base_med:8.1f} req/s\n"
            f"  ratio    {api_med / base_med:8.3f} (median of per-run ratios "
            f"{statistics.median(ratios):.3f})",
            flush=True,
        )
    finally:
        stop(api_proc)
        stop(base_proc)
        shutil.rmtree(work)
        if not args.keep:
            if dialect == "postgresql":
                await drop_pg_database(PG_NAME)
            else:
                shutil.rmtree(SQLITE_DIR, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("kind", choices=("list", "write"))
    parser.add_argument("--dialect", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--duration", type=int, default=10, help="seconds per run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--warmup",
        type=int,
        default=5,
        help="seconds of load on each server before timing (fills every pooled connection's "
        "caches: SQLite's page cache, asyncpg's prepared statements)",
    )
    parser.add_argument("--keep", action="store_true", help="keep (and reuse) the database")
    args = parser.parse_args()
    binary = require_wrk()
    dialects = ("sqlite", "postgresql") if args.dialect == "both" else (args.dialect,)
    for dialect in dialects:
        asyncio.run(bench(args.kind, dialect, args, binary))


if __name__ == "__main__":
    main()

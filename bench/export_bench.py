"""The CSV export of a million entries: the server's memory while it streams them.

    python bench/export_bench.py [--dialect postgresql|sqlite] [--entries 1000000]
                                 [--batch 1000] [--keep]

Creates a fresh database (PostgreSQL: ``punchclock_export_bench``, dropped at the end
unless ``--keep``; SQLite: a temporary file), migrates it and seeds ``--entries`` entries
with ``bench/seeding.py`` into ONE team (20 members, 10 tasks): ``entry_rows`` spreads
100,000 entries per team, so it is handed that one team as every team, and the whole
million lands in it (``timeEntries(filter: {teamId})`` takes one team; an export of a
million rows needs a team of a million). 1% are deleted, up to 20 are running.

Then one real uvicorn process (``gql.server.app:create_app`` as ``punchclock serve``
runs it, with ``PUNCHCLOCK_EXPORT_BATCH_ROWS=--batch``) serves
``GET /export/time-entries.csv?teamId=…`` to an httpx client that counts the bytes and
lines and keeps none of them, while a thread samples the server's resident memory
(``VmRSS`` in ``/proc/<pid>/status``) every 20 ms. A small export runs first, so that
what every request loads once (the schema's caches, the csv module, the pool's
connection) is in the baseline. Prints rows, bytes, seconds, and RSS before, at the peak
and the growth; the goal is a growth under 50 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.seeding import (
    TEAM_ENTRIES,
    drop_pg_database,
    entry_rows,
    recreate_pg_database,
    seed_postgres,
    seed_sqlite,
    setup_teams,
)

from store.db import Database
from store.migrate import upgrade

PG_NAME = "punchclock_export_bench"
GOAL_MB = 50


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


class Sampler(threading.Thread):
    """The peak of a process's RSS, sampled every ``every`` seconds until stopped."""

    def __init__(self, pid: int, every: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.peak = 0
        self.samples = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            self.peak = max(self.peak, rss_kb(self.pid))
            self.samples += 1
            time.sleep(self.every)

    def stop(self) -> None:
        self._halt.set()
        self.join()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_server(url: str, batch: int, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "PUNCHCLOCK_DATABASE_URL": url,
        "PUNCHCLOCK_LOG_LEVEL": "warning",
        "PUNCHCLOCK_EXPORT_BATCH_ROWS": str(batch),
        "PUNCHCLOCK_TIMER_SWEEP_SECONDS": "3600",
        "PUNCHCLOCK_WEBHOOKS_DELIVER": "false",
    }
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "gql.server.app:create_app",
        "--factory",
        "--port",
        str(port),
        "--http",
        "gql.server.httpguard:GuardedHttpToolsProtocol",
        "--log-level",
        "warning",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited; its log: {log}")
        try:
            if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                return process, base
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    stop_server(process)
    raise SystemExit(f"the server did not start; its log: {log}")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


async def download(base: str, token: str, params: dict[str, str]) -> tuple[int, int, float]:
    """Lines (the header among them) and bytes of one export, and its seconds."""
    began = time.perf_counter()
    lines = size = 0
    async with (
        httpx.AsyncClient(base_url=base, timeout=600) as client,
        client.stream(
            "GET",
            "/export/time-entries.csv",
            params=params,
            headers={"authorization": f"Bearer {token}"},
        ) as response,
    ):
        assert response.status_code == 200, await response.aread()
        async for chunk in response.aiter_raw():
            size += len(chunk)
            lines += chunk.count(b"\r\n")  # the seeded entries have no line breaks inside
    return lines, size, time.perf_counter() - began


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dialect", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--keep", action="store_true", help="keep the database and the log")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="pc-export-bench-"))
    if args.dialect == "sqlite":
        path = workdir / "bench.db"
        url = f"sqlite:///{path}"
    else:
        url = await recreate_pg_database(PG_NAME)
    process: subprocess.Popen[bytes] | None = None
    try:
        await upgrade(url)
        db = Database(url)
        (team, *_), token = await setup_teams(db, 1)
        await db.dispose()
        began = time.perf_counter()
        # Every "team" entry_rows deals to is the one team: all entries land in it.
        rows = entry_rows([team] * max(1, -(-args.entries // TEAM_ENTRIES)), args.entries)
        if args.dialect == "sqlite":
            seed_sqlite(path, rows)
        else:
            await seed_postgres(url, rows)
        print(
            f"seeded {args.entries:,} entries into one team in {time.perf_counter() - began:.1f} s"
        )

        process, base = start_server(url, args.batch, workdir / "server.log")
        # Warm-up: a small export (one day), so the baseline holds what any request loads.
        warm = {"teamId": team["id"], "from": "2025-03-01T00:00:00Z", "to": "2025-03-02T00:00:00Z"}
        await download(base, token, warm)
        await asyncio.sleep(0.5)
        before = rss_kb(process.pid)
        sampler = Sampler(process.pid)
        sampler.start()
        try:
            lines, size, seconds = await download(base, token, {"teamId": team["id"]})
        finally:
            sampler.stop()
        after = rss_kb(process.pid)
        exported = lines - 1
        growth = (sampler.peak - before) / 1024
        print(f"dialect:         {args.dialect}, batch {args.batch} rows")
        print(f"rows exported:   {exported:,} (the team's live entries)")
        print(f"bytes:           {size:,} ({size / 2**20:.0f} MiB)")
        print(f"seconds:         {seconds:.1f} ({exported / seconds:,.0f} rows/s)")
        print(
            f"server RSS:      before {before / 1024:.1f} MiB, peak {sampler.peak / 1024:.1f} MiB "
            f"({sampler.samples:,} samples), after {after / 1024:.1f} MiB"
        )
        print(f"growth:          {growth:.1f} MiB (goal: under {GOAL_MB} MB)")
        if growth >= GOAL_MB:
            raise SystemExit("the export's memory grew past the goal")
    finally:
        if process is not None:
            stop_server(process)
        if args.keep:
            print(f"kept: {url} and {workdir}")
        else:
            if args.dialect == "postgresql":
                await drop_pg_database(PG_NAME)
            for p in workdir.iterdir():
                p.unlink()
            workdir.rmdir()


if __name__ == "__main__":
    asyncio.run(main())

"""timeReport through the API against the same GROUP BY written directly in SQL.

    python bench/report_bench.py --dialect sqlite|postgresql [--entries 1000000] [--runs 15]

Creates a fresh database (SQLite: a temporary file; PostgreSQL: `punchclock_bench`, dropped
at the end), migrates it, and seeds ``--entries`` entries in bulk (executemany on SQLite,
COPY on PostgreSQL): teams of 100,000 entries and 20 members each, interleaved in time
over 2025 as real traffic would be, 1% deleted, one running timer per member of the
measured team. Then it times, alternately:

- API: ``timeReport(groupBy: [USER, WEEK])`` of one team, ``buckets { user { nickname } week
  <sums> } totals { <sums> }``, POSTed to the real Starlette app in process (httpx
  ASGITransport): token check, GraphQL execution, DataLoader and JSON included;
- SQL: the same report written by hand in one statement (the team's rounding inlined, the
  users' nicknames joined), run on a raw driver connection (asyncpg / aiosqlite with the
  same bucket function).

Prints the median of ``--runs`` runs of each (after two warm-up runs) and their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiosqlite
import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.seeding import (
    TEAM_ENTRIES,
    ZONE,
    drop_pg_database,
    entry_rows,
    recreate_pg_database,
    seed_postgres,
    seed_sqlite,
    setup_teams,
)

from gql.server.app import create_app
from gql.settings import Settings
from store.db import Database
from store.migrate import upgrade
from store.reports import SQLITE_BUCKET_FUNCTION, local_bucket
from store.timeutil import utcnow

PG_NAME = "punchclock_bench"
SUMS = "totalSeconds roundedSeconds totalCents entryCount runningCount"
QUERY = f"""query($t: ID!) {{ timeReport(filter: {{teamId: $t}}, groupBy: [USER, WEEK]) {{
  buckets {{ user {{ nickname }} week {SUMS} }} totals {{ {SUMS} }} }} }}"""
# The same report by hand: NEAREST 15-minute rounding (the team's) inlined, half-up cents.
PG_SQL = """
SELECT u.nickname, g.week, g.seconds, g.rounded, g.cents, g.entries, g.running
FROM (
  SELECT user_id, week, sum(seconds) AS seconds, sum(rounded) AS rounded,
         sum(CASE WHEN billable THEN (rate * rounded * 2 + 3600) / 7200 ELSE 0 END) AS cents,
         count(*) AS entries, sum(running) AS running
  FROM (
    SELECT user_id, billable, rate_snapshot_cents::bigint AS rate,
           date_trunc('week', started_at AT TIME ZONE $2)::date AS week,
           s.seconds, (s.seconds + 450) / 900 * 900 AS rounded,
           CASE WHEN stopped_at IS NULL THEN 1 ELSE 0 END AS running
    FROM time_entries,
         LATERAL (SELECT coalesce(duration_seconds::bigint,
                  greatest(0, floor(extract(epoch FROM $3::timestamptz - started_at)))::bigint)
                  AS seconds) s
    WHERE team_id = $1 AND deleted_at IS NULL
  ) e
  GROUP BY user_id, week
) g JOIN users u ON u.id = g.user_id
ORDER BY g.user_id, g.week
"""
SQLITE_SQL = f"""
SELECT u.nickname, g.week, g.seconds, g.rounded, g.cents, g.entries, g.running
FROM (
  SELECT user_id, week, sum(seconds) AS seconds, sum(rounded) AS rounded,
         sum(CASE WHEN billable THEN (rate * rounded * 2 + 3600) / 7200 ELSE 0 END) AS cents,
         count(*) AS entries, sum(running) AS running
  FROM (
    SELECT user_id, billable, rate, week, seconds, (seconds + 450) / 900 * 900 AS rounded,
           running
    FROM (
      SELECT user_id, billable, rate_snapshot_cents AS rate,
             {SQLITE_BUCKET_FUNCTION}(started_at, ?2, 'WEEK', 1) AS week,
             coalesce(duration_seconds, max(0, (?3 - (
               CAST(strftime('%s', substr(started_at, 1, 19)) AS INTEGER) * 1000000
               + CAST(substr(started_at, 21, 6) AS INTEGER))) / 1000000)) AS seconds,
             CASE WHEN stopped_at IS NULL THEN 1 ELSE 0 END AS running
      FROM time_entries
      WHERE team_id = ?1 AND deleted_at IS NULL
    )
  )
  GROUP BY user_id, week
) g JOIN users u ON u.id = g.user_id
ORDER BY g.user_id, g.week
"""


async def clock(run: Callable[[], Awaitable[list[tuple[Any, ...]]]], into: list[float]) -> Any:
    began = time.perf_counter()
    result = await run()
    into.append(time.perf_counter() - began)
    return result


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dialect", choices=("sqlite", "postgresql"), required=True)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument(
        "--keep", action="store_true", help="keep the database (and print its URL) for EXPLAIN"
    )
    args = parser.parse_args()

    workdir: Path | None = None
    if args.dialect == "sqlite":
        workdir = Path(tempfile.mkdtemp(prefix="pc-report-bench-"))
        path = workdir / "bench.db"
        url = f"sqlite:///{path}"
    else:
        url = await recreate_pg_database(PG_NAME)
    try:
        await upgrade(url)
        db = Database(url)
        teams_count = max(1, -(-args.entries // TEAM_ENTRIES))
        teams, token = await setup_teams(db, teams_count)
        await db.dispose()

        began = time.perf_counter()
        rows = entry_rows(teams, args.entries)
        if args.dialect == "sqlite":
            seed_sqlite(path, rows)
        else:
            await seed_postgres(url, rows)
        seeded = time.perf_counter() - began
        print(f"seeded {args.entries:,} entries in {seeded:.1f} s ({args.dialect})")

        team_id = teams[0]["id"]
        app = create_app(Settings(database_url=url, log_level="warning"))
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://bench") as client,
        ):
            headers = {"authorization": f"Bearer {token}"}

            async def api() -> list[tuple[Any, ...]]:
                response = await client.post(
                    "/graphql", json={"query": QUERY, "variables": {"t": team_id}}, headers=headers
                )
                body = response.json()
                assert "errors" not in body, body
                report = body["data"]["timeReport"]
                return [
                    (b["user"]["nickname"], b["week"], *(b[s] for s in SUMS.split()))
                    for b in report["buckets"]
                ]

            if args.dialect == "postgresql":
                raw = await asyncpg.connect(url)

                async def sql() -> list[tuple[Any, ...]]:
                    records = await raw.fetch(PG_SQL, team_id, ZONE, utcnow())
                    return [
                        (r[0], r[1].isoformat(), *(int(x) for x in tuple(r)[2:])) for r in records
                    ]

                close = raw.close
            else:
                lite = await aiosqlite.connect(path)
                await lite.create_function(
                    SQLITE_BUCKET_FUNCTION, 4, local_bucket, deterministic=True
                )

                async def sql() -> list[tuple[Any, ...]]:
                    now_us = (utcnow() - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(
                        microseconds=1
                    )
                    async with lite.execute(SQLITE_SQL, (team_id, ZONE, now_us)) as cursor:
                        return [tuple(r) for r in await cursor.fetchall()]

                close = lite.close

            try:
                for _ in range(2):  # warm caches, prepared statements, the token check
                    await api()
                    await sql()
                api_times: list[float] = []
                sql_times: list[float] = []
                for _ in range(args.runs):
                    via_api = await clock(api, api_times)
                    via_sql = await clock(sql, sql_times)
            finally:
                await close()
        # Both give the same buckets (running entries aside, which move with the clock).
        assert [r[:2] for r in via_api] == [r[:2] for r in via_sql], "bucket keys differ"
        assert [r[5] for r in via_api] == [r[5] for r in via_sql], "entry counts differ"
        api_ms, sql_ms = statistics.median(api_times) * 1000, statistics.median(sql_times) * 1000
        print(
            f"team of {sum(r[5] for r in via_api):,} live entries, {len(via_api):,} buckets "
            f"(users x weeks), median of {args.runs} runs"
        )
        print(f"API (HTTP + GraphQL): {api_ms:8.1f} ms")
        print(f"direct SQL:           {sql_ms:8.1f} ms")
        print(f"ratio API / SQL:      {api_ms / sql_ms:8.2f}")
    finally:
        if args.keep:
            print(f"kept: {url}")
        elif args.dialect == "postgresql":
            await drop_pg_database(PG_NAME)
        if workdir is not None and not args.keep:
            for p in workdir.iterdir():
                p.unlink()
            workdir.rmdir()


if __name__ == "__main__":
    asyncio.run(main())

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
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import aiosqlite
import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gql.app import create_app
from gql.settings import Settings
from store import accounts, tokens
from store.db import Database
from store.ids import new_id
from store.migrate import upgrade
from store.models import Category, Role, Task
from store.reports import SQLITE_BUCKET_FUNCTION, local_bucket
from store.timeutil import utcnow

TEAM_ENTRIES = 100_000
MEMBERS = 20
TASKS = 10
ZONE = "Europe/Berlin"
YEAR_START = datetime(2025, 1, 1, tzinfo=UTC)
YEAR_SECONDS = 365 * 86400
PG_ADMIN = os.environ.get(
    "PUNCHCLOCK_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
PG_NAME = "punchclock_bench"
SUMS = "totalSeconds roundedSeconds totalCents entryCount runningCount"
QUERY = f"""query($t: ID!) {{ timeReport(filter: {{teamId: $t}}, groupBy: [USER, WEEK]) {{
  buckets {{ user {{ nickname }} week {SUMS} }} totals {{ {SUMS} }} }} }}"""
COLUMNS = (
    "id team_id user_id scope_type task_id category_id started_at stopped_at duration_seconds "
    "work_date billable rate_snapshot_cents status input_type source deleted_at created_at "
    "updated_at version"
).split()

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


def pg_dsn(database: str) -> str:
    base = PG_ADMIN.rsplit("/", 1)[0]
    return f"{base}/{database}"


async def setup_teams(db: Database, teams: int) -> tuple[list[dict[str, Any]], str]:
    """``teams`` teams of MEMBERS members, a category and TASKS tasks each; the token of the
    first team's owner."""
    out: list[dict[str, Any]] = []
    token = ""
    async with db.write() as s:
        for t in range(teams):
            users = [
                await accounts.create_user(
                    s, nickname=f"User {t}-{u}", email=f"u{t}-{u}@bench.test"
                )
                for u in range(MEMBERS)
            ]
            team = await accounts.create_team(
                s,
                name=f"Team {t}",
                owner_id=users[0].id,
                time_zone=ZONE,
                rounding="NEAREST",
                rounding_minutes=15,
            )
            for user in users[1:]:
                await accounts.add_member(s, team_id=team.id, user_id=user.id, role=Role.MEMBER)
            category = Category(id=new_id(), team_id=team.id, key="work", title="Work")
            s.add(category)
            await s.flush()
            tasks = [
                Task(id=new_id(), team_id=team.id, category_id=category.id, key=f"T-{k}", title="t")
                for k in range(TASKS)
            ]
            s.add_all(tasks)
            if t == 0:
                token = await tokens.create_token(s, user_id=users[0].id, name="bench")
            out.append(
                {
                    "id": team.id,
                    "users": [u.id for u in users],
                    "tasks": [x.id for x in tasks],
                    "category": category.id,
                }
            )
        await s.commit()
    return out, token


def entry_rows(teams: list[dict[str, Any]], total: int) -> Iterator[tuple[Any, ...]]:
    """``total`` entries, each team's share spread over 2025; interleaved in time."""
    rng = random.Random(20251123)
    per_team = [TEAM_ENTRIES] * (total // TEAM_ENTRIES)
    if total % TEAM_ENTRIES:
        per_team.append(total % TEAM_ENTRIES)
    # Interleave: each row goes to a team in proportion, starting times in order.
    owners = [t for t, n in enumerate(per_team) for _ in range(n)]
    rng.shuffle(owners)
    step = YEAR_SECONDS / max(1, len(owners))
    now = utcnow()
    running: set[str] = set()
    for i, t in enumerate(owners):
        team = teams[t]
        user = rng.choice(team["users"])
        started = YEAR_START + timedelta(seconds=int(i * step) + rng.randrange(0, 3600))
        seconds: int | None = rng.randrange(300, 4 * 3600)
        if t == 0 and user not in running and i > len(owners) - 5000:
            running.add(user)
            seconds = None
        by_task = rng.random() < 0.8
        yield (
            new_id(),
            team["id"],
            user,
            "TASK" if by_task else "CATEGORY",
            rng.choice(team["tasks"]) if by_task else None,
            None if by_task else team["category"],
            started,
            None if seconds is None else started + timedelta(seconds=seconds),
            seconds,
            started.date(),
            rng.random() < 0.7,
            rng.choice((0, 6000, 9000, 12000, 15000)),
            rng.choice(("DRAFT", "SUBMITTED", "APPROVED")),
            rng.choice(("MANUAL", "REALTIME")),
            "API",
            now if rng.random() < 0.01 else None,
            now,
            now,
            1,
        )


def sqlite_value(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, bool):
        return int(v)
    return v


def seed_sqlite(path: Path, rows: Iterator[tuple[Any, ...]]) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    sql = (
        f"INSERT INTO time_entries ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
    )
    batch: list[tuple[Any, ...]] = []
    for row in rows:
        batch.append(tuple(sqlite_value(v) for v in row))
        if len(batch) == 50_000:
            conn.executemany(sql, batch)
            batch.clear()
    conn.executemany(sql, batch)
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()


async def seed_postgres(rows: Iterator[tuple[Any, ...]]) -> None:
    conn = await asyncpg.connect(pg_dsn(PG_NAME))
    try:
        batch: list[tuple[Any, ...]] = []
        for row in rows:
            batch.append(row)
            if len(batch) == 100_000:
                await conn.copy_records_to_table("time_entries", records=batch, columns=COLUMNS)
                batch.clear()
        await conn.copy_records_to_table("time_entries", records=batch, columns=COLUMNS)
        await conn.execute("VACUUM ANALYZE time_entries")
    finally:
        await conn.close()


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
        admin = await asyncpg.connect(PG_ADMIN)
        await admin.execute(f'DROP DATABASE IF EXISTS "{PG_NAME}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{PG_NAME}"')
        await admin.close()
        url = pg_dsn(PG_NAME)
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
            await seed_postgres(rows)
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
            admin = await asyncpg.connect(PG_ADMIN)
            await admin.execute(f'DROP DATABASE IF EXISTS "{PG_NAME}" WITH (FORCE)')
            await admin.close()
        if workdir is not None and not args.keep:
            for p in workdir.iterdir():
                p.unlink()
            workdir.rmdir()


if __name__ == "__main__":
    asyncio.run(main())

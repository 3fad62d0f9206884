"""Bulk seeding shared by the benchmarks: teams through the store, entries through COPY.

Teams, members, categories and tasks go through the store's own functions (a few
thousand rows); the entries are written in bulk (``executemany`` on SQLite, ``COPY`` on
PostgreSQL), because a million ORM inserts would take most of an hour.
"""

from __future__ import annotations

import os
import random
import sqlite3
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from store import accounts, tokens
from store.db import Database
from store.ids import new_id
from store.models import Category, Role, Tag, Task
from store.timeutil import utcnow

TEAM_ENTRIES = 100_000
ZONE = "Europe/Berlin"
YEAR_START = datetime(2025, 1, 1, tzinfo=UTC)
YEAR_SECONDS = 365 * 86400
PG_ADMIN = os.environ.get(
    "PUNCHCLOCK_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
COLUMNS = (
    "id team_id user_id scope_type task_id category_id started_at stopped_at duration_seconds "
    "work_date billable rate_snapshot_cents status input_type source deleted_at created_at "
    "updated_at version"
).split()


def pg_dsn(database: str) -> str:
    base = PG_ADMIN.rsplit("/", 1)[0]
    return f"{base}/{database}"


async def recreate_pg_database(name: str) -> str:
    admin = await asyncpg.connect(PG_ADMIN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return pg_dsn(name)


async def clone_pg_database(source: str, name: str) -> str:
    """A fresh copy of database ``source`` as ``name`` (no session may be connected to
    ``source``): each run of a benchmark that writes starts from the same rows."""
    admin = await asyncpg.connect(PG_ADMIN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{source}"')
    finally:
        await admin.close()
    return pg_dsn(name)


async def drop_pg_database(name: str) -> None:
    admin = await asyncpg.connect(PG_ADMIN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def setup_teams(
    db: Database, teams: int, *, members: int = 20, tasks: int = 10, categories: int = 1
) -> tuple[list[dict[str, Any]], str]:
    """``teams`` teams of ``members`` members, ``categories`` categories and ``tasks`` tasks
    each (spread over the categories); the token of the first team's owner."""
    out: list[dict[str, Any]] = []
    token = ""
    async with db.write() as s:
        for t in range(teams):
            users = [
                await accounts.create_user(
                    s, nickname=f"User {t}-{u}", email=f"u{t}-{u}@bench.test"
                )
                for u in range(members)
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
            cats = [
                Category(
                    id=new_id(),
                    team_id=team.id,
                    key="work" if c == 0 else f"c-{c}",
                    title="Work" if c == 0 else f"Category {c}",
                )
                for c in range(categories)
            ]
            s.add_all(cats)
            await s.flush()
            task_rows = [
                Task(
                    id=new_id(),
                    team_id=team.id,
                    category_id=cats[k % categories].id,
                    key=f"T-{k}",
                    title="t" if tasks <= 10 else f"Task {k}",
                )
                for k in range(tasks)
            ]
            s.add_all(task_rows)
            if t == 0:
                token = await tokens.create_token(s, user_id=users[0].id, name="bench")
            out.append(
                {
                    "id": team.id,
                    "users": [u.id for u in users],
                    "tasks": [x.id for x in task_rows],
                    "categories": [c.id for c in cats],
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
        cats = team["categories"]
        yield (
            new_id(),
            team["id"],
            user,
            "TASK" if by_task else "CATEGORY",
            rng.choice(team["tasks"]) if by_task else None,
            None if by_task else (cats[0] if len(cats) == 1 else rng.choice(cats)),
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


TAGS_PER_TEAM = 8
TAG_NAMES = ["meeting", "overtime", "billing", "review", "support", "call", "travel", "ops"]
# Which entries have which tags, from the random last characters of their ids: one entry in
# six has none (the 25th character), the others one to three tags (the 24th) starting at
# one that the 26th picks. One statement on each database, where listing a million entries'
# tags from Python would hold them all.
_TAGGING_SQL = """INSERT INTO entry_tags (entry_id, tag_id, team_id)
SELECT e.id, t.id, e.team_id FROM time_entries e JOIN tags t ON t.team_id = e.team_id
WHERE {code}(substr(e.id, 25, 1)) % 6 <> 0
AND ({code}(substr(e.id, 26, 1)) + ({index})) % 8 < 1 + {code}(substr(e.id, 24, 1)) % 3"""
_TAG_INDEX = (
    "CASE t.name_key " + " ".join(f"WHEN '{n}' THEN {k}" for k, n in enumerate(TAG_NAMES)) + " END"
)


def tag_rows(teams: list[dict[str, Any]]) -> list[Tag]:
    """``TAGS_PER_TEAM`` live tags per team."""
    now = utcnow()
    names = TAG_NAMES
    return [
        Tag(
            id=new_id(),
            team_id=team["id"],
            name=names[k],
            name_key=names[k].casefold(),
            color=None,
            created_at=now,
            updated_at=now,
        )
        for team in teams
        for k in range(TAGS_PER_TEAM)
    ]


async def seed_tags(url: str, dialect: str, teams: list[dict[str, Any]]) -> None:
    """Each team's tags, then the entries' (``_TAGGING_SQL``), after the entries."""
    rows = tag_rows(teams)
    columns = ("id", "team_id", "name", "name_key", "color", "created_at", "updated_at")
    values = [tuple(getattr(r, c) for c in columns) for r in rows]
    if dialect == "sqlite":
        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        try:
            conn.executemany(
                f"INSERT INTO tags ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                [tuple(sqlite_value(v) for v in row) for row in values],
            )
            conn.execute(_TAGGING_SQL.format(code="unicode", index=_TAG_INDEX))
            conn.commit()
            conn.execute("ANALYZE")
        finally:
            conn.close()
        return
    conn = await asyncpg.connect(url)
    try:
        await conn.copy_records_to_table("tags", records=values, columns=columns)
        await conn.execute(_TAGGING_SQL.format(code="ascii", index=_TAG_INDEX))
        await conn.execute("VACUUM ANALYZE entry_tags")
        await conn.execute("VACUUM ANALYZE tags")
    finally:
        await conn.close()


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


async def seed_postgres(url: str, rows: Iterator[tuple[Any, ...]]) -> None:
    conn = await asyncpg.connect(url)
    try:
        batch: list[tuple[Any, ...]] = []
        for row in rows:
            batch.append(row)
            if len(batch) == 100_000:
                await conn.copy_records_to_table("time_entries", records=batch, columns=COLUMNS)
                batch.clear()
        await conn.copy_records_to_table("time_entries", records=batch, columns=COLUMNS)
        # Every table: the teams, tasks and categories were written before the entries,
        # and autovacuum (which would analyze them in time) may be off on a test box.
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()

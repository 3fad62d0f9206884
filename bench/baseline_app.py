"""The baseline the API is measured against: the same answers, hand-written.

A bare ASGI app (no framework) on the benchmark's database, served by uvicorn like the
real server. Each request checks the bearer token and the team membership in ONE
statement (the server needs two: token, then memberships), then:

- ``POST /list``: the benchmark page (100 entries of a team with user, task and the task's
  category) in ONE hand-written join, encoded with orjson in the API's response shape;
- ``POST /write``: inserts the entry ``logTimeEntry`` would create, in one statement
  (no idempotency record, no billing defaults, no events: the row only).

For ``bench/peer_bench.py``, on PostgreSQL only (SQLite answers 501):

- ``POST /team-page``: the same page as ``/list``, in the shape of ``team { timeEntries }``;
- ``POST /user-page``: the viewer's 100 newest entries in the teams they are in (the token
  alone is checked), in the shape of ``viewer { timeEntries }``;
- ``POST /dashboard``: the viewer and their running entry, the team's name, members,
  running entries and categories, five statements on one connection;
- ``POST /report``: ``timeReport(groupBy: [USER, WEEK])`` between ``from`` and ``to``, one
  hand-written GROUP BY (the team's zone and rounding joined in, half-up cents), the
  totals summed in Python.

    PUNCHCLOCK_BENCH_DATABASE_URL=postgresql://... uvicorn bench.baseline_app:app
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import aiosqlite
import asyncpg
import orjson

from gql.schema.scalars import serialize_datetime
from store.ids import new_id

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

URL = os.environ.get("PUNCHCLOCK_BENCH_DATABASE_URL", "")
POOL = 10

AUTH_PG = """SELECT t.secret_hash, t.revoked_at, t.user_id FROM access_tokens t
JOIN memberships m ON m.user_id = t.user_id AND m.team_id = $2 WHERE t.prefix = $1"""
TOKEN_PG = "SELECT secret_hash, revoked_at, user_id FROM access_tokens WHERE prefix = $1"
PAGE_COLUMNS = """SELECT e.id, e.started_at, e.stopped_at, e.duration_seconds, e.billable,
  e.description, u.id, u.nickname, t.id, t.title, c.id, c.title
FROM time_entries e JOIN users u ON u.id = e.user_id
LEFT JOIN tasks t ON t.id = e.task_id LEFT JOIN categories c ON c.id = t.category_id"""
PAGE_PG = f"""{PAGE_COLUMNS}
WHERE e.team_id = $1 AND e.deleted_at IS NULL
ORDER BY e.started_at DESC, e.id DESC LIMIT $2"""
USER_PAGE_PG = f"""{PAGE_COLUMNS}
WHERE e.user_id = $1 AND e.deleted_at IS NULL
  AND e.team_id IN (SELECT team_id FROM memberships WHERE user_id = $1)
ORDER BY e.started_at DESC, e.id DESC LIMIT $2"""
DASHBOARD_PG = (
    """SELECT u.id, u.nickname, e.id, e.started_at, t.title FROM users u
    LEFT JOIN time_entries e ON e.user_id = u.id AND e.stopped_at IS NULL
      AND e.deleted_at IS NULL
    LEFT JOIN tasks t ON t.id = e.task_id WHERE u.id = $1""",
    "SELECT name FROM teams WHERE id = $1",
    """SELECT m.role, u.id, u.nickname FROM memberships m JOIN users u ON u.id = m.user_id
    WHERE m.team_id = $1 ORDER BY m.created_at, m.user_id""",
    """SELECT e.id, e.started_at, u.nickname FROM time_entries e
    JOIN users u ON u.id = e.user_id
    WHERE e.team_id = $1 AND e.stopped_at IS NULL AND e.deleted_at IS NULL
    ORDER BY e.started_at DESC, e.id DESC""",
    "SELECT id, title FROM categories WHERE team_id = $1 ORDER BY position, title, id",
)
# Seconds (running ones up to $4), rounded by the team's rule, cents half up; weeks from
# Monday in the team's zone (the bench teams' week starts on Monday).
REPORT_PG = """
SELECT g.user_id, u.nickname, g.week, g.seconds, g.cents
FROM (
  SELECT e.user_id, date_trunc('week', e.started_at AT TIME ZONE tm.time_zone)::date AS week,
         sum(s.seconds) AS seconds,
         sum(CASE WHEN NOT e.billable THEN 0
                  ELSE (e.rate_snapshot_cents::bigint * r.rounded * 2 + 3600) / 7200 END)
           AS cents
  FROM time_entries e JOIN teams tm ON tm.id = e.team_id,
  LATERAL (SELECT coalesce(e.duration_seconds::bigint, greatest(0,
             floor(extract(epoch FROM $4::timestamptz - e.started_at)))::bigint) AS seconds,
           greatest(1, tm.rounding_minutes) * 60 AS step) s,
  LATERAL (SELECT coalesce(e.frozen_rounded_seconds::bigint, CASE tm.rounding
             WHEN 'NEAREST' THEN (s.seconds + s.step / 2) / s.step * s.step
             WHEN 'FLOOR' THEN s.seconds / s.step * s.step
             WHEN 'CEIL' THEN (s.seconds + s.step - 1) / s.step * s.step
             ELSE s.seconds END) AS rounded) r
  WHERE e.team_id = $1 AND e.deleted_at IS NULL AND e.started_at >= $2 AND e.started_at < $3
  GROUP BY e.user_id, week
) g JOIN users u ON u.id = g.user_id
ORDER BY g.user_id, g.week"""
INSERT_PG = """INSERT INTO time_entries (id, team_id, user_id, scope_type, task_id, started_at,
  stopped_at, duration_seconds, work_date, description, billable, rate_snapshot_cents, status,
  input_type, source, created_at, updated_at, version)
VALUES ($1, $2, $3, 'TASK', $4, $5, $6, $7, $8, $9, true, 0, 'DRAFT', 'MANUAL', 'API',
  $10, $10, 1)"""


def sqlite_sql(sql: str) -> str:
    """A statement written for asyncpg (``$1``, ``true``) in SQLite's terms."""
    return re.sub(r"\$(\d+)", r"?\1", sql).replace("true", "1")


def _sqlite_time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text).replace(tzinfo=UTC)


def _sqlite_text(at: datetime) -> str:
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


class Store:
    """A handful of connections of either driver, with the few statements above."""

    async def open(self) -> None:
        self.sqlite = URL.startswith("sqlite")
        if self.sqlite:
            path = URL.split("///", 1)[1]
            self.free: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
            for _ in range(4):
                conn = await aiosqlite.connect(path, isolation_level=None)
                await conn.execute("PRAGMA busy_timeout=30000")
                self.free.put_nowait(conn)
            self.writer = await aiosqlite.connect(path, isolation_level=None)
            await self.writer.execute("PRAGMA busy_timeout=30000")
            self.write_lock = asyncio.Lock()
        else:
            self.pool = await asyncpg.create_pool(URL, min_size=POOL, max_size=POOL)

    async def close(self) -> None:
        if self.sqlite:
            while not self.free.empty():
                await self.free.get_nowait().close()
            await self.writer.close()
        else:
            await self.pool.close()

    async def fetch(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        if not self.sqlite:
            return [tuple(r) for r in await self.pool.fetch(sql, *args)]
        conn = await self.free.get()
        try:
            async with conn.execute(sqlite_sql(sql), args) as cursor:
                return [tuple(r) for r in await cursor.fetchall()]
        finally:
            self.free.put_nowait(conn)

    async def execute(self, sql: str, *args: Any) -> None:
        if not self.sqlite:
            await self.pool.execute(sql, *args)
            return
        async with self.write_lock:
            await self.writer.execute(sqlite_sql(sql), args)

    async def fetch_on_one(
        self, statements: list[tuple[str, tuple[Any, ...]]]
    ) -> list[list[tuple[Any, ...]]]:
        """Each statement's rows (PostgreSQL), one after another on one connection."""
        async with self.pool.acquire() as conn:
            return [[tuple(r) for r in await conn.fetch(sql, *args)] for sql, args in statements]

    async def viewer(self, token: str, team_id: str | None) -> str | None:
        """The token's user when it is valid (and a member of the team, given one)."""
        parts = token.split("_")
        if len(parts) != 3 or parts[0] != "pc":
            return None
        if team_id is None:
            rows = await self.fetch(TOKEN_PG, parts[1])
        else:
            rows = await self.fetch(AUTH_PG, parts[1], team_id)
        if not rows:
            return None
        stored, revoked, user_id = rows[0]
        digest = hashlib.sha256(parts[2].encode()).hexdigest()
        return user_id if hmac.compare_digest(stored, digest) and revoked is None else None


store = Store()


def page_nodes(rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """The API's ``nodes`` of a page from the rows of ``PAGE_COLUMNS``."""
    now = datetime.now(UTC)
    nodes = []
    for r in rows:
        started, stopped = r[1], r[2]
        if store.sqlite:
            started, stopped = _sqlite_time(started), _sqlite_time(stopped)
        seconds = r[3] if r[3] is not None else max(0, int((now - started).total_seconds()))
        nodes.append(
            {
                "id": r[0],
                "startedAt": serialize_datetime(started),
                "stoppedAt": None if stopped is None else serialize_datetime(stopped),
                "durationSeconds": seconds,
                "billable": bool(r[4]),
                "description": r[5],
                "user": {"id": r[6], "nickname": r[7]},
                "task": None
                if r[8] is None
                else {
                    "id": r[8],
                    "title": r[9],
                    "category": None if r[10] is None else {"id": r[10], "title": r[11]},
                },
            }
        )
    return nodes


async def list_page(variables: dict[str, Any], user_id: str) -> dict[str, Any]:
    del user_id
    rows = await store.fetch(PAGE_PG, variables["teamId"], int(variables.get("first", 100)))
    return {"data": {"timeEntries": {"nodes": page_nodes(rows)}}}


async def team_page(variables: dict[str, Any], user_id: str) -> dict[str, Any]:
    del user_id
    rows = await store.fetch(PAGE_PG, variables["teamId"], int(variables.get("first", 100)))
    return {"data": {"team": {"timeEntries": {"nodes": page_nodes(rows)}}}}


async def user_page(variables: dict[str, Any], user_id: str) -> dict[str, Any]:
    rows = await store.fetch(USER_PAGE_PG, user_id, int(variables.get("first", 100)))
    return {"data": {"viewer": {"timeEntries": {"nodes": page_nodes(rows)}}}}


async def dashboard(variables: dict[str, Any], user_id: str) -> dict[str, Any]:
    team_id = variables["teamId"]
    viewer_sql, *team_sqls = DASHBOARD_PG
    (viewer, *_), (team, *_), members, running, categories = await store.fetch_on_one(
        [(viewer_sql, (user_id,)), *((sql, (team_id,)) for sql in team_sqls)]
    )
    return {
        "data": {
            "viewer": {
                "id": viewer[0],
                "nickname": viewer[1],
                "runningEntry": None
                if viewer[2] is None
                else {
                    "id": viewer[2],
                    "startedAt": serialize_datetime(viewer[3]),
                    "task": None if viewer[4] is None else {"title": viewer[4]},
                },
            },
            "team": {
                "name": team[0],
                "members": [
                    {"role": role, "user": {"id": uid, "nickname": nick}}
                    for role, uid, nick in members
                ],
                "runningEntries": [
                    {"id": eid, "startedAt": serialize_datetime(at), "user": {"nickname": nick}}
                    for eid, at, nick in running
                ],
                "categories": [{"id": cid, "title": title} for cid, title in categories],
            },
        }
    }


async def report(variables: dict[str, Any], user_id: str) -> dict[str, Any]:
    del user_id
    rows = await store.fetch(
        REPORT_PG,
        variables["teamId"],
        datetime.fromisoformat(variables["from"]),
        datetime.fromisoformat(variables["to"]),
        datetime.now(UTC),
    )
    buckets = [
        {
            "user": {"id": uid, "nickname": nick},
            "week": week.isoformat(),
            "totalSeconds": int(seconds),
            "totalCents": int(cents),
        }
        for uid, nick, week, seconds, cents in rows
    ]
    totals = {"totalSeconds": sum(b["totalSeconds"] for b in buckets)}
    return {"data": {"timeReport": {"buckets": buckets, "totals": totals}}}


async def write_entry(variables: dict[str, Any], user_id: str) -> dict[str, Any]:
    started = datetime.fromisoformat(variables["startedAt"]).astimezone(UTC)
    seconds = int(variables["durationSeconds"])
    stopped = started + timedelta(seconds=seconds)
    now = datetime.now(UTC)
    entry_id = new_id()
    values: tuple[Any, ...] = (
        entry_id,
        variables["teamId"],
        user_id,
        variables["taskId"],
        started,
        stopped,
        seconds,
        started.date(),
        variables.get("description"),
        now,
    )
    if store.sqlite:
        values = (
            *values[:4],
            _sqlite_text(started),
            _sqlite_text(stopped),
            seconds,
            started.date().isoformat(),
            values[8],
            _sqlite_text(now),
        )
    await store.execute(INSERT_PG, *values)
    return {"data": {"logTimeEntry": {"timeEntry": {"id": entry_id}, "userErrors": []}}}


HANDLERS = {"/list": list_page, "/write": write_entry}
# What bench/peer_bench.py adds, written for PostgreSQL only.
PG_HANDLERS = {
    "/team-page": team_page,
    "/user-page": user_page,
    "/dashboard": dashboard,
    "/report": report,
}


@asynccontextmanager
async def lifespan() -> AsyncIterator[None]:
    await store.open()
    try:
        yield
    finally:
        await store.close()


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        message = await receive()
        cm = lifespan()
        await cm.__aenter__()
        await send({"type": "lifespan.startup.complete"})
        message = await receive()
        assert message["type"] == "lifespan.shutdown"
        await cm.__aexit__(None, None, None)
        await send({"type": "lifespan.shutdown.complete"})
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    handler = HANDLERS.get(scope["path"]) or PG_HANDLERS.get(scope["path"])
    headers = dict(scope["headers"])
    auth = headers.get(b"authorization", b"").decode()
    status, answer = 404, {"errors": [{"message": "not found"}]}
    if store.sqlite and scope["path"] in PG_HANDLERS:
        status, answer = 501, {"errors": [{"message": "written for PostgreSQL only"}]}
    elif handler is not None:
        variables = orjson.loads(body)["variables"]
        user_id = await store.viewer(auth.removeprefix("Bearer "), variables.get("teamId"))
        if user_id is None:
            status, answer = 401, {"errors": [{"message": "unauthenticated"}]}
        else:
            status, answer = 200, await handler(variables, user_id)
    payload = orjson.dumps(answer)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})

"""The baseline the API is measured against: the same answers, hand-written.

A bare ASGI app (no framework) on the benchmark's database, served by uvicorn like the
real server. Each request checks the bearer token and the team membership in ONE
statement (the server needs two: token, then memberships), then:

- ``POST /list``: the benchmark page (100 entries of a team with user, task and the task's
  category) in ONE hand-written join, encoded with orjson in the API's response shape;
- ``POST /write``: inserts the entry ``logTimeEntry`` would create, in one statement
  (no idempotency record, no billing defaults, no events: the row only).

    PUNCHCLOCK_BENCH_DATABASE_URL=postgresql://... uvicorn bench.baseline_app:app
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
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
PAGE_PG = """SELECT e.id, e.started_at, e.stopped_at, e.duration_seconds, e.billable,
  e.description, u.id, u.nickname, t.id, t.title, c.id, c.title
FROM time_entries e JOIN users u ON u.id = e.user_id
LEFT JOIN tasks t ON t.id = e.task_id LEFT JOIN categories c ON c.id = t.category_id
WHERE e.team_id = $1 AND e.deleted_at IS NULL
ORDER BY e.started_at DESC, e.id DESC LIMIT $2"""
INSERT_PG = """INSERT INTO time_entries (id, team_id, user_id, scope_type, task_id, started_at,
  stopped_at, duration_seconds, work_date, description, billable, rate_snapshot_cents, status,
  input_type, source, created_at, updated_at, version)
VALUES ($1, $2, $3, 'TASK', $4, $5, $6, $7, $8, $9, true, 0, 'DRAFT', 'MANUAL', 'API',
  $10, $10, 1)"""


def _sqlite(sql: str) -> str:
    for n in range(12, 0, -1):
        sql = sql.replace(f"${n}", f"?{n}")
    return sql.replace("true", "1")


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
            async with conn.execute(_sqlite(sql), args) as cursor:
                return [tuple(r) for r in await cursor.fetchall()]
        finally:
            self.free.put_nowait(conn)

    async def execute(self, sql: str, *args: Any) -> None:
        if not self.sqlite:
            await self.pool.execute(sql, *args)
            return
        async with self.write_lock:
            await self.writer.execute(_sqlite(sql), args)

    async def viewer(self, token: str, team_id: str) -> str | None:
        """The token's user when it is valid and a member of the team."""
        parts = token.split("_")
        if len(parts) != 3 or parts[0] != "pc":
            return None
        rows = await self.fetch(AUTH_PG, parts[1], team_id)
        if not rows:
            return None
        stored, revoked, user_id = rows[0]
        digest = hashlib.sha256(parts[2].encode()).hexdigest()
        return user_id if hmac.compare_digest(stored, digest) and revoked is None else None


store = Store()


async def list_page(variables: dict[str, Any], user_id: str) -> dict[str, Any]:
    del user_id
    rows = await store.fetch(PAGE_PG, variables["teamId"], int(variables.get("first", 100)))
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
    return {"data": {"timeEntries": {"nodes": nodes}}}


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
    handler = HANDLERS.get(scope["path"])
    headers = dict(scope["headers"])
    auth = headers.get(b"authorization", b"").decode()
    status, answer = 404, {"errors": [{"message": "not found"}]}
    if handler is not None:
        variables = orjson.loads(body)["variables"]
        user_id = await store.viewer(auth.removeprefix("Bearer "), variables["teamId"])
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

"""Helpers for the write-race tests: a GraphQL client that records when each answer came,
the log of a running server, and PostgreSQL's deadlock counter."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url

ERRORS = "userErrors { code field message }"


@dataclass
class Answer:
    """One mutation's answer, with when it was sent and when it arrived (``time.monotonic``),
    and the wall clock at its arrival (``time.time``). ``errors`` holds top-level errors
    (``INTERNAL`` among them); ``payload`` is empty then."""

    payload: dict[str, Any]
    errors: list[dict[str, Any]] | None
    sent: float
    arrived: float
    arrived_wall: float

    @property
    def ok(self) -> bool:
        return not self.errors and self.payload["userErrors"] == []

    @property
    def code(self) -> str | None:
        """The code of the first error, top-level or user error; None when it succeeded."""
        if self.errors:
            return str(self.errors[0].get("extensions", {}).get("code"))
        user_errors = self.payload["userErrors"]
        return str(user_errors[0]["code"]) if user_errors else None


class Client:
    """POSTs GraphQL to a running server over one pool of connections."""

    def __init__(self, base: str) -> None:
        self.http = httpx.AsyncClient(
            base_url=base, limits=httpx.Limits(max_connections=200), timeout=120
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    async def post(self, document: str, variables: dict[str, Any], token: str) -> dict[str, Any]:
        response = await self.http.post(
            "/graphql",
            json={"query": document, "variables": variables},
            headers={"authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def query(self, document: str, variables: dict[str, Any], token: str) -> dict[str, Any]:
        """The data of a read, which must not fail."""
        body = await self.post(document, variables, token)
        assert body.get("errors") is None, body["errors"]
        data: dict[str, Any] = body["data"]
        return data

    async def mutate(self, document: str, input: dict[str, Any], token: str) -> Answer:
        sent = time.monotonic()
        body = await self.post(document, {"input": input}, token)
        arrived, wall = time.monotonic(), time.time()
        errors = body.get("errors")
        payload: dict[str, Any] = {} if errors else next(iter(body["data"].values()))
        return Answer(payload, errors, sent, arrived, wall)

    async def many(self, calls: list[tuple[str, dict[str, Any], str]]) -> list[Answer]:
        """All the calls at once."""
        return list(await asyncio.gather(*(self.mutate(d, i, t) for d, i, t in calls)))


@dataclass
class ServerLog:
    """Every line a server process writes, read as it is written (so its pipe never fills)."""

    lines: list[str] = field(default_factory=list)
    thread: threading.Thread | None = None

    def text(self) -> str:
        return "".join(self.lines)


@contextmanager
def server_log(pid: int) -> Iterator[ServerLog]:
    """Read the output of the server ``pid`` (``running_server`` pipes it to the test
    process, which reads it only when the server fails to start); ends when it exits."""
    log = ServerLog()
    # On Linux, /proc/<pid>/fd/1 opens the same pipe the server writes to.
    stream = open(f"/proc/{pid}/fd/1", "rb")  # the reader thread closes it

    def drain() -> None:
        with stream:
            for line in stream:
                log.lines.append(line.decode(errors="replace"))

    log.thread = threading.Thread(target=drain, daemon=True)
    log.thread.start()
    yield log


def pg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def deadlocks(url: str) -> int:
    """PostgreSQL's count of deadlocks detected in this database."""
    conn = await asyncpg.connect(pg_dsn(url))
    try:
        count: int = await conn.fetchval(
            "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
        )
        return count
    finally:
        await conn.close()

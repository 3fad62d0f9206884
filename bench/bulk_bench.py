"""Bulk writes: ``logTimeEntries``, ``updateTimeEntries``, ``deleteTimeEntries`` of N entries
against N single ``logTimeEntry`` calls, on SQLite and PostgreSQL.

Each run starts from an empty, migrated database (SQLite: a temporary file; PostgreSQL: a
scratch database ``punchclock_bulk_bench``, dropped at the end) with one team, and drives
the application in-process through its ASGI interface (httpx ``ASGITransport``): what is
measured is the server's own work per call (parse, admission, the transaction), not a
network. Every answer is checked (no ``userErrors``, N entries).

    python bench/bulk_bench.py --items 500 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.seeding import drop_pg_database, recreate_pg_database, setup_teams

from gql.server.app import create_app
from gql.settings import Settings
from store.db import Database
from store.migrate import upgrade

ERRORS = "userErrors { code field message }"
LOG_MANY = f"mutation($i: LogTimeEntriesInput!) {{ logTimeEntries(input: $i) {{ {ERRORS} timeEntries {{ id }} }} }}"  # noqa: E501
UPDATE_MANY = f"mutation($i: UpdateTimeEntriesInput!) {{ updateTimeEntries(input: $i) {{ {ERRORS} timeEntries {{ id version }} }} }}"  # noqa: E501
DELETE_MANY = f"mutation($i: DeleteTimeEntriesInput!) {{ deleteTimeEntries(input: $i) {{ {ERRORS} timeEntries {{ id }} }} }}"  # noqa: E501
LOG = f"mutation($i: LogTimeEntryInput!) {{ logTimeEntry(input: $i) {{ {ERRORS} timeEntry {{ id }} }} }}"  # noqa: E501
START = datetime(2025, 3, 1, 8, tzinfo=UTC)


def items(team: dict[str, Any], n: int, offset: int) -> list[dict[str, Any]]:
    return [
        {
            "teamId": team["id"],
            "taskId": team["tasks"][k % len(team["tasks"])],
            "startedAt": (START - timedelta(minutes=30 * (offset + k))).isoformat(),
            "minutes": 25,
            "description": f"Imported row {offset + k}",
            "externalRef": {
                "provider": "csv",
                "externalType": "row",
                "externalId": f"{offset + k}",
            },
            "source": "IMPORT",
        }
        for k in range(n)
    ]


async def call(client: httpx.AsyncClient, token: str, query: str, given: dict[str, Any]) -> Any:
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": {"i": given}},
        headers={"authorization": f"Bearer {token}"},
    )
    body = response.json()
    [payload] = body["data"].values()
    assert payload["userErrors"] == [], payload["userErrors"]
    return payload


async def run(url: str, n: int, rounds: int) -> dict[str, list[float]]:
    await upgrade(url)
    db = Database(url)
    [team], token = await setup_teams(db, 1, members=2, tasks=10)
    await db.dispose()
    app = create_app(Settings(database_url=url))
    times: dict[str, list[float]] = {"log": [], "update": [], "delete": [], "singles": []}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b") as client,
    ):
        for r in range(rounds):
            began = time.perf_counter()
            logged = await call(client, token, LOG_MANY, {"entries": items(team, n, 2 * r * n)})
            times["log"].append(time.perf_counter() - began)
            ids = [e["id"] for e in logged["timeEntries"]]
            assert len(ids) == n
            began = time.perf_counter()
            await call(client, token, UPDATE_MANY, {"ids": ids, "changes": {"minutes": 20}})
            times["update"].append(time.perf_counter() - began)
            began = time.perf_counter()
            await call(client, token, DELETE_MANY, {"ids": ids})
            times["delete"].append(time.perf_counter() - began)
            began = time.perf_counter()
            for item in items(team, n, (2 * r + 1) * n):
                await call(client, token, LOG, item)
            times["singles"].append(time.perf_counter() - began)
    return times


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dialect", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    dialects = ["sqlite", "postgresql"] if args.dialect == "both" else [args.dialect]
    print(f"| database | {args.items} items: logTimeEntries | updateTimeEntries | "
          f"deleteTimeEntries | {args.items} x logTimeEntry |")  # fmt: skip
    print("| --- | --- | --- | --- | --- |")
    for dialect in dialects:
        if dialect == "sqlite":
            with tempfile.TemporaryDirectory() as tmp:
                times = await run(f"sqlite+aiosqlite:///{tmp}/bulk.db", args.items, args.rounds)
        else:
            url = await recreate_pg_database("punchclock_bulk_bench")
            try:
                times = await run(
                    url.replace("postgresql://", "postgresql+asyncpg://"), args.items, args.rounds
                )
            finally:
                await drop_pg_database("punchclock_bulk_bench")
        cells = [f"{statistics.median(times[k]):.2f} s" for k in ("log", "update", "delete")]
        print(f"| {dialect} | {' | '.join(cells)} | {statistics.median(times['singles']):.2f} s |")


if __name__ == "__main__":
    asyncio.run(main())

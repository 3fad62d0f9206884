"""Fuzzing: generated GraphQL operations (hypothesis-graphql, from the exported schema)
against a live uvicorn with a seeded database and a valid token.

Every operation must come back without HTTP 5xx, without an ``INTERNAL`` error, and
without anything of the server's internals in a message; the server must still answer
afterwards and have logged no unhandled exception. ``PUNCHCLOCK_FUZZ_OPERATIONS`` sets
how many operations run (CI default below; tests/reliability/README.md has the figures of
the last full run). ID arguments are drawn from the real ids of both seeded teams, so the
generated operations reach the resolvers instead of stopping at "not found".
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import graphql
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, from_schema

from store.db import Database
from tests.factories import add_entries, make_team
from tests.reliability.harness import server_process
from tests.services import IN_CI

pytestmark = pytest.mark.e2e

SCHEMA = (Path(__file__).parents[2] / "schema.graphql").read_text()
OPERATIONS = int(os.environ.get("PUNCHCLOCK_FUZZ_OPERATIONS", "500"))  # per database
LEAKS = ("Traceback", 'File "', "sqlalchemy", "asyncpg", "sqlite3", "/src/", "site-packages")


def _string(values: st.SearchStrategy[str]) -> st.SearchStrategy[graphql.ValueNode]:
    return st.builds(graphql.StringValueNode, value=values)


def _scalars(ids: list[str]) -> dict[str, st.SearchStrategy[graphql.ValueNode]]:
    instants = st.sampled_from(
        ["2025-03-10T09:00:00Z", "2025-03-10T10:30:00+01:00", "1970-01-01T00:00:00Z"]
    ) | st.text(max_size=30)
    dates = st.sampled_from(["2025-03-10", "2024-02-29", "9999-12-31"]) | st.text(max_size=12)
    big = st.integers(min_value=-(2**70), max_value=2**70).map(str)
    return {
        "ID": _string(st.sampled_from(ids) | st.text(max_size=30)),
        "DateTime": _string(instants),
        "Date": _string(dates),
        "BigInt": st.builds(graphql.IntValueNode, value=big),
    }


def _check(body: dict[str, Any], status: int, document: str) -> None:
    assert status < 500, (status, document, body)
    for error in body.get("errors") or []:
        code = (error.get("extensions") or {}).get("code")
        assert code != "INTERNAL", (document, error)
        message = error.get("message", "")
        assert not any(leak in message for leak in LEAKS), (document, error)


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
async def test_generated_operations_never_crash_the_server(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    acme = await make_team(db, "Acme", prefix="a")
    other = await make_team(db, "Acme", prefix="b")  # same names and keys, another team
    ids = [acme.id, other.id, acme.owner.id, other.owner.id, acme.member.id]
    ids += [*acme.tasks.values(), *acme.categories.values(), *other.tasks.values()]
    ids += await add_entries(
        db, team_id=acme.id, user_id=acme.owner.id, task_id=acme.tasks["T-1"], count=5
    )
    ids += await add_entries(
        db, team_id=other.id, user_id=other.owner.id, task_id=other.tasks["T-1"], count=2
    )
    scalars = _scalars(ids)
    # Mostly valid operations (they execute); a fifth are invalid documents.
    strategy = st.one_of(
        from_schema(SCHEMA, custom_scalars=scalars),
        from_schema(SCHEMA, custom_scalars=scalars),
        from_schema(SCHEMA, custom_scalars=scalars),
        from_schema(SCHEMA, custom_scalars=scalars),
        from_schema(SCHEMA, custom_scalars=scalars, mode=Mode.NEGATIVE),
    )
    counts = {"operations": 0, "errors": 0, "data": 0}
    log_path = tmp_path / "server.log"
    started = time.monotonic()
    with (
        server_process(database_url, log_path) as server,
        httpx.Client(base_url=server.base, timeout=30) as client,
    ):
        headers = {"authorization": f"Bearer {acme.owner.token}"}

        @settings(
            max_examples=OPERATIONS,
            database=None,
            deadline=None,
            derandomize=IN_CI,  # CI runs the same operations every time; locally new ones
            suppress_health_check=list(HealthCheck),
        )
        @given(document=strategy)
        def run(document: str) -> None:
            response = client.post("/graphql", json={"query": document}, headers=headers)
            counts["operations"] += 1
            assert response.status_code < 500, (response.status_code, document, response.text)
            body = response.json()
            counts["errors" if body.get("errors") else "data"] += 1
            _check(body, response.status_code, document)

        run()
        assert server.alive()
        after = client.post("/graphql", json={"query": "{ viewer { id } }"}, headers=headers)
        assert after.json()["data"]["viewer"]["id"] == acme.owner.id
    # Strawberry logs client errors too (with the scalar's traceback); what must not be
    # there is an unhandled exception (uvicorn) or a masked one (ours).
    log = log_path.read_text()
    for crash in ("Exception in ASGI application", "unexpected error (request"):
        assert crash not in log, log[log.index(crash) - 2000 : log.index(crash) + 2000]
    print(
        f"{database_url.split(':')[0]}: fuzzed {counts['operations']} operations in {time.monotonic() - started:.0f} s: "
        f"{counts['data']} answered with data only, {counts['errors']} with errors, 0 failures"
    )
    assert counts["operations"] >= OPERATIONS

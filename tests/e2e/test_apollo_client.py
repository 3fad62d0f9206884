"""Apollo Client, unmodified, against real servers: its persisted-queries link (hashes
over GET, as a CDN would see them), a mutation, and a GraphQLWsLink subscription; a
second instance answers a hash the first registered.

The client is ``tests/apollo/apollo.mjs`` (``@apollo/client`` pinned in
``tests/apollo/package-lock.json``); it logs every HTTP request it makes.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from store.db import Database
from tests.e2e.nodejs import TESTS, node_for
from tests.e2e.server import running_server
from tests.factories import make_team

pytestmark = pytest.mark.e2e


def _untyped(value: Any) -> Any:
    """``value`` without the ``__typename`` fields Apollo adds to every selection."""
    if isinstance(value, dict):
        return {k: _untyped(v) for k, v in value.items() if k != "__typename"}
    if isinstance(value, list):
        return [_untyped(v) for v in value]
    return value


async def test_apollo_client_with_persisted_queries_and_websockets(
    db: Database, database_url: str
) -> None:
    node = node_for("apollo", "@apollo/client")
    world = await make_team(db, "Acme", prefix="a")
    with running_server(database_url) as a, running_server(database_url) as b:
        done = subprocess.run(
            [node, "apollo.mjs", a, b, world.owner.token, world.id, world.tasks["T-1"]],
            cwd=TESTS / "apollo",
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    me = {"id": world.owner.id, "nickname": "a Owner", "teams": [{"id": world.id, "name": "Acme"}]}
    assert _untyped(report["viewer"]) == me
    assert report["viewerAgain"]["id"] == report["viewerElsewhere"]["id"] == world.owner.id
    assert report["team"]["name"] == "Acme"
    assert world.tasks["T-1"] in [task["id"] for task in report["team"]["tasks"]["nodes"]]
    started = report["started"]
    assert started["userErrors"] == [] and started["timeEntry"]["running"] is True
    assert report["event"]["kind"] == "STARTED"
    assert report["event"]["timeEntry"]["id"] == started["timeEntry"]["id"]
    steps = [
        (r["base"] == b, r["method"], r["sentQuery"], r["sentHash"], r["code"])
        for r in report["requests"]
    ]
    assert steps == [
        # The first query: the hash alone over GET, unknown; then the whole document.
        (False, "GET", False, True, "PERSISTED_QUERY_NOT_FOUND"),
        (False, "POST", True, True, None),
        # Again: the hash alone, known now.
        (False, "GET", False, True, None),
        # The team query, registered the same way.
        (False, "GET", False, True, "PERSISTED_QUERY_NOT_FOUND"),
        (False, "POST", True, True, None),
        # The mutation: POST (never GET), hash first.
        (False, "POST", False, True, "PERSISTED_QUERY_NOT_FOUND"),
        (False, "POST", True, True, None),
        # Instance B knows the viewer query's hash at once.
        (True, "GET", False, True, None),
    ], report["requests"]
    assert all(r["status"] == 200 for r in report["requests"])

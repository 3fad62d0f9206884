"""GraphQL over HTTP compliance, audited by an independent implementation.

``graphql-http`` (the reference implementation's audit suite, pinned in
``tests/audit/package-lock.json``) runs its ``serverAudits`` against a live server.
Every MUST passes; the SHOULD results are printed (``pytest -s``) and counted.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from store.db import Database
from tests.e2e.server import running_server
from tests.factories import make_team
from tests.services import IN_CI

pytestmark = pytest.mark.e2e

AUDIT = Path(__file__).parent.parent / "audit"


def _node() -> str:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        message = "node and npm are needed for the graphql-http audit"
        if IN_CI:
            pytest.fail(message + "; CI=true, so this fails instead of skipping")
        pytest.skip(message)
    if not (AUDIT / "node_modules" / "graphql-http").is_dir():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=AUDIT, check=True, capture_output=True
        )
    return node


@pytest.mark.parametrize("dialect", ["sqlite"])
async def test_graphql_http_server_audits(db: Database, database_url: str) -> None:
    node = _node()
    world = await make_team(db, "Acme", prefix="a")
    with running_server(database_url) as base:
        done = subprocess.run(
            [node, "audit.mjs", base + "/graphql", f"Bearer {world.owner.token}"],
            cwd=AUDIT,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
    results = json.loads(done.stdout)
    counts = Counter((r["name"].split()[0], r["status"]) for r in results)
    print("graphql-http serverAudits:", dict(sorted(counts.items())))
    for r in results:
        if r["status"] != "ok":
            print(f"  {r['status']}: {r['name']} ({r['reason']})")
    musts = [r for r in results if r["name"].startswith("MUST")]
    assert len(musts) >= 10, results  # the suite ran
    assert [r for r in musts if r["status"] != "ok"] == []

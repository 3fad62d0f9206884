"""GraphiQL's page and its vendored files: served from the package, checked, pinned."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime

import httpx

from gql.server import graphiql
from store import demo
from store.db import Database

VENDORED = graphiql.STATIC / "graphiql"


def test_the_vendored_files_are_the_ones_recorded() -> None:
    sums = {}
    for line in (VENDORED / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split()
        sums[name] = digest
    on_disk = {p.name for p in VENDORED.iterdir()} - {"SHA256SUMS"}
    assert set(sums) == on_disk
    for name, digest in sums.items():
        assert hashlib.sha256((VENDORED / name).read_bytes()).hexdigest() == digest, name
    versions = (VENDORED / "VERSIONS").read_text().split()
    assert {"graphiql@3.8.3", "react@18.3.1", "react-dom@18.3.1"} <= set(versions)
    for licence in ("LICENSE.graphiql", "LICENSE.react", "LICENSE.react-dom"):
        assert "MIT License" in (VENDORED / licence).read_text()


def _config(page: str) -> dict[str, str]:
    found = re.search(
        r'<script id="punchclock-config" type="application/json">(.*?)</script>', page
    )
    assert found is not None
    config: dict[str, str] = json.loads(found.group(1))
    return config


async def test_the_page_loads_nothing_from_elsewhere(app_client: httpx.AsyncClient) -> None:
    page = await app_client.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(s.startswith("/static/") or s == "data:," for s in sources), sources
    for source in sources:
        if source.startswith("/static/"):
            served = await app_client.get(source)
            assert served.status_code == 200 and served.content, source
    assert _config(page.text)["path"] == "/graphql"


async def test_the_example_opens_on_the_demo_team(
    db: Database, app_client: httpx.AsyncClient
) -> None:
    page = await app_client.get("/graphql", headers={"accept": "text/html"})
    assert json.loads(_config(page.text)["variables"]) == {"teamId": ""}
    seeded = await demo.seed_demo(db, now=datetime(2026, 11, 30, 12, tzinfo=UTC))
    page = await app_client.get("/graphql", headers={"accept": "text/html"})
    config = _config(page.text)
    assert json.loads(config["variables"]) == {"teamId": seeded.team_id}
    assert "query Team($teamId: ID!)" in config["query"]
    assert "subscription Timers($teamId: ID!)" in config["query"]

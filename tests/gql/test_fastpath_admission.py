"""The compiled read path is admitted like standard execution: query limits, NUL refusal,
rate limiting (charged once, also when it hands the work back), ``extensions.cost`` and
metrics. Each document here is plannable, so the fast path is what answers it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from gql.compiler import Compiler
from gql.schema.build import schema
from store.db import Database
from tests.factories import make_team

PAGE = """query FastPage($teamId: ID!, $first: Int, $after: String) {
  timeEntries(filter: {teamId: $teamId}, first: $first, after: $after) {
    nodes { id user { id nickname } } } }"""

MakeClient = Any


@pytest.fixture(autouse=True)
def _plannable() -> None:
    assert Compiler(schema).plan(PAGE, None) is not None, "PAGE must take the fast path"


async def _post(client: httpx.AsyncClient, token: str, variables: dict[str, Any]) -> Any:
    response = await client.post(
        "/graphql",
        json={"query": PAGE, "variables": variables},
        headers={"authorization": f"Bearer {token}"},
    )
    return response.status_code, response.json()


def _codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors") or []]


async def test_fast_pages_are_rate_limited_and_charged_once(
    db: Database, make_client: MakeClient
) -> None:
    world = await make_team(db, "Acme", prefix="a")
    client = await make_client(
        rate_limit_enabled=True, rate_limit_points=3, rate_limit_window_seconds=3600
    )
    token = world.owner.token
    status, body = await _post(client, token, {"teamId": world.id, "first": 10})
    assert status == 200 and _codes(body) == [], body
    assert body["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 2
    # A cursor that does not decode: the fast path was charged, hands the work back (and
    # the point), standard execution charges once and refuses the cursor.
    _, body = await _post(client, token, {"teamId": world.id, "first": 10, "after": "?"})
    assert body["data"] is None and _codes(body) == ["VALIDATION"], body
    _, body = await _post(client, token, {"teamId": world.id, "first": 10})
    assert _codes(body) == [], body
    assert body["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 0
    status, body = await _post(client, token, {"teamId": world.id, "first": 10})
    assert status == 429 and _codes(body) == ["RATE_LIMITED"], body


async def test_fast_pages_obey_the_query_limits_and_refuse_nul(
    db: Database, make_client: MakeClient
) -> None:
    world = await make_team(db, "Acme", prefix="a")
    client = await make_client(max_depth=3)  # PAGE is 4 deep: timeEntries nodes user id
    _, body = await _post(client, world.owner.token, {"teamId": world.id, "first": 10})
    assert _codes(body) == ["QUERY_TOO_COMPLEX"] and body["data"] is None, body

    client = await make_client()
    _, body = await _post(client, world.owner.token, {"teamId": world.id, "first": 101})
    assert _codes(body) == ["QUERY_TOO_COMPLEX"] and body["data"] is None, body
    _, body = await _post(client, world.owner.token, {"teamId": world.id + "\x00"})
    assert _codes(body) == ["BAD_USER_INPUT"] and body["data"] is None, body


async def test_fast_pages_report_their_cost_and_are_counted(
    db: Database, make_client: MakeClient
) -> None:
    world = await make_team(db, "Acme", prefix="a")
    client = await make_client()
    for _ in range(3):
        status, body = await _post(client, world.owner.token, {"teamId": world.id, "first": 10})
        assert status == 200 and _codes(body) == [], body
        assert body["extensions"]["cost"]["requestedQueryCost"] >= 1
    metrics = (await client.get("/metrics")).text
    assert 'punchclock_operations_total{operation="FastPage",type="query"} 3.0' in metrics
    assert 'punchclock_operation_duration_seconds_count{operation="FastPage"} 3.0' in metrics

"""The Idempotency-Key header: the idempotencyKey of a one-mutation request."""

from __future__ import annotations

from typing import Any

import httpx
from sqlmodel import func, select

from store.db import Database
from store.models import TimeEntry
from tests.factories import TeamWorld, make_team
from tests.gql.mutation_helpers import LOG

MakeClient = Any


async def _post(
    client: httpx.AsyncClient, world: TeamWorld, body: dict[str, Any], key: str | None
) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {world.owner.token}"}
    if key is not None:
        headers["idempotency-key"] = key
    response = await client.post("/graphql", json=body, headers=headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def _entries(db: Database) -> int:
    async with db.read() as session:
        return int((await session.exec(select(func.count()).select_from(TimeEntry))).one())


def _input(world: TeamWorld, **extra: Any) -> dict[str, Any]:
    return {
        "teamId": world.id,
        "taskId": world.tasks["T-1"],
        "workDate": "2026-11-20",
        "minutes": 30,
        **extra,
    }


async def test_the_header_makes_a_repeat_a_replay(db: Database, make_client: MakeClient) -> None:
    world = await make_team(db, "Acme", prefix="a")
    for fast_path in (True, False):  # the compiled write path and standard execution
        client = await make_client(fast_path=fast_path)
        key = f"seed-{fast_path}"
        body = {"query": LOG, "variables": {"input": _input(world)}}
        first = (await _post(client, world, body, key))["data"]["logTimeEntry"]
        again = (await _post(client, world, body, key))["data"]["logTimeEntry"]
        assert first["userErrors"] == [] and first["replayed"] is False
        assert again["replayed"] is True
        assert again["timeEntry"]["id"] == first["timeEntry"]["id"]
        # The header and the field are one key: the field alone replays it too.
        same = {"query": LOG, "variables": {"input": _input(world, idempotencyKey=key)}}
        by_field = (await _post(client, world, same, None))["data"]["logTimeEntry"]
        assert by_field["replayed"] is True
        assert by_field["timeEntry"]["id"] == first["timeEntry"]["id"]
        # Other input with the same key: the mutation's own conflict.
        other = {"query": LOG, "variables": {"input": _input(world, minutes=45)}}
        conflict = (await _post(client, world, other, key))["data"]["logTimeEntry"]
        assert [e["code"] for e in conflict["userErrors"]] == ["IDEMPOTENCY_CONFLICT"]
    assert await _entries(db) == 2


async def test_the_header_reaches_an_inline_input(db: Database, make_client: MakeClient) -> None:
    world = await make_team(db, "Acme", prefix="a")
    client = await make_client()
    doc = (
        'mutation {{ logTimeEntry(input: {{teamId: "{}", taskId: "{}", minutes: 20, workDate: "2026-11-20"}}) '
        "{{ replayed userErrors {{ code }} timeEntry {{ id }} }} }}"
    ).format(world.id, world.tasks["T-1"])
    first = (await _post(client, world, {"query": doc}, "inline-1"))["data"]["logTimeEntry"]
    again = (await _post(client, world, {"query": doc}, "inline-1"))["data"]["logTimeEntry"]
    assert (first["replayed"], again["replayed"]) == (False, True)
    assert again["timeEntry"]["id"] == first["timeEntry"]["id"]
    assert await _entries(db) == 1


async def test_header_and_field_that_differ_conflict(db: Database, make_client: MakeClient) -> None:
    world = await make_team(db, "Acme", prefix="a")
    client = await make_client()
    body = {"query": LOG, "variables": {"input": _input(world, idempotencyKey="field")}}
    answer = await _post(client, world, body, "header")
    assert "data" not in answer or answer["data"] is None
    assert [e["extensions"]["code"] for e in answer["errors"]] == ["IDEMPOTENCY_CONFLICT"]
    doc = (
        'mutation {{ logTimeEntry(input: {{teamId: "{}", taskId: "{}", minutes: 20, workDate: "2026-11-20", '
        'idempotencyKey: "field"}}) {{ replayed }} }}'
    ).format(world.id, world.tasks["T-1"])
    answer = await _post(client, world, {"query": doc}, "header")
    assert [e["extensions"]["code"] for e in answer["errors"]] == ["IDEMPOTENCY_CONFLICT"]
    assert await _entries(db) == 0


async def test_the_header_obeys_the_fields_rules(db: Database, make_client: MakeClient) -> None:
    world = await make_team(db, "Acme", prefix="a")
    client = await make_client()
    body = {"query": LOG, "variables": {"input": _input(world)}}
    payload = (await _post(client, world, body, "k" * 256))["data"]["logTimeEntry"]
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
        ("VALIDATION", ["input", "idempotencyKey"])
    ]
    two = {
        "query": "mutation($i: LogTimeEntryInput!) { a: logTimeEntry(input: $i) { replayed } "
        "b: logTimeEntry(input: $i) { replayed } }",
        "variables": {"i": _input(world)},
    }
    answer = await _post(client, world, two, "two")
    assert [e["extensions"]["code"] for e in answer["errors"]] == ["VALIDATION"]
    # A query ignores the header.
    query = await _post(client, world, {"query": "{ viewer { id } }"}, "q")
    assert query["data"] == {"viewer": {"id": world.owner.id}}
    assert await _entries(db) == 0

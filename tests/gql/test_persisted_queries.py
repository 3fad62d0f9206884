"""Automatic persisted queries (Apollo's protocol) and the allow-list mode."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from store.db import Database
from store.ids import new_id
from tests.factories import TeamWorld, make_team
from tests.services import REDIS_URL, require

MakeClient = Any
VIEWER = "query Me { viewer { id } }"


def _sha(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


def _extensions(document: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": _sha(document)}}


async def _post(client: httpx.AsyncClient, world: TeamWorld, body: Any) -> httpx.Response:
    return await client.post(
        "/graphql", json=body, headers={"authorization": f"Bearer {world.owner.token}"}
    )


async def _get(client: httpx.AsyncClient, world: TeamWorld, params: dict[str, str]) -> Any:
    response = await client.get(
        "/graphql", params=params, headers={"authorization": f"Bearer {world.owner.token}"}
    )
    return response.json()


def _code(body: dict[str, Any]) -> str:
    code: str = body["errors"][0]["extensions"]["code"]
    return code


@pytest.mark.parametrize("shared", ["database", "redis"])
async def test_register_on_the_full_query_then_run_by_hash_anywhere(
    db: Database, make_client: MakeClient, shared: str
) -> None:
    settings: dict[str, Any] = {}
    if shared == "redis":
        require(REDIS_URL, "redis")
        settings = {"redis_url": REDIS_URL, "redis_key_prefix": "test-" + new_id()}
    world = await make_team(db, "Acme", prefix="a")
    first, second = await make_client(**settings), await make_client(**settings)
    document = VIEWER + " # " + new_id()  # a document no earlier run registered
    hashed = {"extensions": _extensions(document), "operationName": "Me"}
    missing = await _post(first, world, hashed)
    assert missing.status_code == 200
    assert missing.headers["cache-control"] == "no-store"
    assert missing.json()["errors"][0] == {
        "message": "PersistedQueryNotFound",
        "extensions": {
            "code": "PERSISTED_QUERY_NOT_FOUND",
            "requestId": missing.headers["x-request-id"],
        },
    }
    registered = await _post(first, world, {**hashed, "query": document})
    assert registered.json()["data"] == {"viewer": {"id": world.owner.id}}
    # The other instance (its own process cache is empty) finds it in the shared store,
    # over POST and over GET, the way a CDN would fetch it.
    by_hash = (await _post(second, world, hashed)).json()
    assert by_hash["data"] == {"viewer": {"id": world.owner.id}}
    params = {"operationName": "Me", "extensions": json.dumps(_extensions(document))}
    assert (await _get(second, world, params))["data"] == {"viewer": {"id": world.owner.id}}


async def test_variables_and_get_with_a_hash(db: Database, make_client: MakeClient) -> None:
    world = await make_team(db, "Acme", prefix="a")
    client = await make_client()
    document = "query Team($id: ID!) { team(id: $id) { name } }"
    variables = {"id": world.id}
    params = {"extensions": json.dumps(_extensions(document)), "variables": json.dumps(variables)}
    assert _code(await _get(client, world, params)) == "PERSISTED_QUERY_NOT_FOUND"
    body = await _get(client, world, {**params, "query": document})
    assert body["data"] == {"team": {"name": "Acme"}}
    assert (await _get(client, world, params))["data"] == {"team": {"name": "Acme"}}


async def test_refusals(db: Database, make_client: MakeClient) -> None:
    world = await make_team(db, "Acme", prefix="a")
    client = await make_client()
    wrong = {"query": VIEWER, "extensions": _extensions(VIEWER + " ")}
    assert _code((await _post(client, world, wrong)).json()) == "PERSISTED_QUERY_HASH_MISMATCH"
    for bad in ({"version": 2, "sha256Hash": _sha(VIEWER)}, {"version": 1, "sha256Hash": "x"}):
        body = (await _post(client, world, {"extensions": {"persistedQuery": bad}})).json()
        assert _code(body) == "PERSISTED_QUERY_INVALID"
    # A refused hash registered nothing.
    body = (await _post(client, world, {"extensions": _extensions(VIEWER + " ")})).json()
    assert _code(body) == "PERSISTED_QUERY_NOT_FOUND"


async def test_the_store_is_bounded(db: Database, make_client: MakeClient) -> None:
    world = await make_team(db, "Acme", prefix="a")
    client = await make_client(persisted_queries_max=2)
    documents = [f"{{ viewer {{ id }} }} # {n}" for n in range(3)]
    for document in documents:
        body = await _post(client, world, {"query": document, "extensions": _extensions(document)})
        assert body.json()["data"] == {"viewer": {"id": world.owner.id}}
    fresh = await make_client(persisted_queries_max=2)
    found = [(await _post(fresh, world, {"extensions": _extensions(d)})).json() for d in documents]
    assert [_code(found[0])] == ["PERSISTED_QUERY_NOT_FOUND"]  # the oldest went first
    assert [f["data"] for f in found[1:]] == [{"viewer": {"id": world.owner.id}}] * 2


async def test_allow_list_mode(db: Database, make_client: MakeClient, tmp_path: Path) -> None:
    world = await make_team(db, "Acme", prefix="a")
    manifest = tmp_path / "operations.json"
    manifest.write_text(
        json.dumps(
            {
                "format": "apollo-persisted-query-manifest",
                "version": 1,
                "operations": [{"id": _sha(VIEWER), "name": "Me", "type": "query", "body": VIEWER}],
            }
        )
    )
    client = await make_client(persisted_queries_file=str(manifest), persisted_queries_only=True)
    me = {"viewer": {"id": world.owner.id}}
    assert (await _post(client, world, {"extensions": _extensions(VIEWER)})).json()["data"] == me
    assert (await _post(client, world, {"query": VIEWER})).json()["data"] == me
    other = "{ teams { id } }"
    for body in ({"query": other}, {"query": other, "extensions": _extensions(other)}):
        assert _code((await _post(client, world, body)).json()) == "PERSISTED_QUERY_NOT_ALLOWED"
    assert _code(await _get(client, world, {"query": other})) == "PERSISTED_QUERY_NOT_ALLOWED"
    body = (await _post(client, world, {"extensions": _extensions(other)})).json()
    assert _code(body) == "PERSISTED_QUERY_NOT_FOUND"  # and nothing was registered


async def test_a_relay_style_operations_file(
    db: Database, make_client: MakeClient, tmp_path: Path
) -> None:
    world = await make_team(db, "Acme", prefix="a")
    operations = tmp_path / "persisted-queries.json"
    operations.write_text(json.dumps({"me-1": VIEWER}))
    client = await make_client(persisted_queries_file=str(operations))
    body = (await _post(client, world, {"extensions": _extensions(VIEWER)})).json()
    assert body["data"] == {"viewer": {"id": world.owner.id}}
    # Without allow-list mode, other documents run as ever.
    assert (await _post(client, world, {"query": "{ teams { name } }"})).json()["data"] == {
        "teams": [{"name": "Acme"}]
    }

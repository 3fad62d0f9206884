"""Query limits: depth, aliases, tokens, page size and total nodes, before execution."""

from __future__ import annotations

import gc
import time
from typing import Any

import httpx
from graphql import ASTValidationRule, get_introspection_query, validate

from gql.guard.admission import budget_rule, parse_limited
from gql.guard.limits import _measure, _measure_cached, measure
from gql.schema.build import schema
from gql.schema.types.pagination import DEFAULT_PAGE
from store.db import Database
from tests.factories import make_team
from tests.hostile import HOSTILE, fragment_bomb, wide_alias_fragments

MODERN = {"accept": "application/graphql-response+json"}


async def post(
    client: httpx.AsyncClient,
    query: str,
    token: str | None,
    variables: dict[str, Any] | None = None,
) -> httpx.Response:
    headers = {**MODERN, **({"authorization": f"Bearer {token}"} if token else {})}
    return await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )


def refused(response: httpx.Response) -> str:
    """The message of a QUERY_TOO_COMPLEX refusal; asserts nothing ran."""
    body = response.json()
    assert response.status_code == 400, body
    assert "data" not in body, body
    [error] = body["errors"]
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX", body
    message: str = error["message"]
    return message


DEEP = "{ viewer { teams { categories { parent { parent { parent { parent { parent { parent { parent { id } } } } } } } } } } }"


async def test_depth_over_the_limit_is_refused(db: Database, make_client: Any) -> None:
    world = await make_team(db, "Acme", prefix="a")
    client = await make_client()
    assert "Depth 11 exceeds the limit of 10" in refused(
        await post(client, DEEP, world.owner.token)
    )
    shallow = DEEP.replace("parent { id }", "id")
    body = (await post(client, shallow, world.owner.token)).json()
    assert body["data"]["viewer"]["teams"][0]["categories"], body

    tight = await make_client(max_depth=2)
    assert "Depth 3 exceeds the limit of 2" in refused(
        await post(tight, "{ viewer { teams { id } } }", world.owner.token)
    )


async def test_aliases_over_the_limit_are_refused(db: Database, make_client: Any) -> None:
    world = await make_team(db, "Acme", prefix="a")
    client = await make_client()
    many = "{ " + " ".join(f"a{i}: viewer {{ id }}" for i in range(31)) + " }"
    assert "31 aliases exceed the limit of 30" in refused(
        await post(client, many, world.owner.token)
    )
    thirty = "{ " + " ".join(f"a{i}: viewer {{ id }}" for i in range(30)) + " }"
    body = (await post(client, thirty, world.owner.token)).json()
    assert body["data"]["a29"] == {"id": world.owner.id}


async def test_aliases_in_fragments_count_per_use(db: Database, make_client: Any) -> None:
    world = await make_team(db, "Acme", prefix="a")
    client = await make_client(max_aliases=3)
    doc = "{ a: viewer { ...F } b: viewer { ...F } } fragment F on User { x: id }"
    assert "4 aliases exceed the limit of 3" in refused(await post(client, doc, world.owner.token))


async def test_tokens_over_the_limit_are_refused(db: Database, make_client: Any) -> None:
    world = await make_team(db, "Acme", prefix="a")
    client = await make_client(max_tokens=100)
    doc = "{ viewer { " + "id " * 120 + "} }"
    assert "more than 100 tokens" in refused(await post(client, doc, world.owner.token))


async def test_page_size_over_100_is_refused_before_execution(
    db: Database, make_client: Any
) -> None:
    world = await make_team(db, "Acme", prefix="a")
    client = await make_client()
    doc = (
        "query($f: TimeEntryFilter!, $n: Int) { timeEntries(filter: $f, first: $n) { totalCount } }"
    )
    message = refused(
        await post(client, doc, world.owner.token, {"f": {"teamId": world.id}, "n": 101})
    )
    assert "`first` may not exceed 100 (got 101)" in message
    body = (
        await post(client, doc, world.owner.token, {"f": {"teamId": world.id}, "n": 100})
    ).json()
    assert body["data"] == {"timeEntries": {"totalCount": 0}}


NESTED = """query($f: TimeEntryFilter!, $outer: Int, $inner: Int) {
  timeEntries(filter: $f, first: $outer) { nodes { task { timeEntries(first: $inner) { nodes { id } } } } } }"""


async def test_total_nodes_multiply_nested_pages(db: Database, make_client: Any) -> None:
    world = await make_team(db, "Acme", prefix="a")
    client = await make_client()
    f = {"teamId": world.id}
    # 100 entries x 100 entries of their tasks: more than 10,000 nodes.
    message = refused(
        await post(client, NESTED, world.owner.token, {"f": f, "outer": 100, "inner": 100})
    )
    assert "more than the limit of 10000" in message
    # 40 x 50 fits, and the response says what it cost.
    body = (
        await post(client, NESTED, world.owner.token, {"f": f, "outer": 40, "inner": 50})
    ).json()
    assert body["data"] == {"timeEntries": {"nodes": []}}
    # timeEntries 40 + nodes 40 + task 40 + timeEntries 40*50 + nodes 2000
    assert body["extensions"]["cost"] == {
        "requestedQueryCost": 42,
        "nodes": 4120,
        "maximumNodes": 10000,
    }
    # The argument's default (50) counts when `first` is left out.
    tight = await make_client(max_nodes=2000)
    message = refused(
        await post(
            tight, NESTED.replace(", first: $inner", ""), world.owner.token, {"f": f, "outer": 40}
        )
    )
    assert "may return 4120 nodes" in message


async def test_every_response_reports_its_cost(db: Database, make_client: Any) -> None:
    world = await make_team(db, "Acme", prefix="a")
    client = await make_client()
    body = (await post(client, "{ viewer { id } }", world.owner.token)).json()
    assert body["extensions"]["cost"]["requestedQueryCost"] == 1
    mutation = (
        'mutation { createTask(input: {teamId: "%s", key: "K", title: "T"}) { task { id } } }'
    )
    body = (await post(client, mutation % world.id, world.owner.token)).json()
    assert body["data"]["createTask"]["task"]["id"]
    assert body["extensions"]["cost"]["requestedQueryCost"] == 11  # 1 + 10 per mutation


async def test_introspection_works_and_counts_toward_the_limits(make_client: Any) -> None:
    client = await make_client()
    query = get_introspection_query(descriptions=True, input_value_deprecation=True)
    response = await post(client, query, None)
    body = response.json()
    assert response.status_code == 200, body
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"
    assert body["extensions"]["cost"]["requestedQueryCost"] >= 1
    tight = await make_client(max_depth=3)
    assert "exceeds the limit of 3" in refused(await post(tight, query, None))


async def test_field_suggestions_only_for_signed_in_clients(db: Database, make_client: Any) -> None:
    world = await make_team(db, "Acme", prefix="a")
    client = await make_client()
    typo = "{ __schema { qeryType { name } } }"
    anonymous = (await post(client, typo, None)).json()["errors"][0]["message"]
    signed_in = (await post(client, typo, world.owner.token)).json()["errors"][0]["message"]
    assert anonymous == "Cannot query field 'qeryType' on type '__Schema'."
    assert "Did you mean 'queryType'?" in signed_in


async def test_syntax_errors_are_request_errors(db: Database, make_client: Any) -> None:
    world = await make_team(db, "Acme", prefix="a")
    client = await make_client()
    response = await post(client, "{", world.owner.token)
    body = response.json()
    assert response.status_code == 400
    assert "data" not in body
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


NESTED_PAGES = """query($t: ID!, $a: Int, $b: Int = 7) {
  a: timeEntries(filter: {teamId: $t}, first: $a) { nodes { id } }
  b: team(id: $t) { tasks(first: $b) { nodes { id } } }
  c: timeEntries(filter: {teamId: $t}, first: $a) { nodes { id } }
}"""


def test_measures_are_cached_per_document_and_page_variables() -> None:
    """A repeated document is measured from the cache, for each value of its page
    variables apart, and always as an uncached walk measures it; a change in any other
    variable does not miss the cache."""
    document = parse_limited(NESTED_PAGES, 2000)
    graphql_schema = schema._schema
    cases: list[dict[str, Any]] = [
        {},
        {"a": 1},
        {"a": 5, "b": 2},
        {"a": 1.0},  # equal to 1 as a key; the walk takes its default instead
        {"a": True},
        {"a": None, "b": None},
        {"a": [1]},  # unhashable: measured without the cache
        {"a": 1},
    ]
    sizes = []
    for given in cases:
        for t in ("team-1", "team-2"):  # not a page variable: the same measure
            variables = {"t": t, **given}
            found = measure(graphql_schema, document, None, variables)
            assert found == _measure(graphql_schema, document, None, variables), given
            assert found is not None
            sizes.append(found.largest_page)
    assert sizes[::2] == sizes[1::2]  # $t changes nothing
    # The largest page: `first`'s default, or $b's own default 7, or what is given. 1.0 is
    # no int to the walk (the default), whatever the cache holds for 1.
    assert sizes[::2] == [DEFAULT_PAGE, 7, 5, DEFAULT_PAGE, 7, DEFAULT_PAGE, DEFAULT_PAGE, 7]
    info = _measure_cached.cache_info()
    measure(graphql_schema, document, None, {"t": "team-3", "a": 5, "b": 2})
    assert _measure_cached.cache_info().hits == info.hits + 1


def test_fragments_count_once_per_use_in_linear_time() -> None:
    """The bomb's 2**25 expanded fields are counted exactly, from 26 fragment summaries
    (an expanding walk would not finish)."""
    document = parse_limited(fragment_bomb(25), 2000)
    found = measure(schema._schema, document, None, None)
    assert found.fields == 2**25 + 1  # viewer, then id 2**25 times
    assert (found.depth, found.aliases, found.nodes) == (2, 0, 1)
    wide = measure(schema._schema, parse_limited(wide_alias_fragments(20, 20), 2000), None, None)
    assert wide.aliases == 20 * 2**20


async def test_hostile_documents_are_refused_before_validation(
    db: Database, make_client: Any, monkeypatch: Any
) -> None:
    world = await make_team(db, "Acme", prefix="a")
    client = await make_client()

    def never(*_: object, **__: object) -> None:
        raise AssertionError("validated a document over the limits")

    monkeypatch.setattr("gql.guard.admission.validate", never)
    for name, make in HOSTILE.items():
        for token in (world.owner.token, None):  # refused before authentication too
            message = refused(await post(client, make(), token))
            assert "exceed" in message or "more than the limit" in message, (name, message)


async def test_fields_and_variables_are_limited(db: Database, make_client: Any) -> None:
    world = await make_team(db, "Acme", prefix="a")
    client = await make_client(max_fields=100, max_variables=3)
    doc = "{ viewer { ...F ...F } } fragment F on User { " + "id " * 50 + "}"
    assert "selects 101 fields with its fragments expanded, more than the limit of 100" in (
        refused(await post(client, doc, world.owner.token))
    )
    doc = "query($a: Int, $b: Int, $c: Int, $d: Int) { viewer { id } }"
    assert "4 variables exceed the limit of 3" in refused(
        await post(client, doc, world.owner.token)
    )
    body = await post(client, "{ viewer { ...F } } fragment F on User { id }", world.owner.token)
    assert body.json()["data"]["viewer"]["id"] == world.owner.id


async def test_validation_runs_within_its_cpu_budget(db: Database, make_client: Any) -> None:
    world = await make_team(db, "Acme", prefix="a")
    starved = await make_client(validation_budget_ms=0.000001)
    message = refused(await post(starved, "{ viewer { id nickname } }", world.owner.token))
    assert message.startswith("Validating the document took more than 1e-06 ms of CPU")
    client = await make_client()
    body = (await post(client, "{ viewer { id nickname } }", world.owner.token)).json()
    assert body["data"]["viewer"]["id"] == world.owner.id


def test_the_validation_budget_leaves_garbage_collections_out() -> None:
    """Regression: a full collection that happened to run inside validation (50 ms with
    the whole suite's heap) made a small mutation 'take more than 50 ms' and refused it."""
    junk = [[{} for _ in range(50)] for _ in range(20_000)]  # a collection of tens of ms
    spent: list[float] = []

    class Collects(ASTValidationRule):
        def enter_document(self, *_: object) -> None:
            started = time.thread_time()
            gc.collect()
            spent.append(time.thread_time() - started)

    document = parse_limited("{ viewer { id nickname } }", 2000)
    errors = validate(schema._schema, document, [Collects, budget_rule(5)])
    assert spent and spent[0] > 0.005, spent  # the collection alone was over the budget
    assert errors == []
    del junk

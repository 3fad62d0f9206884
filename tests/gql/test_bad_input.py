"""Bad input gets a coded error and changes nothing: the database dump is identical after."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

from store.db import Database
from store.ids import new_id
from store.models import metadata
from tests.conftest import GQL
from tests.factories import make_team
from tests.gql.mutation_helpers import COMMENT, DELETE, LOCK, LOG, START, STOP, TRANSITION, UPDATE

TEAM = """mutation($input: CreateTeamInput!) { createTeam(input: $input) { replayed userErrors { code field message } team { id } } }"""
UPDATE_TEAM = """mutation($input: UpdateTeamInput!) { updateTeam(input: $input) { replayed userErrors { code field message } team { id } } }"""
CATEGORY = """mutation($input: CreateCategoryInput!) { createCategory(input: $input) { replayed userErrors { code field message } category { id } } }"""
UPDATE_CATEGORY = """mutation($input: UpdateCategoryInput!) { updateCategory(input: $input) { replayed userErrors { code field message } category { id } } }"""
TASK = """mutation($input: CreateTaskInput!) { createTask(input: $input) { replayed userErrors { code field message } task { id } } }"""
MEMBER = """mutation($input: AddTeamMemberInput!) { addTeamMember(input: $input) { replayed userErrors { code field message } member { role } } }"""


async def dump(db: Database) -> list[tuple[str, list[tuple[Any, ...]]]]:
    """Every row of every table, in primary-key order."""
    out = []
    async with db.engine.connect() as conn:
        for table in metadata.sorted_tables:
            rows = (await conn.execute(select(table).order_by(*table.primary_key.columns))).all()
            out.append((table.name, [tuple(r) for r in rows]))
    return out


async def test_bad_input_catalogue_changes_nothing(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a")
    other = await make_team(db, "Other", prefix="b")
    member = world.member.token
    # Something to edit, a running timer, and a locked period.
    logged = await gql(
        LOG,
        {
            "input": {
                "teamId": world.id,
                "taskId": world.tasks["T-2"],
                "startedAt": "2025-03-10T09:00:00Z",
                "duration": "1h",
            }
        },
        token=member,
    )
    entry_id = logged["data"]["logTimeEntry"]["timeEntry"]["id"]
    old = await gql(
        LOG,
        {
            "input": {
                "teamId": world.id,
                "taskId": world.tasks["T-2"],
                "startedAt": "2025-01-10T09:00:00Z",
                "duration": "1h",
            }
        },
        token=member,
    )
    old_id = old["data"]["logTimeEntry"]["timeEntry"]["id"]
    other_entry = await gql(
        LOG,
        {
            "input": {
                "teamId": other.id,
                "taskId": other.tasks["T-2"],
                "startedAt": "2025-03-10T09:00:00Z",
                "duration": "1h",
            }
        },
        token=other.member.token,
    )
    other_entry_id = other_entry["data"]["logTimeEntry"]["timeEntry"]["id"]
    await gql(START, {"input": {"teamId": world.id, "taskId": world.tasks["T-1"]}}, token=member)
    await gql(
        LOCK,
        {"input": {"teamId": world.id, "before": "2025-02-01T00:00:00Z"}},
        token=world.admin.token,
    )

    log = {
        "teamId": world.id,
        "taskId": world.tasks["T-2"],
        "startedAt": "2025-03-12T09:00:00Z",
        "duration": "1h",
    }
    no_length = {k: v for k, v in log.items() if k != "duration"}
    no_scope = {k: v for k, v in log.items() if k != "taskId"}
    cases: list[tuple[str, str, dict[str, Any], str, list[str] | None]] = [
        ("unknown task", LOG, {**log, "taskId": new_id()}, "NOT_FOUND", ["input", "taskId"]),
        (
            "task of another team",
            LOG,
            {**log, "taskId": other.tasks["T-2"]},
            "NOT_FOUND",
            ["input", "taskId"],
        ),
        (
            "category of another team",
            LOG,
            {**no_scope, "categoryId": other.categories["dev"]},
            "NOT_FOUND",
            ["input", "categoryId"],
        ),
        ("team of another", LOG, {**log, "teamId": other.id}, "NOT_FOUND", ["input", "teamId"]),
        ("unknown team", LOG, {**log, "teamId": new_id()}, "NOT_FOUND", ["input", "teamId"]),
        (
            "both task and category",
            LOG,
            {**log, "categoryId": world.categories["dev"]},
            "VALIDATION",
            None,
        ),
        # Field paths name a field that was sent (amendment): here none was, so the input.
        ("neither task nor category", LOG, no_scope, "VALIDATION", ["input"]),
        ("no length", LOG, no_length, "VALIDATION", ["input"]),
        (
            "no start",
            LOG,
            {k: v for k, v in log.items() if k != "startedAt"},
            "VALIDATION",
            ["input"],
        ),
        (
            "zero seconds",
            LOG,
            {**no_length, "durationSeconds": 0},
            "VALIDATION",
            ["input", "durationSeconds"],
        ),
        (
            "negative seconds",
            LOG,
            {**no_length, "durationSeconds": -60},
            "VALIDATION",
            ["input", "durationSeconds"],
        ),
        (
            "over 24 hours",
            LOG,
            {**no_length, "durationSeconds": 86_401},
            "VALIDATION",
            ["input", "durationSeconds"],
        ),
        ("zero minutes", LOG, {**no_length, "minutes": 0}, "VALIDATION", ["input", "minutes"]),
        ("1441 minutes", LOG, {**no_length, "minutes": 1441}, "VALIDATION", ["input", "minutes"]),
        ("hours not decimal", LOG, {**no_length, "hours": "2,5"}, "VALIDATION", ["input", "hours"]),
        ("hours negative", LOG, {**no_length, "hours": "-1"}, "VALIDATION", ["input", "hours"]),
        ("hours too many", LOG, {**no_length, "hours": "24.5"}, "VALIDATION", ["input", "hours"]),
        ("bare number", LOG, {**no_length, "duration": "90"}, "VALIDATION", ["input", "duration"]),
        (
            "zero duration",
            LOG,
            {**no_length, "duration": "0m"},
            "VALIDATION",
            ["input", "duration"],
        ),
        ("25 hours", LOG, {**no_length, "duration": "25h"}, "VALIDATION", ["input", "duration"]),
        (
            "garbage duration",
            LOG,
            {**no_length, "duration": "soon"},
            "VALIDATION",
            ["input", "duration"],
        ),
        (
            "huge duration string",
            LOG,
            {**no_length, "duration": "1" * 100_000 + "h"},
            "VALIDATION",
            ["input", "duration"],
        ),
        (
            "stop before start",
            LOG,
            {**no_length, "stoppedAt": "2025-03-12T08:00:00Z"},
            "VALIDATION",
            ["input", "stoppedAt"],
        ),
        (
            "far future",
            LOG,
            {**log, "startedAt": "2999-01-01T00:00:00Z"},
            "VALIDATION",
            ["input", "startedAt"],
        ),
        (
            "locked period",
            LOG,
            {**log, "startedAt": "2025-01-15T09:00:00Z"},
            "ENTRY_LOCKED",
            ["input", "startedAt"],
        ),
        (
            "huge description",
            LOG,
            {**log, "description": "x" * 10_001},
            "VALIDATION",
            ["input", "description"],
        ),
        ("bad client id", LOG, {**log, "id": "not-a-ulid"}, "VALIDATION", ["input", "id"]),
        (
            "taken client id",
            LOG,
            {**log, "id": other_entry_id},
            "IDEMPOTENCY_CONFLICT",
            ["input", "id"],
        ),
        (
            "empty external ref",
            LOG,
            {**log, "externalRef": {"provider": "", "externalType": "t", "externalId": "1"}},
            "VALIDATION",
            ["input", "externalRef", "provider"],
        ),
        (
            "huge idempotency key",
            LOG,
            {**log, "idempotencyKey": "k" * 256},
            "VALIDATION",
            ["input", "idempotencyKey"],
        ),
        ("others' user", LOG, {**log, "userId": world.admin.id}, "FORBIDDEN", ["input", "userId"]),
        ("start: no scope", START, {"teamId": world.id}, "VALIDATION", None),
        (
            "start: future",
            START,
            {"teamId": world.id, "taskId": world.tasks["T-1"], "startedAt": "2999-01-01T00:00:00Z"},
            "VALIDATION",
            ["input", "startedAt"],
        ),
        (
            "start: before running",
            START,
            {"teamId": world.id, "taskId": world.tasks["T-1"], "startedAt": "2025-03-01T00:00:00Z"},
            "VALIDATION",
            ["input", "startedAt"],
        ),
        (
            "start: other team",
            START,
            {"teamId": other.id, "taskId": other.tasks["T-1"]},
            "NOT_FOUND",
            ["input", "teamId"],
        ),
        (
            "start: huge key",
            START,
            {"teamId": world.id, "task": {"key": "k" * 1001}},
            "VALIDATION",
            ["input", "task", "key"],
        ),
        (
            "stop: other team's entry",
            STOP,
            {"timeEntryId": other_entry_id},
            "NOT_FOUND",
            ["input", "timeEntryId"],
        ),
        ("stop: not running", STOP, {"timeEntryId": entry_id}, "TIMER_NOT_RUNNING", None),
        (
            "stop: in the future",
            STOP,
            {"stoppedAt": "2999-01-01T00:00:00Z"},
            "VALIDATION",
            ["input", "stoppedAt"],
        ),
        (
            "update: other team's",
            UPDATE,
            {"id": other_entry_id, "duration": "2h"},
            "NOT_FOUND",
            ["input", "id"],
        ),
        (
            "update: stale version",
            UPDATE,
            {"id": entry_id, "expectedVersion": 7, "duration": "2h"},
            "VERSION_CONFLICT",
            ["input", "expectedVersion"],
        ),
        (
            "update: zero length",
            UPDATE,
            {"id": entry_id, "durationSeconds": 0},
            "VALIDATION",
            ["input", "durationSeconds"],
        ),
        (
            "update: into locked period",
            UPDATE,
            {"id": entry_id, "startedAt": "2025-01-20T00:00:00Z"},
            "ENTRY_LOCKED",
            ["input", "startedAt"],
        ),
        (
            "update: locked entry",
            UPDATE,
            {"id": old_id, "duration": "2h"},
            "ENTRY_LOCKED",
            ["input", "id"],
        ),
        (
            "update: other team",
            UPDATE,
            {"id": entry_id, "teamId": other.id},
            "VALIDATION",
            ["input", "teamId"],
        ),
        ("delete: locked entry", DELETE, {"id": old_id}, "ENTRY_LOCKED", ["input", "id"]),
        ("delete: unknown", DELETE, {"id": new_id()}, "NOT_FOUND", ["input", "id"]),
        (
            "comment: empty",
            COMMENT,
            {"timeEntryId": entry_id, "content": "   "},
            "VALIDATION",
            ["input", "content"],
        ),
        (
            "comment: huge",
            COMMENT,
            {"timeEntryId": entry_id, "content": "x" * 10_001},
            "VALIDATION",
            ["input", "content"],
        ),
        (
            "comment: other team",
            COMMENT,
            {"timeEntryId": other_entry_id, "content": "hi"},
            "NOT_FOUND",
            ["input", "timeEntryId"],
        ),
        (
            "transition: invalid",
            TRANSITION,
            {"ids": [entry_id], "to": "INVOICED"},
            "INVALID_TRANSITION",
            ["input", "ids", "0"],
        ),
        (
            "transition: other team",
            TRANSITION,
            {"ids": [other_entry_id], "to": "SUBMITTED"},
            "NOT_FOUND",
            ["input", "ids", "0"],
        ),
        (
            "lock: member",
            LOCK,
            {"teamId": world.id, "before": "2025-03-01T00:00:00Z"},
            "FORBIDDEN",
            None,
        ),
        (
            "team: bad zone",
            TEAM,
            {"name": "X", "timeZone": "Mars/Olympus"},
            "VALIDATION",
            ["input", "timeZone"],
        ),
        (
            "team: weekStart 8",
            TEAM,
            {"name": "X", "weekStart": 8},
            "VALIDATION",
            ["input", "weekStart"],
        ),
        ("team: empty name", TEAM, {"name": "  "}, "VALIDATION", ["input", "name"]),
        (
            "team: rounding minutes 0",
            TEAM,
            {"name": "X", "roundingMinutes": 0},
            "VALIDATION",
            ["input", "roundingMinutes"],
        ),
        ("update team: member", UPDATE_TEAM, {"id": world.id, "name": "Mine"}, "FORBIDDEN", None),
        (
            "update team: other",
            UPDATE_TEAM,
            {"id": other.id, "name": "Mine"},
            "NOT_FOUND",
            ["input", "id"],
        ),
        ("category: member", CATEGORY, {"teamId": world.id, "title": "X"}, "FORBIDDEN", None),
        (
            "task: taken key",
            TASK,
            {"teamId": world.id, "key": "T-1", "title": "Again"},
            "VALIDATION",
            ["input", "key"],
        ),
        (
            "task: other team's category",
            TASK,
            {"teamId": world.id, "key": "T-9", "title": "X", "categoryId": other.categories["dev"]},
            "NOT_FOUND",
            ["input", "categoryId"],
        ),
        (
            "member: not admin",
            MEMBER,
            {"teamId": world.id, "email": "b-member@example.test"},
            "FORBIDDEN",
            None,
        ),
    ]
    before = await dump(db)
    for name, doc, data, code, field in cases:
        body = await gql(doc, {"input": data}, token=member)
        assert body.get("errors") is None, (name, body)
        [payload] = body["data"].values()
        assert payload["userErrors"], (name, payload)
        error = payload["userErrors"][0]
        assert error["code"] == code, (name, payload["userErrors"])
        if field is not None:
            assert error["field"] == field, (name, error)
        assert error["message"], name
        assert payload["replayed"] is False, name
        assert await dump(db) == before, f"{name} changed the database"

    admin_cases: list[tuple[str, str, dict[str, Any], str]] = [
        (
            "category: cycle",
            UPDATE_CATEGORY,
            {"id": world.categories["dev"], "parentId": world.categories["api"]},
            "VALIDATION",
        ),
        (
            "category: unknown parent",
            CATEGORY,
            {"teamId": world.id, "title": "X", "parentId": new_id()},
            "NOT_FOUND",
        ),
        (
            "member: unknown email",
            MEMBER,
            {"teamId": world.id, "email": "nobody@example.test"},
            "NOT_FOUND",
        ),
        (
            "member: admin grants owner",
            MEMBER,
            {"teamId": world.id, "email": "b-member@example.test", "role": "OWNER"},
            "FORBIDDEN",
        ),
    ]
    for name, doc, data, code in admin_cases:
        body = await gql(doc, {"input": data}, token=world.admin.token)
        [payload] = body["data"].values()
        assert [e["code"] for e in payload["userErrors"]] == [code], (name, payload)
        assert await dump(db) == before, f"{name} changed the database"


async def test_wrong_types_are_refused_before_execution(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a")
    before = await dump(db)
    for bad in (
        {"teamId": world.id, "taskId": world.tasks["T-2"], "durationSeconds": "ninety"},
        {"teamId": world.id, "taskId": world.tasks["T-2"], "minutes": 1.5},
        {"teamId": world.id, "taskId": world.tasks["T-2"], "billable": "yes"},
        {"teamId": world.id, "taskId": world.tasks["T-2"], "inputType": "PSYCHIC"},
        {"taskId": world.tasks["T-2"]},
    ):
        body = await gql(LOG, {"input": bad}, token=world.member.token)
        assert body["data"] is None
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", body
    assert await dump(db) == before


async def test_a_literal_a_scalar_refuses_is_a_validation_error_not_internal(
    db: Database, gql: GQL, app_client: Any
) -> None:
    """Regression (found by tests/reliability/test_fuzz.py): an inline literal that our
    DateTime/Date/BigInt scalars refuse came back as INTERNAL, logged as a crash."""
    world = await make_team(db, "Acme", prefix="a")
    token = world.owner.token
    before = await dump(db)
    for document in (
        f'mutation {{ lockTeamEntries(input: {{teamId: "{world.id}", before: ""}}) {{ replayed }} }}',
        f'{{ timeEntries(filter: {{teamId: "{world.id}", from: "yesterday"}}) {{ totalCount }} }}',
        f'{{ timeEntries(filter: {{teamId: "{world.id}", updatedSince: 5}}) {{ totalCount }} }}',
    ):
        body = await gql(document, token=token)
        assert body["data"] is None, body
        [error] = body["errors"]
        assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED", error
        assert "DateTime" in error["message"]
    response = await app_client.post(
        "/graphql",
        json={
            "query": f'{{ timeEntries(filter: {{teamId: "{world.id}", from: "x"}}) {{ totalCount }} }}'
        },
        headers={"authorization": f"Bearer {token}", "accept": "application/graphql-response+json"},
    )
    assert response.status_code == 400
    assert await dump(db) == before


async def test_a_nul_character_is_refused_before_it_reaches_the_database(
    db: Database, gql: GQL
) -> None:
    """Regression (found by tests/reliability/test_fuzz.py): PostgreSQL text cannot hold
    NUL, so a NUL in an id or a string failed in the database as INTERNAL (SQLite kept it)."""
    world = await make_team(db, "Acme", prefix="a")
    token = world.owner.token
    before = await dump(db)
    literal = 'mutation { logTimeEntry(input: {teamId: "\\u0000", billable: null}) { replayed } }'
    body = await gql(literal, token=token)
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["GRAPHQL_VALIDATION_FAILED"]
    assert "NUL" in body["errors"][0]["message"]
    cases: list[tuple[str, dict[str, Any]]] = [
        (
            LOG,
            {
                "input": {
                    "teamId": world.id,
                    "taskId": world.tasks["T-1"],
                    "duration": "1h",
                    "description": "a\x00b",
                }
            },
        ),
        ("query($id: ID!) { team(id: $id) { id } }", {"id": world.id + "\x00"}),
        (
            "query($f: TimeEntryFilter!) { timeEntries(filter: $f) { totalCount } }",
            {"f": {"teamId": world.id, "status": ["DRAFT"], "userId": "\x00"}},
        ),
    ]
    for document, variables in cases:
        body = await gql(document, variables, token=token)
        assert body["data"] is None, body
        assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"], body
    # The same document without the NUL goes through (nothing cached the refusal).
    ok = await gql("query($id: ID!) { team(id: $id) { id } }", {"id": world.id}, token=token)
    assert ok["data"] == {"team": {"id": world.id}}
    assert "errors" not in ok, ok
    assert await dump(db) == before


async def test_an_error_that_nulls_a_parent_does_not_crash_a_sibling_sharing_its_loads(
    db: Database, gql: GQL
) -> None:
    """Regression (found by tests/reliability/test_fuzz.py): graphql-core cancels the
    siblings of a field whose error nulls their parent; a sibling's cancelled DataLoader
    future was shared with another field, whose CancelledError escaped as a bare 500."""
    world = await make_team(db, "Acme", prefix="a")
    for document in (
        "{ viewer { teams { id categories { id } tasks(first: 101) { totalCount } } } teams { categories { id } } }",
        "{ teams { categories { id team { name } } } viewer { teams { categories { id } timeEntries(first: 101) { totalCount } } } }",
    ):
        for _ in range(5):
            body = await gql(document, token=world.owner.token)
            assert body["data"] is None, body
            assert [e["extensions"]["code"] for e in body["errors"]] == ["QUERY_TOO_COMPLEX"]
    # The loads nobody awaits any more finish on their own; let them, before the app's
    # engine is disposed under them at teardown.
    await asyncio.sleep(0.5)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("operationName", {"name": "x"}),
        ("operationName", ["x"]),
        ("variables", [1]),
        ("extensions", "x"),
    ],
)
async def test_parameters_of_the_wrong_type_are_a_bad_request(
    make_client: Any, name: str, value: object
) -> None:
    client = await make_client()
    for accept in ("application/json", "application/graphql-response+json"):
        response = await client.post(
            "/graphql", json={"query": "{ __typename }", name: value}, headers={"accept": accept}
        )
        assert response.status_code == 400, response.text
        assert [e["extensions"]["code"] for e in response.json()["errors"]] == ["BAD_REQUEST"]

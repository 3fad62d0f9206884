"""The compiled read path answers byte for byte as standard execution does.

Every document runs twice on the same seeded database, with the same viewer and the same
instant: once through ``Compiler`` and once through ``schema.execute``; both results are
encoded as the view encodes them and compared as bytes. Documents come from
hypothesis-graphql (from the whole schema, and from the plannable part of it so most of
them take the fast path) and by hand (the benchmark page, aliases, fragments, variables,
nulls, another team's ids, errors). When the fast path declines (None), standard
execution answers alone, which is correct by construction.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import graphql
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import queries
from strawberry.http import process_result

from gql.compiler import Compiler
from gql.schema.build import schema
from gql.schema.context import Context
from gql.schema.loaders import Loaders
from gql.server.auth import authenticate
from store.db import Database
from store.ids import new_id
from store.models import TimeEntry
from tests.factories import TeamWorld, add_entries, make_team

NOW = datetime(2025, 3, 10, 12, 0, 0, 500_000, tzinfo=UTC)
PAGE = """query($teamId: ID!) { timeEntries(filter: {teamId: $teamId}, first: 100) { nodes {
  id startedAt stoppedAt durationSeconds billable description user { id nickname }
  task { id title category { id title } } } } }"""
EVERYTHING = """query($f: TimeEntryFilter!, $first: Int, $after: String) {
  __typename
  timeEntries(filter: $f, first: $first, after: $after) {
    __typename totalCount
    pageInfo { __typename hasNextPage hasPreviousPage startCursor endCursor }
    edges { __typename cursor node { ...E } }
    nodes { ...E } } }
fragment E on TimeEntry {
  __typename id scopeType startedAt stoppedAt running durationSeconds roundedSeconds
  formattedDuration workDate description billable rateSnapshotCents amountCents status
  inputType source lockedAt deletedAt createdAt updatedAt version
  externalRef { __typename provider externalType externalId }
  team { __typename id name timeZone weekStart rounding roundingMinutes defaultBillable
         defaultRateCents tasksReadonly lockedBefore }
  user { __typename id nickname timeZone locale }
  task { __typename id key title url state description
         category { __typename id key title color position archived billable rateCents } }
  category { __typename id key title color position archived billable rateCents } }"""

# The plannable part of the schema, for generating documents that mostly take the fast path
# (every one is also a valid document of the real schema).
PLANNABLE_SDL = """
scalar DateTime
scalar Date
enum ScopeType { TASK CATEGORY }
enum EntryStatus { DRAFT SUBMITTED APPROVED REJECTED LOCKED INVOICED }
enum InputType { REALTIME MANUAL AUTOMATION }
enum Source { API UI IMPORT }
enum Rounding { NONE FLOOR CEIL NEAREST }
enum TaskState { OPEN CLOSED }
input TimeEntryFilter { teamId: ID! }
type Query { timeEntries(filter: TimeEntryFilter!, first: Int, after: String): TimeEntryConnection! }
type TimeEntryConnection { edges: [TimeEntryEdge!]! nodes: [TimeEntry!]! pageInfo: PageInfo! totalCount: Int! }
type TimeEntryEdge { cursor: String! node: TimeEntry! }
type PageInfo { hasNextPage: Boolean! hasPreviousPage: Boolean! startCursor: String endCursor: String }
type ExternalRef { provider: String! externalType: String! externalId: String! }
type User { id: ID! nickname: String! timeZone: String! locale: String! }
type Team { id: ID! name: String! timeZone: String! weekStart: Int! rounding: Rounding!
  roundingMinutes: Int! defaultBillable: Boolean! defaultRateCents: Int! tasksReadonly: Boolean!
  lockedBefore: DateTime }
type Category { id: ID! key: String title: String! color: Int position: Int! archived: Boolean!
  billable: Boolean rateCents: Int }
type Task { id: ID! key: String! title: String! url: String state: TaskState! description: String
  category: Category }
type TimeEntry { id: ID! scopeType: ScopeType! startedAt: DateTime! stoppedAt: DateTime
  running: Boolean! durationSeconds: Int! roundedSeconds: Int! formattedDuration: String!
  workDate: Date! description: String billable: Boolean! rateSnapshotCents: Int!
  amountCents: Int! status: EntryStatus! inputType: InputType! source: Source!
  lockedAt: DateTime deletedAt: DateTime createdAt: DateTime! updatedAt: DateTime!
  version: Int! externalRef: ExternalRef team: Team! user: User! task: Task category: Category }
"""
SCALARS = {
    "DateTime": st.sampled_from(
        ["2025-03-10T05:00:00Z", "2025-03-09T00:00:00+01:00", "2030-01-01T00:00:00Z", "bad"]
    ).map(lambda v: graphql.StringValueNode(value=v)),
    "Date": st.just(graphql.StringValueNode(value="2025-03-10")),
    "BigInt": st.just(graphql.IntValueNode(value="1")),
}
PROPERTY = settings(
    max_examples=100,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@dataclass
class World:
    db: Database
    a: TeamWorld
    b: TeamWorld
    fast: Compiler


@pytest.fixture
async def world(db: Database) -> World:
    """Team A (rounding to 15 minutes) with task and category entries, a running one, one
    with an external ref, a deleted one; team B, which A's member cannot read."""
    a = await make_team(db, "Acme", prefix="a", rounding="NEAREST", rounding_minutes=15)
    b = await make_team(db, "Other", prefix="b")
    start = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
    await add_entries(
        db, team_id=a.id, user_id=a.member.id, task_id=a.tasks["T-1"], count=7, start=start
    )
    await add_entries(
        db,
        team_id=a.id,
        user_id=a.admin.id,
        category_id=a.categories["dev"],
        count=4,
        start=start - timedelta(minutes=30),
        seconds=1234,
        billable=False,
    )
    await add_entries(
        db, team_id=b.id, user_id=b.member.id, task_id=b.tasks["T-2"], count=3, start=start
    )
    async with db.write() as s:
        began = datetime(2025, 3, 10, 10, 30, 15, 250_000, tzinfo=UTC)
        s.add(
            TimeEntry(
                id=new_id(),
                team_id=a.id,
                user_id=a.owner.id,
                scope_type="TASK",
                task_id=a.tasks["T-2"],
                started_at=began,
                work_date=began.date(),
                description="running, with a ref",
                billable=True,
                rate_snapshot_cents=12345,
                ext_provider="jira",
                ext_type="issue",
                ext_id="PC-1",
            )
        )
        gone = start - timedelta(days=3)
        s.add(
            TimeEntry(
                id=new_id(),
                team_id=a.id,
                user_id=a.member.id,
                scope_type="TASK",
                task_id=a.tasks["T-1"],
                started_at=gone,
                stopped_at=gone + timedelta(seconds=60),
                duration_seconds=60,
                work_date=gone.date(),
                billable=True,
                deleted_at=start,
            )
        )
        await s.commit()
    return World(db, a, b, Compiler(schema))


async def run_both(
    w: World, query: str, variables: dict[str, Any] | None = None, *, token: str | None = None
) -> tuple[bytes | None, bytes]:
    """(fast path's bytes or None when it declined, standard execution's bytes)."""
    found = await authenticate(w.db, token or w.a.member.token)
    assert found is not None
    viewer, memberships = found

    def context() -> Context:
        return Context(
            db=w.db,
            viewer=viewer,
            memberships=memberships,
            loaders=Loaders(w.db),
            request_id="t",
            now=NOW,
        )

    fast = await w.fast.execute(context(), query, variables, None)
    standard = await schema.execute(query, variable_values=variables, context_value=context())
    encoded = orjson.dumps(process_result(standard))
    return (None if fast is None else orjson.dumps(process_result(fast))), encoded


async def same(w: World, query: str, variables: dict[str, Any] | None = None, **kw: Any) -> bytes:
    fast, standard = await run_both(w, query, variables, **kw)
    assert fast is not None, "expected the fast path to answer"
    assert fast == standard
    return fast


async def test_benchmark_page(world: World) -> None:
    body = orjson.loads(await same(world, PAGE, {"teamId": world.a.id}))
    nodes = body["data"]["timeEntries"]["nodes"]
    assert len(nodes) == 12  # 7 + 4 + the running one; not the deleted one
    assert nodes[0]["stoppedAt"] is None and nodes[0]["task"]["title"] == "Docs"
    assert any(n["task"] is None for n in nodes)  # CATEGORY scope


@pytest.mark.parametrize("first", [0, 1, 5, 100, None])
async def test_every_plannable_field(world: World, first: int | None) -> None:
    variables: dict[str, Any] = {"f": {"teamId": world.a.id}, "first": first}
    body = orjson.loads(await same(world, EVERYTHING, variables))
    if first == 5:
        cursor = body["data"]["timeEntries"]["pageInfo"]["endCursor"]
        await same(world, EVERYTHING, {**variables, "after": cursor})


@pytest.mark.parametrize(
    "f",
    [
        {"includeDeleted": True},
        {"billable": False},
        {"running": True},
        {"categoryId": "dev"},
        {"userId": "member", "status": ["DRAFT"]},
        {"from": "2025-03-10T05:00:00Z", "to": "2025-03-10T08:00:00+01:00"},
    ],
)
async def test_filters(world: World, f: dict[str, Any]) -> None:
    f = dict(f, teamId=world.a.id)
    if f.get("categoryId") == "dev":
        f["categoryId"] = world.a.categories["dev"]
    if f.get("userId") == "member":
        f["userId"] = world.a.member.id
    await same(world, EVERYTHING, {"f": f, "first": 50})


async def test_aliases_fragments_and_literals(world: World) -> None:
    query = f"""{{ x: __typename
      mine: timeEntries(filter: {{teamId: "{world.a.id}"}}, first: 3) {{
        list: nodes {{ ... on TimeEntry {{ key: id }} ...F who: user {{ name: nickname }} }}
        info: pageInfo {{ more: hasNextPage }} }}
      theirs: timeEntries(filter: {{teamId: "{world.b.id}"}}) {{ total: totalCount
        nodes {{ id }} edges {{ cursor }} pageInfo {{ startCursor endCursor }} }} }}
    fragment F on TimeEntry {{ started: startedAt amount: amountCents }}"""
    body = orjson.loads(await same(world, query))
    # Another team's entries read as an empty connection, exactly as if they did not exist.
    assert body["data"]["theirs"] == {
        "total": 0,
        "nodes": [],
        "edges": [],
        "pageInfo": {"startCursor": None, "endCursor": None},
    }


async def test_unknown_team_and_the_other_teams_viewer(world: World) -> None:
    await same(world, EVERYTHING, {"f": {"teamId": "nope"}, "first": 2})
    await same(world, EVERYTHING, {"f": {"teamId": world.a.id}}, token=world.b.owner.token)
    await same(world, EVERYTHING, {"f": {"teamId": world.b.id}}, token=world.b.owner.token)


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        (PAGE, {}),  # a missing variable
        (PAGE, {"teamId": 3.5}),  # a variable of the wrong type
        ("{ timeEntries(filter: {teamId: 1}, first: 101) { nodes { id } } }", None),
        ('{ timeEntries(filter: {teamId: "x"}, first: -1) { nodes { id } } }', None),
        ('{ timeEntries(filter: {teamId: "x"}, after: "junk") { nodes { id } } }', None),
        ("{ timeEntries(filter: {}) { nodes { id } } }", None),  # invalid document
        ("{ timeEntries(filter: {teamId: 1}) { nodes { nope } } }", None),
        ("{ __schema { queryType { name } } }", None),
        ("mutation { deleteTimeEntry(input: {id: 1}) { replayed } }", None),
        ("{ timeEntries(", None),
    ],
)
async def test_what_it_leaves_to_standard_execution(
    world: World, query: str, variables: dict[str, Any] | None
) -> None:
    fast, _ = await run_both(world, query, variables)
    assert fast is None


def _with_team(field: graphql.FieldNode, team: str, data: st.DataObject) -> graphql.FieldNode:
    arguments = []
    for argument in field.arguments:
        if argument.name.value == "filter":
            keep = data.draw(st.booleans())
            value = argument.value
            others = (
                [f for f in value.fields if f.name.value != "teamId"]
                if keep and isinstance(value, graphql.ObjectValueNode)
                else []
            )
            team_field = graphql.ObjectFieldNode(
                name=graphql.NameNode(value="teamId"), value=graphql.StringValueNode(value=team)
            )
            argument = replace(
                argument, value=graphql.ObjectValueNode(fields=(team_field, *others))
            )
        elif argument.name.value == "first" and data.draw(st.integers(0, 3)):
            size = data.draw(st.sampled_from([0, 1, 2, 13, 100]))
            argument = replace(argument, value=graphql.IntValueNode(value=str(size)))
        elif argument.name.value == "after" and data.draw(st.integers(0, 3)):
            continue  # a random cursor is an error; keep a few of those
        arguments.append(argument)
    return replace(field, arguments=tuple(arguments))


def _point_at(world: World, document: graphql.DocumentNode, data: st.DataObject) -> str:
    """The generated document with each ``timeEntries`` filter pointing at a real team
    (mostly the viewer's) and a sensible page size most of the time."""
    team = data.draw(st.sampled_from([world.a.id, world.a.id, world.a.id, world.b.id, "x"]))
    definitions = []
    for definition in document.definitions:
        if isinstance(definition, graphql.OperationDefinitionNode):
            fields = [
                _with_team(field, team, data)
                if isinstance(field, graphql.FieldNode) and field.name.value == "timeEntries"
                else field
                for field in definition.selection_set.selections
            ]
            selection_set = replace(definition.selection_set, selections=tuple(fields))
            definition = replace(definition, selection_set=selection_set)
        definitions.append(definition)
    document = replace(document, definitions=tuple(definitions))
    return graphql.print_ast(document)


class Tally:
    """How many generated documents the fast path answered (and so were compared)."""

    fast = 0
    total = 0
    whole = 0


PLANNABLE = queries(
    graphql.build_schema(PLANNABLE_SDL), custom_scalars=SCALARS, print_ast=lambda d: d
)
WHOLE = queries(
    schema._schema, fields=["timeEntries"], custom_scalars=SCALARS, print_ast=lambda d: d
)


@PROPERTY
@given(document=PLANNABLE, data=st.data())
async def test_generated_plannable_documents(
    world: World, document: graphql.DocumentNode, data: st.DataObject
) -> None:
    query = _point_at(world, document, data)
    fast, standard = await run_both(world, query)
    Tally.total += 1
    if fast is not None:
        Tally.fast += 1
        assert fast == standard, query


@settings(PROPERTY, max_examples=40)
@given(document=WHOLE, data=st.data())
async def test_generated_documents_of_the_whole_schema(
    world: World, document: graphql.DocumentNode, data: st.DataObject
) -> None:
    query = _point_at(world, document, data)
    fast, standard = await run_both(world, query)
    if fast is not None:
        Tally.whole += 1
        assert fast == standard, query


def test_the_fast_path_answered_most_generated_documents() -> None:
    """Guards the generators: if they stopped producing plannable documents, the
    differential tests above would pass without comparing anything."""
    print(
        f"differential: {Tally.fast} of {Tally.total} generated plannable documents and "
        f"{Tally.whole} from the whole schema took the fast path and compared equal"
    )
    if Tally.total:
        assert Tally.fast >= Tally.total // 3

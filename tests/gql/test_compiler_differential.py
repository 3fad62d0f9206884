"""The compiled executor answers every document byte for byte as standard execution does.

Reads: a world of two teams, drawn from a seeded ``random.Random`` (entries of every
scope, status and source, ties on ``startedAt``, running timers, comments, a category
tree, deleted entries, external refs, a locked period, a user in both teams, the outbox
events of a few real mutations), is built on each database (SQLite file, PostgreSQL).
Documents over the WHOLE ``Query`` type come from hypothesis-graphql, then get aliases,
inline and named fragments, variables (some left out, some with defaults), ``@include`` /
``@skip`` and ids of the seeded rows (both teams', so tenancy is exercised, and invalid
ones); a set written by hand adds what a generator does not reach (cursors taken from a
first answer, reports by several keys, another team's ids). Each runs through
``Compiler`` and through ``schema.execute`` with the same viewer and the same ``now``;
the two answers, encoded as the view encodes them, must be the same bytes (data, errors
and extensions). Where the compiler declines (None), standard execution answers alone.

Each test counts, itself, how many of its documents the compiler answered, prints it
(``-s``) and fails when that is below ``MIN_COMPILED_SHARE`` or zero: it cannot pass by
comparing nothing.
"""

from __future__ import annotations

import base64
import math
import random
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar, TypeVar
from zoneinfo import ZoneInfo

import graphql
import orjson
import pytest
import ulid
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import queries
from sqlalchemy import text
from strawberry.http import process_result
from strawberry.types import ExecutionResult

import store.ids
import store.timeutil
from gql.compiler import FastPath as Compiler  # becomes `from gql.compiler import Compiler`
from gql.guard.limits import Limits
from gql.schema.build import schema
from gql.schema.context import Context
from gql.schema.loaders import Loaders
from gql.server.auth import authenticate
from store import accounts
from store.db import Database
from store.models import Category, Comment, EntryStatus, Task, TimeEntry
from tests.factories import Member, TeamWorld, make_team, make_user

T = TypeVar("T")

# The compiler must answer at least this share of the generated documents (and always at
# least one). Today's FastPath compiles `timeEntries` pages only, so most whole-schema
# documents are declined; raise these when the compiler of every query lands.
MIN_COMPILED_SHARE = 0.0
GENERATED_QUERIES = 150
SEED = 16
# The instant of every request (Context.now) and of the frozen clock the writes read.
NOW = datetime(2025, 3, 10, 12, 0, 0, 500_000, tzinfo=UTC)
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Pacific/Kiritimati"]
# A generated `after` of the field NAME is "@cursor:NAME": replaced, when the document
# runs, by a cursor that an earlier answer gave.
CURSOR = "@cursor"

# ---------------------------------------------------------------------------------------
# A frozen clock and deterministic ids: the two copies of a world, and two runs of this
# module, hold the same rows with the same ids and instants.


class _FrozenDatetime(datetime):
    @classmethod
    def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
        return NOW.astimezone(tz) if tz is not None else NOW.replace(tzinfo=None)


class Ids:
    """Stands in for ``ulid.ULID`` in ``store.ids.new_id``: increasing ULIDs from a
    seeded generator, reset to the same state before each copy of a world is seeded and
    before each side of a write runs."""

    def __init__(self) -> None:
        self.reset(0)

    def reset(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self._ms = int(NOW.timestamp() * 1000) - 10_000_000 + seed * 1000

    def __call__(self) -> ulid.ULID:
        self._ms += 1
        return ulid.ULID.from_bytes(self._ms.to_bytes(6, "big") + self._rng.randbytes(10))


@pytest.fixture(autouse=True)
def ids(monkeypatch: pytest.MonkeyPatch) -> Ids:
    monkeypatch.setattr(store.timeutil, "datetime", _FrozenDatetime)
    generator = Ids()
    monkeypatch.setattr(store.ids, "ULID", generator)
    return generator


# ---------------------------------------------------------------------------------------
# The world.


class Events:
    """What the mutation runner and the compiled write publish, per side."""

    def __init__(self) -> None:
        self.published: list[Any] = []

    async def publish(self, events: Any) -> None:
        self.published.extend(events)


# The default limits, but for the validation budget: that one is CPU time (50 ms), so on a
# loaded machine it would refuse a document on one path and not on the other.
LIMITS = Limits(validation_budget_ms=60_000)


@dataclass
class Services:
    """The parts of ``gql.server.services.Services`` that execution reads."""

    events: Events = field(default_factory=Events)
    limits: Limits = LIMITS
    rate_limiter: None = None
    metrics: None = None


@dataclass
class World:
    db: Database
    a: TeamWorld
    b: TeamWorld
    shared: Member  # in both teams
    # Ids by kind ("team", "user", "task", "category", "entry", "comment") and team.
    pools: dict[str, dict[str, list[str]]]
    services: Services = field(default_factory=Services)

    def viewers(self) -> dict[str, Member]:
        return {
            "a.member": self.a.member,
            "a.admin": self.a.admin,
            "a.owner": self.a.owner,
            "shared": self.shared,
            "b.owner": self.b.owner,
        }

    def known_ids(self) -> set[str]:
        return {i for by_team in self.pools.values() for ids in by_team.values() for i in ids}


async def run_standard(
    w: World, token: str, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    result = await schema.execute(
        query, variable_values=variables, context_value=await context(w, token)
    )
    body: dict[str, Any] = process_result(result)  # type: ignore[assignment]
    assert not body.get("errors"), body
    return body


async def context(w: World, token: str) -> Context:
    found = await authenticate(w.db, token)
    assert found is not None
    viewer, memberships = found
    return Context(
        db=w.db,
        viewer=viewer,
        memberships=memberships,
        loaders=Loaders(w.db),
        request_id="t",
        now=NOW,
        services=w.services,
        token=token,
    )


def _local_date(at: datetime, zone: str) -> date:
    return at.astimezone(ZoneInfo(zone)).date()


async def seed_world(db: Database, ids: Ids, seed: int = SEED) -> World:
    """Two teams drawn from ``random.Random(seed)``; the same seed and ``ids`` give the
    same rows, ids and instants on any database."""
    ids.reset(seed)
    rng = random.Random(seed)
    rounding = rng.choice([("NONE", 1), ("NEAREST", 15), ("CEIL", 6), ("FLOOR", 10)])
    zone_a = rng.choice(ZONES[:3])
    a = await make_team(
        db,
        "Acme",
        prefix="a",
        time_zone=zone_a,
        week_start=rng.randint(1, 7),
        rounding=rounding[0],
        rounding_minutes=rounding[1],
        default_rate_cents=rng.choice([0, 4200]),
        locked_before=datetime(2025, 2, 24, tzinfo=UTC),
    )
    b = await make_team(db, "Other", prefix="b", time_zone="Europe/Berlin")
    shared = await make_user(db, "Shared Person", "shared@example.test")
    async with db.write() as s:
        await accounts.add_member(s, team_id=a.id, user_id=shared.id, rate_cents=7000)
        await accounts.add_member(s, team_id=b.id, user_id=shared.id, role="ADMIN")
        await s.commit()
    zones = {a.id: zone_a, b.id: "Europe/Berlin"}
    members = {
        a.id: [a.owner.id, a.admin.id, a.member.id, shared.id],
        b.id: [b.owner.id, b.admin.id, b.member.id, shared.id],
    }
    external = 0
    async with db.write() as s:
        for team in (a, b):
            categories = dict(team.categories)
            for n in range(rng.randint(2, 4)):
                parent = rng.choice([None, *categories.values()])
                row = Category(
                    id=store.ids.new_id(),
                    team_id=team.id,
                    parent_id=parent,
                    key=rng.choice([None, f"c{n}"]),
                    title=rng.choice(["Ops", "Meetings", "Zeta", "alpha", "Überblick"]) + str(n),
                    color=rng.choice([None, 0x2F6FEB, 0]),
                    position=rng.randint(0, 3),
                    archived=rng.random() < 0.2,
                    billable=rng.choice([None, True, False]),
                    rate_cents=rng.choice([None, 15000]),
                )
                s.add(row)
                await s.flush()
                categories[f"c{n}"] = row.id
            team.categories = categories
            tasks = dict(team.tasks)
            for n in range(rng.randint(2, 4)):
                key = f"{team.id[-3:]}-{n}"
                row_task = Task(
                    id=store.ids.new_id(),
                    team_id=team.id,
                    category_id=rng.choice([None, *categories.values()]),
                    key=key,
                    title=rng.choice(["Review", "Fix", "Plan", "écrire"]) + f" {n}",
                    url=rng.choice([None, f"https://example.test/{key}"]),
                    state=rng.choice(["OPEN", "OPEN", "CLOSED"]),
                    description=rng.choice([None, "", "Some words"]),
                )
                s.add(row_task)
                tasks[key] = row_task.id
            team.tasks = tasks
            await s.flush()
            starts: list[datetime] = []
            entries: list[TimeEntry] = []
            for user_id in members[team.id]:
                for _ in range(rng.randint(0, 9)):
                    if starts and rng.random() < 0.15:
                        began = rng.choice(starts)  # a tie on startedAt: ordered by id
                    else:
                        began = NOW.replace(microsecond=0) - timedelta(
                            minutes=rng.randint(60, 20 * 24 * 60)
                        )
                    starts.append(began)
                    seconds = rng.choice([60, 900, 1234, 1800, 3600, 5400, 7261])
                    on_task = rng.random() < 0.6
                    ref = rng.random() < 0.2
                    external += ref
                    entry = TimeEntry(
                        id=store.ids.new_id(),
                        team_id=team.id,
                        user_id=user_id,
                        scope_type="TASK" if on_task else "CATEGORY",
                        task_id=rng.choice(list(tasks.values())) if on_task else None,
                        category_id=None if on_task else rng.choice(list(categories.values())),
                        started_at=began,
                        stopped_at=began + timedelta(seconds=seconds),
                        duration_seconds=seconds,
                        work_date=_local_date(began, zones[team.id]),
                        description=rng.choice([None, "", "work", "naïve café", "x" * 300]),
                        billable=rng.random() < 0.7,
                        rate_snapshot_cents=rng.choice([0, 6000, 9000, 12345]),
                        status=rng.choice(
                            [EntryStatus.DRAFT.value] * 4
                            + [
                                EntryStatus.SUBMITTED.value,
                                EntryStatus.APPROVED.value,
                                EntryStatus.REJECTED.value,
                            ]
                        ),
                        input_type=rng.choice(["MANUAL", "REALTIME", "AUTOMATION"]),
                        source=rng.choice(["API", "UI", "IMPORT"]),
                        ext_provider="jira" if ref else None,
                        ext_type="issue" if ref else None,
                        ext_id=f"PC-{external}" if ref else None,
                        deleted_at=(began + timedelta(hours=1)) if rng.random() < 0.1 else None,
                        created_at=began,
                        updated_at=began + timedelta(seconds=seconds + rng.randint(0, 99)),
                        version=rng.randint(1, 3),
                    )
                    entries.append(entry)
                # A running timer: at most one per user (the shared user's is in A).
                if rng.random() < 0.6 and not (team is b and user_id == shared.id):
                    began = NOW.replace(microsecond=0) - timedelta(
                        minutes=rng.choice([1, 45, 600, 1800])
                    )
                    entries.append(
                        TimeEntry(
                            id=store.ids.new_id(),
                            team_id=team.id,
                            user_id=user_id,
                            scope_type="TASK",
                            task_id=rng.choice(list(tasks.values())),
                            started_at=began,
                            work_date=_local_date(began, zones[team.id]),
                            description=rng.choice([None, "running"]),
                            billable=True,
                            rate_snapshot_cents=rng.choice([0, 12345]),
                            input_type="REALTIME",
                            created_at=began,
                            updated_at=began,
                        )
                    )
            s.add_all(entries)
            await s.flush()
            alive = [e for e in entries if e.deleted_at is None]
            if team is a:
                entries_a = [e.id for e in alive if e.stopped_at is not None]
            for n in range(rng.randint(3, 8)):
                entry = rng.choice(alive)
                s.add(
                    Comment(
                        id=store.ids.new_id(),
                        time_entry_id=entry.id,
                        team_id=team.id,
                        user_id=rng.choice(members[team.id]),
                        content=rng.choice(["ok", "Please fix", "✓ done", "long " * 40]),
                        created_at=entry.started_at + timedelta(minutes=n),
                    )
                )
        await s.commit()
    world = World(db, a, b, shared, {})
    # A few real writes, so the outbox (teamChanges, eventCursor) holds their events.
    await run_standard(
        world,
        a.member.token,
        """mutation($t: ID!, $k: ID!) {
          logTimeEntry(input: {teamId: $t, taskId: $k, startedAt: "2025-03-07T09:00:00Z",
            minutes: 30, externalRef: {provider: "gh", externalType: "pr", externalId: "7"}})
          { timeEntry { id } userErrors { code } } }""",
        {"t": a.id, "k": a.tasks["T-1"]},
    )
    await run_standard(
        world,
        a.admin.token,
        """mutation($k: ID!) { updateTask(input: {id: $k, title: "Paging by cursor"})
          { task { id } userErrors { code } } }""",
        {"k": a.tasks["T-1"]},
    )
    await run_standard(
        world,
        a.owner.token,
        """mutation($e: ID!) { addComment(input: {timeEntryId: $e, content: "seen"})
          { comment { id } userErrors { code } } }""",
        {"e": entries_a[0]},
    )
    await run_standard(
        world,
        a.member.token,
        """mutation($t: ID!, $k: ID!) { startTimer(input: {teamId: $t, taskId: $k,
          description: "started by the seed"}) { timeEntry { id } userErrors { code } } }""",
        {"t": a.id, "k": a.tasks["T-2"]},
    )
    await run_standard(
        world,
        a.admin.token,
        """mutation($t: ID!, $p: ID!) { createCategory(input: {teamId: $t, title: "Support",
          key: "support", parentId: $p}) { category { id } userErrors { code } } }""",
        {"t": a.id, "p": a.categories["dev"]},
    )
    world.pools = await _pools(db)
    return world


async def _pools(db: Database) -> dict[str, dict[str, list[str]]]:
    pools: dict[str, dict[str, list[str]]] = {}
    statements = {
        "team": "SELECT id, id FROM teams",
        "user": "SELECT m.team_id, m.user_id FROM memberships m",
        "task": "SELECT team_id, id FROM tasks",
        "category": "SELECT team_id, id FROM categories",
        "entry": "SELECT team_id, id FROM time_entries",
        "comment": "SELECT team_id, id FROM comments",
    }
    async with db.engine.connect() as conn:
        for kind, statement in statements.items():
            rows = (await conn.execute(text(statement + " ORDER BY 1, 2"))).all()
            by_team: dict[str, list[str]] = {}
            for team_id, row_id in rows:
                by_team.setdefault(str(team_id), []).append(str(row_id))
            pools[kind] = by_team
    return pools


@pytest.fixture
async def world(db: Database, ids: Ids) -> World:
    return await seed_world(db, ids)


# ---------------------------------------------------------------------------------------
# Generating documents: hypothesis-graphql picks the fields and arguments; ``Shaper`` then
# points every id at the seeded rows, gives page sizes, strings and numbers that mean
# something, and adds what hypothesis-graphql never writes (it writes one anonymous
# operation, no aliases, no fragments, no variables, no directives).

Pools = dict[str, dict[str, list[str]]]

DATETIMES = [
    "2025-03-10T09:00:00Z",
    "2025-03-10T11:30:00+01:00",
    "2025-03-01T00:00:00Z",
    "2025-02-20T08:00:00-05:00",
    "2025-03-09T23:00:00-01:00",
    "2025-03-05T00:00:00Z",
    "2025-02-01T00:00:00Z",
    "2025-03-10T12:30:00Z",  # after now
    "2030-01-01T00:00:00Z",
    "1999-12-31T23:00:00Z",
    "2025-03-10T09:00:00",  # no offset: refused
]
DATES = ["2025-03-10", "2025-03-03", "2025-02-24", "2025-03-09", "2025-13-01"]
STRINGS = ["x", "Docs", "", "é" * 5, "work", "a" * 201, "T-1", "UTC"]
STRINGS_BY_NAME: dict[str, list[str]] = {
    "timeZone": [*ZONES, "Not/AZone", ""],
    "duration": ["1h30m", "90m", "1:30", "45s", "nonsense", ""],
    "hours": ["2.5", "0.25", "x", "-1"],
    "email": ["b-member@example.test", "shared@example.test", "new@example.test", "bad"],
    "idempotencyKey": ["k1", "k2", "k3", "k1", ""],
    "url": ["https://example.test/x", "not a url"],
    "key": ["T-1", "T-2", "dev", "api", "new-key", ""],
    "provider": ["jira", "gh"],
    "externalType": ["issue", "pr"],
    "externalId": ["PC-1", "PC-2", "7", "new"],
}
INTS = [0, 1, 2, 3, 4, 5, 100]
INTS_BY_NAME: dict[str, list[int | None]] = {
    "first": [0, 1, 2, 3, 4, 5, 100, 100, 100, None, -1, 101],
    "weekStart": [1, 3, 7, 0, 8],
    "durationSeconds": [60, 1800, 86_400, 0, -5],
    "minutes": [1, 45, 1440, 0, 5000],
    "expectedVersion": [1, 2, 3],
    "roundingMinutes": [1, 15, 0],
    "rateCents": [0, 9000, -1],
    "defaultRateCents": [0, 9000, -1],
    "position": [0, 1, 3],
    "color": [0, 255, None],
}
# The kind of row an ID argument or input field names, by its name (and, for a bare `id`,
# by the field it is an argument of).
ID_KINDS = {
    "teamId": "team",
    "userId": "user",
    "taskId": "task",
    "categoryId": "category",
    "parentId": "category",
    "timeEntryId": "entry",
    "ids": "entry",
}
ID_KINDS_OF_FIELD = {
    "team": "team",
    "task": "task",
    "category": "category",
    "timeEntry": "entry",
    "updateTimeEntry": "entry",
    "deleteTimeEntry": "entry",
    "updateTeam": "team",
    "updateCategory": "category",
    "updateTask": "task",
    "logTimeEntry": "new",  # a client-chosen id
    "startTimer": "new",
}


def _string(value: str) -> graphql.StringValueNode:
    return graphql.StringValueNode(value=value)


def scalars(pools: Pools) -> dict[str, st.SearchStrategy[graphql.ValueNode]]:
    """custom_scalars for hypothesis-graphql (it takes the built-in ones too): ids of every
    seeded row of both teams and a few invalid ones, instants and dates around the data."""
    every = sorted({i for by_team in pools.values() for ids in by_team.values() for i in ids})
    return {
        "ID": st.sampled_from([*every, "nope", ""]).map(_string),
        "Int": st.sampled_from(INTS).map(lambda n: graphql.IntValueNode(value=str(n))),
        "String": st.sampled_from(STRINGS).map(_string),
        "DateTime": st.sampled_from(DATETIMES).map(_string),
        "Date": st.sampled_from(DATES).map(_string),
        "BigInt": st.just(graphql.IntValueNode(value="1")),
    }


def type_node(type_: graphql.GraphQLInputType) -> graphql.TypeNode:
    if isinstance(type_, graphql.GraphQLNonNull):
        inner = type_node(type_.of_type)
        assert isinstance(inner, (graphql.NamedTypeNode, graphql.ListTypeNode))
        return graphql.NonNullTypeNode(type=inner)
    if isinstance(type_, graphql.GraphQLList):
        return graphql.ListTypeNode(type=type_node(type_.of_type))
    return graphql.NamedTypeNode(name=graphql.NameNode(value=type_.name))


def _unwrap(type_: Any) -> Any:
    return type_.of_type if isinstance(type_, graphql.GraphQLNonNull) else type_


@dataclass
class Generated:
    query: str
    variables: dict[str, Any]
    operation_name: str | None
    viewer: str


class Shaper:
    """Rewrites one generated document; its choices come from ``rng`` (seeded by
    Hypothesis), so that they do not disturb how Hypothesis draws the documents."""

    def __init__(
        self, rng: random.Random, pools: Pools, home: str, away: str, directives: float = 0.1
    ) -> None:
        self.rng, self.pools, self.home, self.away = rng, pools, home, away
        self.directives = directives  # the chance of @include / @skip on a field
        self.variables: dict[str, Any] = {}
        self.definitions: list[graphql.VariableDefinitionNode] = []
        self.fragments: list[graphql.FragmentDefinitionNode] = []
        self.count = 0

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def pick(self, values: list[T]) -> T:
        return self.rng.choice(values)

    def fresh(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def shape(self, document: graphql.DocumentNode, root: graphql.GraphQLObjectType) -> Generated:
        [operation] = document.definitions
        assert isinstance(operation, graphql.OperationDefinitionNode)
        selection_set = self.selection_set(operation.selection_set, root)
        name = "Q" if self.chance(0.3) else None
        operation = replace(
            operation,
            name=graphql.NameNode(value=name) if name else None,
            variable_definitions=tuple(self.definitions),
            selection_set=selection_set,
        )
        document = graphql.DocumentNode(definitions=(operation, *self.fragments))
        operation_name = name if name and self.chance(0.5) else None
        return Generated(graphql.print_ast(document), self.variables, operation_name, "")

    def selection_set(
        self, selection_set: graphql.SelectionSetNode, parent: graphql.GraphQLObjectType
    ) -> graphql.SelectionSetNode:
        out: list[graphql.SelectionNode] = []
        for selection in selection_set.selections:
            assert isinstance(selection, graphql.FieldNode)  # no unions, no interfaces
            out.append(self.field(selection, parent))
        if self.chance(0.5):  # hypothesis-graphql selects few fields: a few leaves more
            taken = {
                s.name.value for s in selection_set.selections if isinstance(s, graphql.FieldNode)
            }
            leaves = [
                name
                for name, f in parent.fields.items()
                if name not in taken
                and graphql.is_leaf_type(graphql.get_named_type(f.type))
                and not any(graphql.is_required_argument(a) for a in f.args.values())
            ]
            for name in self.rng.sample(leaves, min(len(leaves), self.rng.randint(1, 4))):
                out.append(
                    graphql.FieldNode(
                        name=graphql.NameNode(value=name), arguments=(), directives=()
                    )
                )
        if self.chance(0.2):
            picked = [s for s in out if self.chance(0.5)] or out[:1]
            first = out.index(picked[0])
            rest = [s for s in out if all(s is not p for p in picked)]
            inner = graphql.SelectionSetNode(selections=tuple(picked))
            how = self.pick(["inline", "untyped", "named"])
            wrapper: graphql.SelectionNode
            if how == "named":
                name = graphql.NameNode(value=self.fresh("F"))
                self.fragments.append(
                    graphql.FragmentDefinitionNode(
                        name=name,
                        variable_definitions=(),
                        type_condition=graphql.NamedTypeNode(
                            name=graphql.NameNode(value=parent.name)
                        ),
                        directives=(),
                        selection_set=inner,
                    )
                )
                wrapper = graphql.FragmentSpreadNode(name=name, directives=())
            else:
                condition = (
                    graphql.NamedTypeNode(name=graphql.NameNode(value=parent.name))
                    if how == "inline"
                    else None
                )
                wrapper = graphql.InlineFragmentNode(
                    type_condition=condition, directives=(), selection_set=inner
                )
            rest.insert(min(first, len(rest)), wrapper)
            out = rest
        return graphql.SelectionSetNode(selections=tuple(out))

    def field(
        self, node: graphql.FieldNode, parent: graphql.GraphQLObjectType
    ) -> graphql.FieldNode:
        name = node.name.value
        definition = parent.fields[name]
        arguments = []
        for argument in node.arguments or ():
            argument_name = argument.name.value
            type_ = definition.args[argument_name].type
            value: graphql.ValueNode | None = argument.value
            if argument_name == "after":
                after = _string(f"{CURSOR}:{name}")
                value = self.pick([None] * 12 + [after] * 7 + [_string("junk")])
            elif value is not None:
                value = self.value(value, type_, argument_name, name)
            if value is None:
                continue
            if self.chance(0.25):
                value = self.variable(value, type_)
            arguments.append(replace(argument, value=value))
        selection_set = None
        if node.selection_set is not None:
            child = graphql.get_named_type(definition.type)
            assert isinstance(child, graphql.GraphQLObjectType)
            selection_set = self.selection_set(node.selection_set, child)
        alias = graphql.NameNode(value=self.fresh("a")) if self.chance(0.15) else None
        directives = (self.directive(),) if self.chance(self.directives) else ()
        return replace(
            node,
            alias=alias,
            arguments=tuple(arguments),
            selection_set=selection_set,
            directives=directives,
        )

    def value(
        self, value: graphql.ValueNode, type_: Any, name: str, field_name: str
    ) -> graphql.ValueNode:
        nonnull = isinstance(type_, graphql.GraphQLNonNull)
        type_ = _unwrap(type_)
        if isinstance(value, graphql.ObjectValueNode) and isinstance(
            type_, graphql.GraphQLInputObjectType
        ):
            fields = tuple(
                replace(
                    f,
                    value=self.value(
                        f.value, type_.fields[f.name.value].type, f.name.value, field_name
                    ),
                )
                for f in value.fields
                # A filter of every field the generator drew matches next to nothing.
                if not type_.name.endswith("TimeEntryFilter")
                or graphql.is_required_input_field(type_.fields[f.name.value])
                or self.chance(0.4)
            )
            return replace(value, fields=fields)
        if isinstance(value, graphql.ListValueNode) and isinstance(type_, graphql.GraphQLList):
            items = tuple(self.value(v, type_.of_type, name, field_name) for v in value.values)
            if name == "groupBy" and self.chance(0.9):  # 1 to 3 keys, mostly
                keys = _unwrap(type_.of_type)
                items = tuple(
                    graphql.EnumValueNode(value=self.pick(sorted(keys.values)))
                    for _ in range(self.rng.randint(1, 3))
                )
            return replace(value, values=items)
        if isinstance(value, graphql.NullValueNode) or not isinstance(
            type_, graphql.GraphQLScalarType
        ):
            return value
        if type_.name == "ID":
            kind = ID_KINDS.get(name) or ID_KINDS_OF_FIELD.get(field_name)
            return _string(self.id_of(kind))
        if type_.name == "String" and name in STRINGS_BY_NAME:
            return _string(self.pick(STRINGS_BY_NAME[name]))
        if type_.name == "Int" and name in INTS_BY_NAME:
            number = self.pick(INTS_BY_NAME[name])
            if number is None:
                return value if nonnull else graphql.NullValueNode()
            return graphql.IntValueNode(value=str(number))
        return value

    def id_of(self, kind: str | None) -> str:
        roll = self.rng.randint(0, 19)
        if kind == "new":
            if roll < 16:
                return str(ulid.ULID.from_int(self.rng.randint(1, 2**64)))
            kind = "entry"
        if kind is None:
            kind = self.pick(sorted(self.pools))
        home = self.pools[kind].get(self.home) or ["nope"]
        if roll < 14:
            return self.pick(home)
        if roll < 16:
            return self.pick(self.pools[kind].get(self.away) or ["nope"])
        if roll == 16:
            return self.pick(home).lower()  # ids are read in either case
        if roll == 17:
            return str(ulid.ULID.from_int(self.rng.randint(1, 2**64)))  # unknown
        if roll == 18:
            other = self.pick(sorted(self.pools))
            return self.pick(self.pools[other].get(self.home) or ["nope"])  # another kind
        return self.pick(["nope", "", "1"])

    def variable(self, value: graphql.ValueNode, type_: Any) -> graphql.ValueNode:
        name = self.fresh("v")
        python = graphql.value_from_ast_untyped(value)
        default: Any = None  # a constant value: the generated ones are
        roll = self.rng.randint(0, 9)
        if roll == 0:
            default = value  # declared with this default, sent without a value
        elif roll == 1 and not isinstance(type_, graphql.GraphQLNonNull):
            pass  # sent without a value: the argument's own default applies
        else:
            self.variables[name] = python
        self.definitions.append(
            graphql.VariableDefinitionNode(
                variable=graphql.VariableNode(name=graphql.NameNode(value=name)),
                type=type_node(type_),
                default_value=default,
                directives=(),
            )
        )
        return graphql.VariableNode(name=graphql.NameNode(value=name))

    def directive(self) -> graphql.DirectiveNode:
        which = self.pick(["include", "skip"])
        condition: graphql.ValueNode
        if self.chance(0.5):
            name = self.fresh("b")
            self.variables[name] = self.chance(0.5)
            self.definitions.append(
                graphql.VariableDefinitionNode(
                    variable=graphql.VariableNode(name=graphql.NameNode(value=name)),
                    type=graphql.NonNullTypeNode(
                        type=graphql.NamedTypeNode(name=graphql.NameNode(value="Boolean"))
                    ),
                    directives=(),
                )
            )
            condition = graphql.VariableNode(name=graphql.NameNode(value=name))
        else:
            condition = graphql.BooleanValueNode(value=self.chance(0.5))
        return graphql.DirectiveNode(
            name=graphql.NameNode(value=which),
            arguments=(graphql.ArgumentNode(name=graphql.NameNode(value="if"), value=condition),),
        )


def generate(strategy: st.SearchStrategy[T], count: int) -> list[T]:
    """``count`` distinct examples of ``strategy`` (fewer if Hypothesis does not find
    that many in twice as many tries), the same ones on every run (derandomized).

    The documents are collected first and run afterwards, in the calling test, so that
    the test itself counts what the compiler answered. (Drawing them all inside a single
    example instead would overrun Hypothesis's per-example data budget.)"""
    found: list[T] = []
    seen: set[str] = set()

    @settings(
        max_examples=2 * count,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(value: T) -> None:
        key = repr(value)
        if key not in seen and len(found) < count:  # Hypothesis may draw one again
            seen.add(key)
            found.append(value)

    collect()
    return found


# ---------------------------------------------------------------------------------------
# Running both paths.


def encode(result: ExecutionResult) -> bytes:
    """The answer's bytes as the view sends them."""
    return orjson.dumps(process_result(result))


@dataclass
class Difference:
    case: Generated
    compiled: bytes
    standard: bytes

    def __str__(self) -> str:
        return (
            f"viewer {self.case.viewer}, operation {self.case.operation_name!r}\n"
            f"{self.case.query}\nvariables: {orjson.dumps(self.case.variables).decode()}\n"
            f"compiled: {self.compiled.decode()}\nstandard: {self.standard.decode()}"
        )


class Differential:
    """Runs documents through both paths on one world and keeps the score."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.compiler = Compiler(schema, limits=LIMITS)
        self.total = 0
        self.compiled = 0
        self.differences: list[Difference] = []
        self._auth: dict[str, Any] = {}

    async def context(self, viewer: str) -> Context:
        if viewer not in self._auth:
            found = await authenticate(self.world.db, self.world.viewers()[viewer].token)
            assert found is not None
            self._auth[viewer] = found
        user, memberships = self._auth[viewer]
        return Context(
            db=self.world.db,
            viewer=user,
            memberships=dict(memberships),
            loaders=Loaders(self.world.db),
            request_id="t",
            now=NOW,
            services=Services(),
        )

    async def check(self, case: Generated) -> dict[str, Any]:
        """Both answers of ``case``; compared when the compiler answered. The standard
        answer, decoded."""
        fast = await self.compiler.execute(
            await self.context(case.viewer), case.query, case.variables, case.operation_name
        )
        standard = encode(
            await schema.execute(
                case.query,
                variable_values=case.variables,
                context_value=await self.context(case.viewer),
                operation_name=case.operation_name,
            )
        )
        self.total += 1
        if fast is not None:
            self.compiled += 1
            if encode(fast) != standard:
                self.differences.append(Difference(case, encode(fast), standard))
        body: dict[str, Any] = orjson.loads(standard)
        return body

    async def run(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        viewer: str = "a.member",
        operation_name: str | None = None,
    ) -> dict[str, Any]:
        return await self.check(Generated(query, variables or {}, operation_name, viewer))

    def verdict(self, what: str, min_share: float) -> None:
        print(
            f"\n{what}: the compiler answered {self.compiled} of {self.total} documents; "
            f"{len(self.differences)} answered differently"
        )
        assert not self.differences, "\n\n".join(str(d) for d in self.differences[:5])
        needed = max(1, math.ceil(min_share * self.total))
        assert self.compiled >= needed, (
            f"the compiler answered {self.compiled} of {self.total} documents; "
            f"MIN_COMPILED_SHARE asks for {needed}"
        )


def _keep(document: graphql.DocumentNode) -> graphql.DocumentNode:
    return document


class Cursors:
    """The cursors answers gave, by kind (the prefix they encode), to send back as the
    `after` of later documents: mostly of the connection's own kind, sometimes of another
    (an error, the same on both paths)."""

    KINDS: ClassVar[dict[str, str]] = {"timeEntries": "e", "teamChanges": "p"}  # else: tasks

    def __init__(self) -> None:
        self.by_kind: dict[str, list[str]] = {}
        self.used = 0

    def collect(self, value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key in ("cursor", "startCursor", "endCursor", "eventCursor") and isinstance(
                    item, str
                ):
                    kind = base64.urlsafe_b64decode(item + "=" * (-len(item) % 4))[:1]
                    found = self.by_kind.setdefault(kind.decode(errors="replace"), [])
                    if item not in found:
                        found.append(item)
                else:
                    self.collect(item)
        elif isinstance(value, list):
            for item in value:
                self.collect(item)

    def pick(self, field_name: str) -> str:
        self.used += 1
        kinds = sorted(self.by_kind)
        if not kinds:
            return "junk"
        wanted = self.KINDS.get(field_name)
        same = [k for k in kinds if k == wanted or (wanted is None and k not in "ep")]
        kind = same[0] if same and self.used % 10 else kinds[self.used % len(kinds)]
        found = self.by_kind[kind]
        return found[(self.used * 7) % len(found)]

    def fill(self, case: Generated) -> Generated:
        """The case with each generated `after` replaced by a cursor."""
        marks = re.findall(re.escape(CURSOR) + r":(\w+)", orjson.dumps(case.variables).decode())
        marks += re.findall(re.escape(CURSOR) + r":(\w+)", case.query)
        if not marks:
            return case
        query, variables = case.query, case.variables
        for field_name in marks:
            cursor, mark = self.pick(field_name), f"{CURSOR}:{field_name}"
            query = query.replace(f'"{mark}"', orjson.dumps(cursor).decode(), 1)
            variables = _replaced(variables, mark, cursor)
        return replace(case, query=query, variables=variables)


def _replaced(value: Any, old: str, new: str) -> Any:
    if value == old:
        return new
    if isinstance(value, dict):
        return {k: _replaced(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_replaced(v, old, new) for v in value]
    return value


VIEWERS = ["a.member", "a.member", "a.member", "a.admin", "a.owner", "shared", "b.owner"]


def generated_queries(
    world: World,
) -> tuple[st.SearchStrategy[Generated], st.SearchStrategy[Generated]]:
    """Documents over the whole Query type, and documents under `timeEntries` only (the
    part today's FastPath compiles, so that some are compiled and compared).

    No root field is left out: every one is a deterministic read of fixed data at a
    fixed instant. `teamChanges` and `eventCursor` read the outbox, which only the seed
    writes; `webhooks` is empty; reports group by the same keys on both paths."""
    custom = scalars(world.pools)
    whole = queries(schema._schema, custom_scalars=custom, print_ast=_keep)
    entries = queries(
        schema._schema, fields=["timeEntries"], custom_scalars=custom, print_ast=_keep
    )
    root = schema._schema.query_type
    assert root is not None

    def case(document: graphql.DocumentNode, seed: int, viewer: str) -> Generated:
        home, away = (world.b.id, world.a.id) if viewer == "b.owner" else (world.a.id, world.b.id)
        # Fewer directives under `timeEntries`: today's FastPath declines any directive.
        rate = 0.02 if document_roots(document) == {"timeEntries"} else 0.1
        rng = random.Random(seed)
        shaped = Shaper(rng, world.pools, home, away, rate).shape(document, root)
        return replace(shaped, viewer=viewer)

    seeds, viewers = st.integers(0, 2**32), st.sampled_from(VIEWERS)
    return st.builds(case, whole, seeds, viewers), st.builds(case, entries, seeds, viewers)


def document_roots(document: graphql.DocumentNode) -> set[str]:
    [operation] = document.definitions
    assert isinstance(operation, graphql.OperationDefinitionNode)
    return {
        s.name.value for s in operation.selection_set.selections if isinstance(s, graphql.FieldNode)
    }


_GENERATED: dict[str, list[Generated]] = {}


def generated_cases(world: World) -> list[Generated]:
    """The generated documents of ``world`` (the same ids on both dialects: generated
    once for both)."""
    key = repr(sorted(world.pools.items()))
    if key not in _GENERATED:
        whole, entries = generated_queries(world)
        # Three in four over the whole schema.
        _GENERATED[key] = generate(whole, GENERATED_QUERIES * 3 // 4) + generate(
            entries, GENERATED_QUERIES // 4
        )
    return _GENERATED[key]


async def test_generated_documents_of_the_whole_schema(world: World) -> None:
    differential = Differential(world)
    cursors = Cursors()
    for case in generated_cases(world):
        body = await differential.check(cursors.fill(case))
        cursors.collect(body.get("data"))
    differential.verdict(f"generated queries ({world.db.dialect})", MIN_COMPILED_SHARE)


# ---------------------------------------------------------------------------------------
# Documents written by hand: what generation does not reach.

USER = "id nickname timeZone locale email"
PAGE_INFO = "pageInfo { hasNextPage hasPreviousPage startCursor endCursor }"
ENTRY = """id scopeType startedAt stoppedAt running durationSeconds roundedSeconds
  formattedDuration workDate description billable rateSnapshotCents amountCents status
  inputType source lockedAt deletedAt createdAt updatedAt version autoStopped
  externalRef { provider externalType externalId }"""
MIXED = f"""query Mixed($team: ID!, $n: Int = 2, $withUser: Boolean!, $noTask: Boolean!) {{
  me: viewer {{ ...U teams {{ id name }} }}
  t: team(id: $team) {{
    ... on Team {{ id timeZone }}
    ...TeamBits
    entries: timeEntries(first: $n) {{ ...Page }}
    billable: timeEntries(filter: {{billable: true}}, first: 3) {{ totalCount nodes {{ id billable }} }}
  }}
  page: timeEntries(filter: {{teamId: $team}}, first: $n) {{
    ...Page
    nodes {{ id user @include(if: $withUser) {{ ...U }} task @skip(if: $noTask) {{ id key }} }}
  }}
}}
fragment U on User {{ {USER} }}
fragment TeamBits on Team {{ name weekStart rounding roundingMinutes lockedBefore
  members {{ role rateCents user {{ ...U }} }} }}
fragment Page on TimeEntryConnection {{ totalCount {PAGE_INFO}
  edges {{ cursor node {{ id startedAt }} }} }}"""
PAGE = f"""query Page($f: TimeEntryFilter!, $first: Int, $after: String) {{
  list: timeEntries(filter: $f, first: $first, after: $after) {{
    count: totalCount {PAGE_INFO} edges {{ cursor node {{ ...E }} }} nodes {{ key: id }} }} }}
fragment E on TimeEntry {{ {ENTRY}
  user {{ id nickname }} task {{ id key title category {{ id title }} }}
  category {{ id key title color position archived billable rateCents }}
  team {{ id name timeZone weekStart rounding roundingMinutes defaultBillable
    defaultRateCents tasksReadonly lockedBefore }} }}"""
# (root field and its argument, the connection below it): pages followed by `after`.
NESTED = {
    "team": (
        "team(id: $id)",
        "timeEntries(first: 2, after: $after, filter: {includeDeleted: true})",
    ),
    "task": ("task(id: $id)", "timeEntries(first: 2, after: $after)"),
    "category": ("category(id: $id)", "timeEntries(first: 3, after: $after)"),
    "user": ("timeEntry(id: $id) { user", "timeEntries(first: 2, after: $after) }"),
    "tasks": ("team(id: $id)", "tasks(first: 2, after: $after)"),
    "category tasks": ("category(id: $id)", "tasks(first: 1, after: $after)"),
}
REPORT = """query($f: TimeEntryFilter!, $g: [GroupBy!]!, $z: String, $w: Int) {
  timeReport(filter: $f, groupBy: $g, timeZone: $z, weekStart: $w) {
    groupBy timeZone weekStart
    totals { totalSeconds roundedSeconds totalCents entryCount runningCount }
    buckets { user { id nickname } team { id } task { id key } category { id title }
      scopeType day week month billable status inputType
      totalSeconds roundedSeconds totalCents entryCount runningCount } } }"""
GROUPS = [
    ["USER"],
    ["TEAM"],
    ["DAY", "BILLABLE"],
    ["TASK", "CATEGORY", "STATUS"],
    ["WEEK"],
    ["MONTH", "SCOPE", "INPUT_TYPE"],
    ["CATEGORY"],
    ["TASK"],
    [],  # refused: 1 to 3 keys
    ["USER", "DAY", "TASK", "STATUS"],
]
CATALOG = f"""{{ teams {{ id name timeZone eventCursor
  members {{ role rateCents user {{ {USER} teams {{ id }} runningEntry {{ id }} }} }}
  categories {{ id key title color position archived billable rateCents team {{ id }}
    parent {{ id key }} children {{ id key }} ancestors {{ id key }}
    tasks(first: 2) {{ totalCount nodes {{ id key }} }} }}
  tasks(first: 100) {{ totalCount nodes {{ id key title url state description category {{ id }} }} }}
  runningEntries {{ id durationSeconds formattedDuration user {{ id }} task {{ key }} }}
  webhooks {{ id url kinds enabled }} }} }}"""
VIEWER = f"""{{ viewer {{ {USER} teams {{ id name }}
  runningEntry {{ id startedAt durationSeconds roundedSeconds amountCents task {{ key }} }}
  timeEntries(first: 3) {{ totalCount nodes {{ id team {{ id }} }} {PAGE_INFO} }}
  mine: timeEntries(filter: {{running: false, billable: true}}) {{ totalCount }} }} }}"""
BY_ID = f"""query($id: ID!) {{ timeEntry(id: $id) {{ {ENTRY}
  comments {{ id content createdAt user {{ id nickname }} timeEntry {{ id }} }}
  team {{ id }} user {{ id }} task {{ id key }} category {{ id key }} }} }}"""
LOOKUPS = """query($team: ID!, $task: ID!, $category: ID!, $entry: ID!) {
  team(id: $team) { id name } task(id: $task) { id key }
  category(id: $category) { id title } timeEntry(id: $entry) { id }
  timeEntries(filter: {teamId: $team}) { totalCount nodes { id } }
  timeReport(filter: {teamId: $team}, groupBy: [USER]) { totals { entryCount } } }"""
CHANGES = """query($team: ID!, $after: String, $first: Int!) {
  teamChanges(teamId: $team, after: $after, first: $first) {
    endCursor hasNextPage
    nodes { cursor kind subject subjectId occurredAt version
      timeEntry { id version deletedAt } task { id title } category { id } } } }"""
ERRORS: list[tuple[str, dict[str, Any]]] = [
    ('{ timeEntries(filter: {teamId: "x"}, first: -1) { nodes { id } } }', {}),
    ('{ timeEntries(filter: {teamId: "x"}, first: 101) { nodes { id } } }', {}),
    ('{ timeEntries(filter: {teamId: "x"}, after: "junk") { nodes { id } } }', {}),
    ("query($t: ID!) { timeEntries(filter: {teamId: $t}) { totalCount } }", {}),
    ("query($t: ID!) { timeEntries(filter: {teamId: $t}) { totalCount } }", {"t": 3.5}),
    ("{ timeEntries(filter: {}) { nodes { id } } }", {}),
    ("{ viewer { nope } }", {}),
    ("{ timeEntries(", {}),
    ("{ a: viewer { id } a: teams { id } }", {}),
    ('{ team(id: "x") { timeEntries(first: 500) { nodes { id } } } }', {}),
    ('{ teamChanges(teamId: "x", after: "junk") { endCursor } }', {}),
]
TWO_OPERATIONS = """query A { viewer { id } } query B($t: ID!) {
  timeEntries(filter: {teamId: $t}, first: 1) { nodes { id } } }"""


async def follow(
    d: Differential,
    query: str,
    variables: dict[str, Any],
    path: list[str],
    viewer: str = "a.member",
    pages: int = 4,
) -> None:
    """Run ``query``, then again with ``after`` set to the page's ``endCursor`` (the one at
    ``path``) while there is a next page, up to ``pages`` pages; also with an edge's
    cursor from the middle of the first page."""
    after: str | None = None
    for n in range(pages):
        body = await d.run(query, {**variables, "after": after}, viewer=viewer)
        page = body.get("data")
        for key in path:
            page = page.get(key) if isinstance(page, dict) else None
        if not isinstance(page, dict):
            return
        info = page.get("pageInfo") or page
        edges = page.get("edges") or []
        if n == 0 and len(edges) > 1:
            await d.run(query, {**variables, "after": edges[0]["cursor"]}, viewer=viewer)
        after = info.get("endCursor")
        if not info.get("hasNextPage") or after is None:
            return


async def test_documents_written_by_hand(world: World) -> None:
    d = Differential(world)
    a, b, pools = world.a, world.b, world.pools
    for viewer in ("a.member", "a.admin", "shared", "b.owner"):
        for with_user in (True, False):
            for n in ({}, {"n": 0}, {"n": 5}):
                await d.run(
                    MIXED,
                    {"team": a.id, "withUser": with_user, "noTask": not with_user, **n},
                    viewer=viewer,
                    operation_name=None if n else "Mixed",
                )
        await d.run(CATALOG, viewer=viewer)
        await d.run(VIEWER, viewer=viewer)
    filters: list[dict[str, Any]] = [
        {},
        {"includeDeleted": True},
        {"running": True},
        {"billable": False, "scopeType": "CATEGORY"},
        {"status": ["SUBMITTED", "APPROVED"]},
        {"categoryId": a.categories["dev"]},
        {"taskId": a.tasks["T-1"]},
        {"userId": a.member.id},
        {"from": "2025-03-01T00:00:00Z", "to": "2025-03-08T00:00:00+01:00"},
        {"updatedSince": "2025-03-05T00:00:00Z", "inputType": "MANUAL"},
        {"deletedSince": "2025-02-01T00:00:00Z"},
    ]
    for f in filters:
        for first in (1, 3, 100):
            await follow(d, PAGE, {"f": {**f, "teamId": a.id}, "first": first}, ["list"])
    await follow(d, PAGE, {"f": {"teamId": b.id}, "first": 2}, ["list"], viewer="b.owner")
    await follow(d, PAGE, {"f": {"teamId": b.id}, "first": 2}, ["list"])  # not a member
    targets = {
        "team": a.id,
        "task": a.tasks["T-1"],
        "category": a.categories["dev"],
        "user": pools["entry"][a.id][0],
        "tasks": a.id,
        "category tasks": a.categories["dev"],
    }
    for name, (outer, inner) in NESTED.items():
        closing = "}" if "{" in outer else ""
        query = (
            f"query($id: ID!, $after: String) {{ {outer} {{ c: {inner} {{ totalCount "
            f"{PAGE_INFO} edges {{ cursor node {{ id }} }} }} }} {closing} }}"
        )
        path = ["timeEntry", "user", "c"] if name == "user" else [outer.split("(")[0], "c"]
        await follow(d, query, {"id": targets[name]}, path)
    for viewer in ("a.member", "a.owner"):
        await follow(d, CHANGES, {"team": a.id, "first": 2}, ["teamChanges"], viewer, pages=3)
    await d.run(CHANGES, {"team": b.id, "first": 5})  # another team's changes
    for groups in GROUPS:
        for zone, week in ((None, None), ("Europe/Berlin", 3), ("Pacific/Kiritimati", 7)):
            for f in ({}, {"billable": True, "from": "2025-03-01T00:00:00Z"}):
                variables = {"f": {**f, "teamId": a.id}, "g": groups, "z": zone, "w": week}
                await d.run(REPORT, variables)
    await d.run(REPORT, {"f": {"teamId": a.id}, "g": ["DAY"], "z": "Not/AZone"})
    await d.run(REPORT, {"f": {"teamId": b.id}, "g": ["USER"]}, viewer="shared")
    for team in (a.id, b.id):
        for entry in pools["entry"][team][:6]:
            await d.run(BY_ID, {"id": entry})
            await d.run(BY_ID, {"id": entry.lower()}, viewer="shared")
    # Another team's rows read as nothing at all: null, an empty page, an empty report.
    theirs = {
        "team": b.id,
        "task": pools["task"][b.id][0],
        "category": pools["category"][b.id][0],
        "entry": pools["entry"][b.id][0],
    }
    body = await d.run(LOOKUPS, theirs)
    data = body["data"]
    assert [data[k] for k in ("team", "task", "category", "timeEntry")] == [None] * 4
    assert data["timeEntries"] == {"totalCount": 0, "nodes": []}
    assert data["timeReport"]["totals"]["entryCount"] == 0
    ours = await d.run(LOOKUPS, theirs, viewer="b.owner")
    assert None not in [ours["data"][k] for k in ("team", "task", "category", "timeEntry")]
    for query, variables in ERRORS:
        await d.run(query, variables)
    await d.run(TWO_OPERATIONS, {"t": a.id}, operation_name="B")
    await d.run(TWO_OPERATIONS, {"t": a.id}, operation_name="A")
    await d.run(TWO_OPERATIONS, {"t": a.id})  # which one: an error
    d.verdict(f"documents written by hand ({world.db.dialect})", MIN_COMPILED_SHARE)

"""Two owners demoting or removing each other at the same instant leave one owner: real
concurrent transactions on PostgreSQL (SQLite has one writer at a time, so there the
rule holds trivially)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from store.db import Database
from tests.conftest import GQL
from tests.factories import TeamWorld, make_team
from tests.gql.mutation_helpers import mutate, ok
from tests.gql.test_team_lifecycle import REMOVE, UPDATE_MEMBER

pytestmark = pytest.mark.parametrize("dialect", ["postgresql"])

ROUNDS = 8
OWNERS = "query($t: ID!) { team(id: $t) { members { role user { id } } } }"


async def _two_owners(db: Database, gql: GQL, n: int) -> TeamWorld:
    world = await make_team(db, f"Race {n}", prefix=f"r{n}")
    promote = {"teamId": world.id, "userId": world.admin.id, "role": "OWNER"}
    ok(await mutate(gql, UPDATE_MEMBER, promote, world.owner.token))
    return world


async def _owners(gql: GQL, world: TeamWorld, token: str) -> list[str]:
    body = await gql(OWNERS, {"t": world.id}, token=token)
    members: list[dict[str, Any]] = body["data"]["team"]["members"]
    return [m["user"]["id"] for m in members if m["role"] == "OWNER"]


async def _race(db: Database, gql: GQL, doc: str, extra: dict[str, Any]) -> None:
    outcomes: list[str] = []
    for n in range(ROUNDS):
        world = await _two_owners(db, gql, n)
        a, b = world.owner, world.admin  # both OWNER now
        answers = await asyncio.gather(
            mutate(gql, doc, {"teamId": world.id, "userId": b.id, **extra}, a.token),
            mutate(gql, doc, {"teamId": world.id, "userId": a.id, **extra}, b.token),
        )
        won = [not p["userErrors"] for p in answers]
        # Exactly one wins; the other is refused as the state after the winner says.
        assert won.count(True) == 1, answers
        [loser] = [p for p in answers if p["userErrors"]]
        code = loser["userErrors"][0]["code"]
        assert code in {"LAST_OWNER", "FORBIDDEN", "NOT_FOUND"}, loser
        outcomes.append(code)
        winner = a if won[0] else b
        assert await _owners(gql, world, winner.token) == [winner.id]
    assert len(outcomes) == ROUNDS


async def test_owners_demoting_each_other_leave_one_owner(db: Database, gql: GQL) -> None:
    await _race(db, gql, UPDATE_MEMBER, {"role": "MEMBER"})


async def test_owners_removing_each_other_leave_one_owner(db: Database, gql: GQL) -> None:
    await _race(db, gql, REMOVE, {})

"""Member changes racing on PostgreSQL, with real concurrent transactions (SQLite has one
writer at a time, so there the rules hold trivially): two owners demoting or removing each
other at the same instant leave one owner; no write of a removed member commits after
the removal."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from store.db import Database
from tests.conftest import GQL
from tests.factories import Member, TeamWorld, make_team, make_user
from tests.gql.mutation_helpers import LOG, START, mutate, ok
from tests.gql.test_bad_input import MEMBER
from tests.gql.test_team_lifecycle import ARCHIVE_TEAM, CHANGES, REMOVE, UPDATE_MEMBER

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


async def test_no_write_of_a_removed_member_commits_after_the_removal(
    db: Database, gql: GQL
) -> None:
    """Entries logged and timers started while the member is removed: those that commit do
    so before the removal (their events come before it in the team's order), the others
    are refused; none lands after it."""
    world = await make_team(db, "Race", prefix="w")

    async def write(n: int) -> dict[str, Any]:
        await asyncio.sleep(0.01 * n)  # spread over the removal
        if n % 4 == 0:
            data: dict[str, Any] = {"teamId": world.id, "taskId": world.tasks["T-1"]}
            return await mutate(gql, START, data, world.member.token)
        data = {
            "teamId": world.id,
            "taskId": world.tasks["T-2"],
            "startedAt": f"2025-03-{1 + n % 28:02d}T{n % 20:02d}:00:00Z",
            "duration": "5m",
        }
        return await mutate(gql, LOG, data, world.member.token)

    async def remove() -> dict[str, Any]:
        await asyncio.sleep(0.1)  # amid the writes
        return await mutate(
            gql, REMOVE, {"teamId": world.id, "userId": world.member.id}, world.admin.token
        )

    *writes, removal = await asyncio.gather(*(write(n) for n in range(40)), remove())
    assert removal["userErrors"] == [], removal
    refusals = {p["userErrors"][0]["code"] for p in writes if p["userErrors"]}
    assert refusals <= {"NOT_FOUND"}, writes
    body = await gql(CHANGES, {"team": world.id}, token=world.owner.token)
    events = body["data"]["teamChanges"]["nodes"]
    [cut] = [i for i, e in enumerate(events) if e["subject"] == "MEMBER"]
    after = [e for e in events[cut + 1 :] if e["subject"] == "ENTRY"]
    assert after == [], after
    done = sum(1 for p in writes if not p["userErrors"])
    assert done == len({e["subjectId"] for e in events[:cut] if e["kind"] in ("LOGGED", "STARTED")})


async def test_no_timer_runs_in_a_team_archived_amid_starts(db: Database, gql: GQL) -> None:
    """Timers started by three members while an owner archives the team: the archive
    stops those that started before it, those after it are refused; none runs after."""
    world = await make_team(db, "Race", prefix="x")
    members = [world.admin, world.member]
    extra = await make_user(db, "Extra", "x-extra@example.test")
    ok(await mutate(gql, MEMBER, {"teamId": world.id, "userId": extra.id}, world.owner.token))
    members.append(extra)

    async def starts(who: Member) -> list[dict[str, Any]]:
        answers = []
        for n in range(8):
            await asyncio.sleep(0.02)
            data = {"teamId": world.id, "taskId": world.tasks["T-1" if n % 2 else "T-2"]}
            answers.append(await mutate(gql, START, data, who.token))
        return answers

    async def archive() -> dict[str, Any]:
        await asyncio.sleep(0.15)  # amid the starts
        return await mutate(gql, ARCHIVE_TEAM, {"id": world.id}, world.owner.token)

    *runs, archived = await asyncio.gather(*(starts(m) for m in members), archive())
    assert archived["userErrors"] == [], archived
    answers = [a for run in runs for a in run]
    assert {a["userErrors"][0]["code"] for a in answers if a["userErrors"]} <= {"TEAM_ARCHIVED"}
    body = await gql(
        "query($t: ID!) { team(id: $t) { archived runningEntries { id } } }",
        {"t": world.id},
        token=world.owner.token,
    )
    assert body["data"]["team"] == {"archived": True, "runningEntries": []}
    stopped = {e["id"] for e in archived["stoppedEntries"]}
    last_started = {
        next(a["timeEntry"]["id"] for a in reversed(run) if not a["userErrors"])
        for run in runs
        if any(not a["userErrors"] for a in run)
    }
    assert stopped == last_started  # each member's last timer, stopped by the archive

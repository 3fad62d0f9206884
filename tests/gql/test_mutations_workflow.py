"""transitionTimeEntries and lockTeamEntries: the state machine, roles, all-or-nothing."""

from __future__ import annotations

from typing import Any

from store.db import Database
from tests.conftest import GQL
from tests.factories import TeamWorld, make_team
from tests.gql.mutation_helpers import DELETE, LOCK, LOG, TRANSITION, UPDATE, mutate, ok, refused


async def _log(gql: GQL, world: TeamWorld, token: str, start: str = "2025-03-10T09:00:00Z") -> str:
    payload = ok(
        await mutate(
            gql,
            LOG,
            {
                "teamId": world.id,
                "taskId": world.tasks["T-2"],
                "startedAt": start,
                "duration": "1h",
            },
            token,
        )
    )
    entry_id: str = payload["timeEntry"]["id"]
    return entry_id


async def _move(gql: GQL, ids: list[str], to: str, token: str, **extra: Any) -> dict[str, Any]:
    return await mutate(gql, TRANSITION, {"ids": ids, "to": to, **extra}, token)


async def test_the_whole_approval_path(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a")
    e = await _log(gql, world, world.member.token)
    assert (
        ok(await _move(gql, [e], "SUBMITTED", world.member.token))["timeEntries"][0]["status"]
        == "SUBMITTED"
    )
    assert (
        ok(await _move(gql, [e], "REJECTED", world.admin.token, reason="Wrong task"))[
            "timeEntries"
        ][0]["status"]
        == "REJECTED"
    )
    comments = await gql(
        "query($id: ID!) { timeEntry(id: $id) { comments { content user { id } } } }",
        {"id": e},
        token=world.member.token,
    )
    assert comments["data"]["timeEntry"]["comments"] == [
        {"content": "Wrong task", "user": {"id": world.admin.id}}
    ]
    ok(await _move(gql, [e], "SUBMITTED", world.member.token))
    ok(await _move(gql, [e], "APPROVED", world.admin.token))
    locked = ok(await _move(gql, [e], "LOCKED", world.owner.token))["timeEntries"][0]
    assert locked["status"] == "LOCKED" and locked["lockedAt"] is not None
    # Locked entries cannot change.
    refused(
        await mutate(gql, UPDATE, {"id": e, "duration": "2h"}, world.owner.token), "ENTRY_LOCKED"
    )
    refused(await mutate(gql, DELETE, {"id": e}, world.owner.token), "ENTRY_LOCKED")
    unlocked = ok(await _move(gql, [e], "APPROVED", world.admin.token))["timeEntries"][0]
    assert unlocked["status"] == "APPROVED" and unlocked["lockedAt"] is None
    ok(await _move(gql, [e], "LOCKED", world.admin.token))
    assert (
        ok(await _move(gql, [e], "INVOICED", world.admin.token))["timeEntries"][0]["status"]
        == "INVOICED"
    )
    refused(
        await mutate(gql, UPDATE, {"id": e, "duration": "2h"}, world.owner.token), "ENTRY_LOCKED"
    )
    refused(
        await _move(gql, [e], "APPROVED", world.admin.token),
        "INVALID_TRANSITION",
        ["input", "ids", "0"],
    )


async def test_roles_in_transitions(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a")
    mine = await _log(gql, world, world.member.token)
    theirs = await _log(gql, world, world.admin.token)
    refused(await _move(gql, [theirs], "SUBMITTED", world.member.token), "FORBIDDEN")
    ok(await _move(gql, [mine], "SUBMITTED", world.member.token))
    refused(await _move(gql, [mine], "APPROVED", world.member.token), "FORBIDDEN")


async def test_transitions_are_all_or_nothing(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a")
    a = await _log(gql, world, world.member.token)
    b = await _log(gql, world, world.member.token, "2025-03-11T09:00:00Z")
    ok(await _move(gql, [b], "SUBMITTED", world.member.token))
    payload = await _move(gql, [a, b], "SUBMITTED", world.member.token)  # b is SUBMITTED already
    assert payload["timeEntries"] == []
    assert [(x["code"], x["field"]) for x in payload["userErrors"]] == [
        ("INVALID_TRANSITION", ["input", "ids", "1"])
    ]
    body = await gql(
        "query($id: ID!) { timeEntry(id: $id) { status version } }",
        {"id": a},
        token=world.member.token,
    )
    assert body["data"]["timeEntry"] == {"status": "DRAFT", "version": 1}
    refused(await _move(gql, [], "SUBMITTED", world.member.token), "VALIDATION", ["input", "ids"])


async def test_lock_team_entries(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a")
    old = await _log(gql, world, world.member.token, "2025-03-01T09:00:00Z")
    refused(
        await mutate(
            gql, LOCK, {"teamId": world.id, "before": "2025-03-05T00:00:00Z"}, world.member.token
        ),
        "FORBIDDEN",
    )
    team = ok(
        await mutate(
            gql, LOCK, {"teamId": world.id, "before": "2025-03-05T00:00:00Z"}, world.admin.token
        )
    )
    assert team["team"]["lockedBefore"] == "2025-03-05T00:00:00Z"
    refused(
        await mutate(gql, UPDATE, {"id": old, "duration": "2h"}, world.member.token), "ENTRY_LOCKED"
    )
    refused(await mutate(gql, DELETE, {"id": old}, world.member.token), "ENTRY_LOCKED")
    new_in_locked = await mutate(
        gql,
        LOG,
        {
            "teamId": world.id,
            "taskId": world.tasks["T-2"],
            "startedAt": "2025-03-04T09:00:00Z",
            "duration": "1h",
        },
        world.member.token,
    )
    refused(new_in_locked, "ENTRY_LOCKED", ["input", "startedAt"])
    fine = await _log(gql, world, world.member.token, "2025-03-06T09:00:00Z")
    refused(
        await mutate(
            gql, UPDATE, {"id": fine, "startedAt": "2025-03-04T09:00:00Z"}, world.member.token
        ),
        "ENTRY_LOCKED",
        ["input", "startedAt"],
    )

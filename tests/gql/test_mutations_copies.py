"""continueTimeEntry and duplicateTimeEntry: a new entry from an existing one, through the
rules of startTimer and logTimeEntry (store.copies)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest

from store.db import Database
from store.models import Membership, Task, TaskState
from tests.conftest import GQL
from tests.factories import TeamWorld, make_team
from tests.gql.mutation_helpers import (
    DELETE,
    ENTRY_FIELDS,
    ERRORS,
    LOCK,
    LOG,
    START,
    mutate,
    ok,
    refused,
)
from tests.gql.test_team_lifecycle import CHANGES

CONTINUE = f"""mutation($input: ContinueTimeEntryInput!) {{ continueTimeEntry(input: $input) {{
  replayed isNewTask {ERRORS} timeEntry {{ {ENTRY_FIELDS} }} stoppedEntry {{ {ENTRY_FIELDS} }} }} }}"""
DUPLICATE = f"""mutation($input: DuplicateTimeEntryInput!) {{ duplicateTimeEntry(input: $input) {{
  replayed {ERRORS} timeEntry {{ {ENTRY_FIELDS} }} }} }}"""
ENTRIES = "query($t: ID!) { team(id: $t) { timeEntries { totalCount } } }"
RUNNING = "{ viewer { runningEntry { id } } }"


async def logged(gql: GQL, world: TeamWorld, token: str, **extra: Any) -> dict[str, Any]:
    entry = {
        "teamId": world.id,
        "taskId": world.tasks["T-2"],
        "startedAt": "2025-03-10T08:00:00Z",
        "duration": "1h30m",
        "description": "paging docs",
        "billable": False,
        **extra,
    }
    result: dict[str, Any] = ok(await mutate(gql, LOG, entry, token))["timeEntry"]
    return result


async def count(gql: GQL, world: TeamWorld) -> int:
    body = await gql(ENTRIES, {"t": world.id}, token=world.owner.token)
    total: int = body["data"]["team"]["timeEntries"]["totalCount"]
    return total


async def test_continue_copies_the_entry_and_switches_the_timer(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a")
    source = await logged(gql, world, world.member.token)
    running = ok(
        await mutate(
            gql,
            START,
            {"teamId": world.id, "categoryId": world.categories["dev"]},
            world.member.token,
        )
    )["timeEntry"]
    done = ok(await mutate(gql, CONTINUE, {"id": source["id"]}, world.member.token))
    entry, stopped = done["timeEntry"], done["stoppedEntry"]
    assert entry["id"] not in (source["id"], running["id"]) and entry["running"] is True
    assert entry["task"] == source["task"] and entry["category"] == source["category"]
    assert entry["scopeType"] == source["scopeType"] == "TASK"
    assert (entry["description"], entry["billable"]) == ("paging docs", False)
    assert (entry["inputType"], entry["status"], entry["version"]) == ("REALTIME", "DRAFT", 1)
    assert entry["user"] == {"id": world.member.id} and done["isNewTask"] is False
    assert stopped["id"] == running["id"] and stopped["stoppedAt"] == entry["startedAt"]
    viewer = await gql(RUNNING, token=world.member.token)
    assert viewer["data"]["viewer"]["runningEntry"] == {"id": entry["id"]}
    kinds = [
        (c["kind"], c["subjectId"])
        for c in (await gql(CHANGES, {"team": world.id}, token=world.owner.token))["data"][
            "teamChanges"
        ]["nodes"]
    ]
    assert kinds[-2:] == [("STOPPED", running["id"]), ("STARTED", entry["id"])]
    # A category entry continues on its category.
    by_category = ok(await mutate(gql, CONTINUE, {"id": running["id"]}, world.member.token))[
        "timeEntry"
    ]
    assert by_category["scopeType"] == "CATEGORY" and by_category["task"] is None
    assert by_category["category"] == {"id": world.categories["dev"], "key": "dev"}


async def test_continue_of_a_teammates_entry_is_the_viewers_timer(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a")
    source = await logged(gql, world, world.admin.token, billable=True)
    entry = ok(await mutate(gql, CONTINUE, {"id": source["id"]}, world.member.token))["timeEntry"]
    assert entry["user"] == {"id": world.member.id} and entry["task"] == source["task"]
    # The rate is the viewer's (derived again), not the source's.
    assert source["rateSnapshotCents"] != 9000 and entry["rateSnapshotCents"] == 9000


@pytest.mark.parametrize("how", ["archived", "closed"])
async def test_continue_refused_as_start_timer_refuses(db: Database, gql: GQL, how: str) -> None:
    world = await make_team(db, "Acme", prefix="a")
    source = await logged(gql, world, world.member.token)
    async with db.write() as s:
        task = await s.get(Task, world.tasks["T-2"])
        assert task is not None
        if how == "archived":
            task.archived_at = datetime.now(UTC)
        else:
            task.state = TaskState.CLOSED.value
        s.add(task)
        await s.commit()
    before = await count(gql, world)
    started = await mutate(
        gql, START, {"teamId": world.id, "taskId": world.tasks["T-2"]}, world.member.token
    )
    code = started["userErrors"][0]["code"]
    assert code == ("TASK_ARCHIVED" if how == "archived" else "VALIDATION")
    refused(
        await mutate(gql, CONTINUE, {"id": source["id"]}, world.member.token), code, ["input", "id"]
    )
    refused(
        await mutate(
            gql, DUPLICATE, {"id": source["id"], "workDate": "2025-03-11"}, world.member.token
        ),
        code,
        ["input", "id"],
    )
    assert await count(gql, world) == before


async def test_duplicate_by_started_at_and_by_work_date(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a", time_zone="Europe/Berlin")
    source = await logged(gql, world, world.member.token, billable=True)
    assert source["rateSnapshotCents"] == 9000
    async with db.write() as s:
        member = await s.get(Membership, (world.id, world.member.id))
        assert member is not None
        member.rate_cents = 12000
        s.add(member)
        await s.commit()
    at = ok(
        await mutate(
            gql,
            DUPLICATE,
            {"id": source["id"], "startedAt": "2025-03-12T13:00:00Z"},
            world.member.token,
        )
    )["timeEntry"]
    assert at["id"] != source["id"] and at["startedAt"] == "2025-03-12T13:00:00Z"
    assert at["stoppedAt"] == "2025-03-12T14:30:00Z" and at["durationSeconds"] == 5400
    assert (at["task"], at["description"], at["billable"]) == (source["task"], "paging docs", True)
    assert (at["status"], at["inputType"], at["source"], at["version"]) == (
        "DRAFT",
        "MANUAL",
        "API",
        1,
    )
    assert at["rateSnapshotCents"] == 12000  # today's rules, not the source's snapshot
    on_day = ok(
        await mutate(
            gql, DUPLICATE, {"id": source["id"], "workDate": "2025-03-13"}, world.member.token
        )
    )["timeEntry"]
    assert on_day["startedAt"] == "2025-03-13T08:00:00Z"  # 09:00 in Berlin
    assert on_day["workDate"] == "2025-03-13" and on_day["durationSeconds"] == 5400


async def test_duplicate_needs_exactly_one_start_and_a_stopped_entry(
    db: Database, gql: GQL
) -> None:
    world = await make_team(db, "Acme", prefix="a")
    source = await logged(gql, world, world.member.token)
    before = await count(gql, world)
    refused(
        await mutate(gql, DUPLICATE, {"id": source["id"]}, world.member.token),
        "VALIDATION",
        ["input"],
    )
    both = {"id": source["id"], "startedAt": "2025-03-12T13:00:00Z", "workDate": "2025-03-12"}
    refused(
        await mutate(gql, DUPLICATE, both, world.member.token), "VALIDATION", ["input", "workDate"]
    )
    running = ok(
        await mutate(
            gql, START, {"teamId": world.id, "taskId": world.tasks["T-2"]}, world.member.token
        )
    )["timeEntry"]
    refused(
        await mutate(
            gql, DUPLICATE, {"id": running["id"], "workDate": "2025-03-12"}, world.member.token
        ),
        "VALIDATION",
        ["input", "id"],
    )
    assert await count(gql, world) == before + 1  # the started timer only


async def test_a_locked_period_refuses_both(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a")
    source = await logged(gql, world, world.member.token)
    now = datetime.now(UTC).replace(microsecond=0)
    locked = (now - timedelta(hours=1)).isoformat()
    inside = (now - timedelta(hours=2)).isoformat()
    ok(await mutate(gql, LOCK, {"teamId": world.id, "before": locked}, world.admin.token))
    before = await count(gql, world)
    for doc in (DUPLICATE, CONTINUE):
        refused(
            await mutate(gql, doc, {"id": source["id"], "startedAt": inside}, world.member.token),
            "ENTRY_LOCKED",
            ["input", "startedAt"],
        )
    assert await count(gql, world) == before
    ok(await mutate(gql, CONTINUE, {"id": source["id"]}, world.member.token))  # now is open


async def test_tenancy_unknown_and_deleted_entries(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a")
    other = await make_team(db, "Other", prefix="b")
    theirs = await logged(gql, other, other.member.token)
    mine = await logged(gql, world, world.member.token)
    ok(await mutate(gql, DELETE, {"id": mine["id"]}, world.member.token))
    before = await count(gql, world)
    for entry_id in (theirs["id"], mine["id"], "01JNZZZZZZZZZZZZZZZZZZZZZZ", "nope"):
        refused(
            await mutate(gql, CONTINUE, {"id": entry_id}, world.member.token),
            "NOT_FOUND",
            ["input", "id"],
        )
        refused(
            await mutate(
                gql, DUPLICATE, {"id": entry_id, "workDate": "2025-03-12"}, world.member.token
            ),
            "NOT_FOUND",
            ["input", "id"],
        )
    assert await count(gql, world) == before
    viewer = await gql(RUNNING, token=world.member.token)
    assert viewer["data"]["viewer"]["runningEntry"] is None


async def test_idempotent_replays_and_conflicts(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a")
    source = await logged(gql, world, world.member.token)
    go = {"id": source["id"], "idempotencyKey": "go"}
    first = ok(await mutate(gql, CONTINUE, go, world.member.token))
    again = ok(await mutate(gql, CONTINUE, go, world.member.token))
    assert again["replayed"] is True and first["replayed"] is False
    assert again["timeEntry"]["id"] == first["timeEntry"]["id"]
    refused(
        await mutate(
            gql, CONTINUE, {**go, "startedAt": first["timeEntry"]["startedAt"]}, world.member.token
        ),
        "IDEMPOTENCY_CONFLICT",
        ["input", "idempotencyKey"],
    )
    copy = {"id": source["id"], "workDate": "2025-03-12", "idempotencyKey": "copy"}
    one = ok(await mutate(gql, DUPLICATE, copy, world.member.token))
    two = ok(await mutate(gql, DUPLICATE, copy, world.member.token))
    assert two["replayed"] is True and two["timeEntry"]["id"] == one["timeEntry"]["id"]
    refused(
        await mutate(gql, DUPLICATE, {**copy, "workDate": "2025-03-13"}, world.member.token),
        "IDEMPOTENCY_CONFLICT",
        ["input", "idempotencyKey"],
    )
    # source + the continued timer + one copy
    assert await count(gql, world) == 3


@pytest.mark.parametrize("dialect", ["postgresql"])
async def test_concurrent_continues_leave_one_running_timer(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a")
    source = await logged(gql, world, world.member.token)
    answers = await asyncio.gather(
        *(
            mutate(
                gql, CONTINUE, {"id": source["id"], "idempotencyKey": f"c{n}"}, world.member.token
            )
            for n in range(10)
        )
    )
    assert all(a["userErrors"] == [] for a in answers), answers
    started = {a["timeEntry"]["id"] for a in answers}
    assert len(started) == 10
    body = await gql(
        "query($t: ID!) { team(id: $t) { timeEntries(first: 50) { nodes { id running "
        "startedAt stoppedAt } } } }",
        {"t": world.id},
        token=world.member.token,
    )
    nodes = [n for n in body["data"]["team"]["timeEntries"]["nodes"] if n["id"] in started]
    assert len(nodes) == 10
    assert sum(n["running"] for n in nodes) == 1
    spans = sorted((n["startedAt"], n["stoppedAt"] or "9999") for n in nodes)
    assert all(a[1] <= b[0] for a, b in pairwise(spans))


async def test_continue_at_a_start_and_duplicate_a_category_entry(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a")
    source = await logged(
        gql, world, world.member.token, taskId=None, categoryId=world.categories["dev"]
    )
    at = (datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)).isoformat()
    done = ok(
        await mutate(gql, CONTINUE, {"id": source["id"], "startedAt": at}, world.member.token)
    )
    assert done["stoppedEntry"] is None and done["timeEntry"]["running"] is True
    assert datetime.fromisoformat(done["timeEntry"]["startedAt"]) == datetime.fromisoformat(at)
    assert done["timeEntry"]["category"] == {"id": world.categories["dev"], "key": "dev"}
    copy = ok(
        await mutate(
            gql, DUPLICATE, {"id": source["id"], "workDate": "2025-03-11"}, world.member.token
        )
    )["timeEntry"]
    assert (copy["scopeType"], copy["task"], copy["category"]) == (
        "CATEGORY",
        None,
        {"id": world.categories["dev"], "key": "dev"},
    )

"""startTimer / stopTimer: find-or-create by key, one running timer per user, permissions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from store.db import Database
from tests.conftest import GQL
from tests.factories import make_team
from tests.gql.mutation_helpers import START, STOP, mutate, ok, refused


async def test_start_stops_the_running_timer_at_the_same_instant(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a")
    first = ok(
        await mutate(
            gql, START, {"teamId": world.id, "taskId": world.tasks["T-1"]}, world.member.token
        )
    )
    assert first["timeEntry"]["running"] is True and first["stoppedEntry"] is None
    assert first["timeEntry"]["inputType"] == "REALTIME" and first["timeEntry"]["stoppedAt"] is None
    second = ok(
        await mutate(
            gql,
            START,
            {"teamId": world.id, "categoryId": world.categories["dev"]},
            world.member.token,
        )
    )
    stopped = second["stoppedEntry"]
    assert stopped["id"] == first["timeEntry"]["id"] and stopped["running"] is False
    assert stopped["stoppedAt"] == second["timeEntry"]["startedAt"]
    assert stopped["version"] == 2
    viewer = await gql("{ viewer { runningEntry { id } } }", token=world.member.token)
    assert viewer["data"]["viewer"]["runningEntry"] == {"id": second["timeEntry"]["id"]}


async def test_the_running_timer_of_another_team_is_stopped_too(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a")
    other = await make_team(db, "Other", prefix="b")
    from store import accounts

    async with db.write() as s:
        await accounts.add_member(s, team_id=other.id, user_id=world.member.id)
        await s.commit()
    first = ok(
        await mutate(
            gql, START, {"teamId": world.id, "taskId": world.tasks["T-1"]}, world.member.token
        )
    )
    second = ok(
        await mutate(
            gql, START, {"teamId": other.id, "taskId": other.tasks["T-1"]}, world.member.token
        )
    )
    assert second["stoppedEntry"]["id"] == first["timeEntry"]["id"]


async def test_task_found_or_created_by_key(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a")
    found = ok(
        await mutate(gql, START, {"teamId": world.id, "task": {"key": "T-1"}}, world.member.token)
    )
    assert found["isNewTask"] is False and found["timeEntry"]["task"]["id"] == world.tasks["T-1"]
    made = ok(
        await mutate(
            gql,
            START,
            {
                "teamId": world.id,
                "task": {
                    "key": "https://tracker.example/issue/7",
                    "title": "Issue 7",
                    "parentCategory": {"key": "support", "title": "Support"},
                },
            },
            world.admin.token,  # a new category: for admins (amendment "category rights")
        )
    )
    assert made["isNewTask"] is True
    assert made["timeEntry"]["task"]["key"] == "https://tracker.example/issue/7"
    assert made["timeEntry"]["category"]["key"] == "support"
    again = ok(
        await mutate(
            gql,
            START,
            {
                "teamId": world.id,
                "task": {
                    "key": "https://tracker.example/issue/7",
                    "parentCategory": {"key": "support"},
                },
            },
            world.member.token,
        )
    )
    assert (
        again["isNewTask"] is False
        and again["timeEntry"]["task"]["id"] == made["timeEntry"]["task"]["id"]
    )
    cats = await gql(
        "query($id: ID!) { team(id: $id) { categories { key } } }",
        {"id": world.id},
        token=world.member.token,
    )
    assert [c["key"] for c in cats["data"]["team"]["categories"]].count("support") == 1


async def test_readonly_tasks_and_archived_categories(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a", tasks_readonly=True)
    refused(
        await mutate(gql, START, {"teamId": world.id, "task": {"key": "NEW"}}, world.member.token),
        "TASKS_READONLY",
        ["input", "task", "key"],
    )
    ok(
        await mutate(gql, START, {"teamId": world.id, "task": {"key": "T-1"}}, world.member.token)
    )  # existing is fine
    from store.models import Category

    async with db.write() as s:
        api = await s.get(Category, world.categories["api"])
        assert api is not None
        api.archived = True
        s.add(api)
        await s.commit()
    refused(
        await mutate(
            gql,
            START,
            {"teamId": world.id, "categoryId": world.categories["api"]},
            world.member.token,
        ),
        "CATEGORY_ARCHIVED",
    )
    refused(
        await mutate(
            gql, START, {"teamId": world.id, "taskId": world.tasks["T-1"]}, world.member.token
        ),
        "CATEGORY_ARCHIVED",
    )


async def test_start_needs_exactly_one_scope(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a")
    refused(await mutate(gql, START, {"teamId": world.id}, world.member.token), "VALIDATION")
    refused(
        await mutate(
            gql,
            START,
            {
                "teamId": world.id,
                "taskId": world.tasks["T-1"],
                "categoryId": world.categories["dev"],
            },
            world.member.token,
        ),
        "VALIDATION",
    )
    refused(
        await mutate(
            gql,
            START,
            {"teamId": world.id, "taskId": world.tasks["T-1"], "startedAt": "2999-01-01T00:00:00Z"},
            world.member.token,
        ),
        "VALIDATION",
        ["input", "startedAt"],
    )


async def test_stop_timer(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a")
    refused(await mutate(gql, STOP, {}, world.member.token), "TIMER_NOT_RUNNING")
    started = ok(
        await mutate(
            gql, START, {"teamId": world.id, "taskId": world.tasks["T-1"]}, world.member.token
        )
    )
    entry_id = started["timeEntry"]["id"]
    other = await make_team(db, "Other", prefix="b")
    refused(await mutate(gql, STOP, {"timeEntryId": entry_id}, other.admin.token), "NOT_FOUND")
    # A member may not stop someone else's timer; an admin may.
    admin_started = ok(
        await mutate(
            gql, START, {"teamId": world.id, "taskId": world.tasks["T-2"]}, world.admin.token
        )
    )
    refused(
        await mutate(
            gql, STOP, {"timeEntryId": admin_started["timeEntry"]["id"]}, world.member.token
        ),
        "FORBIDDEN",
    )
    stopped = ok(await mutate(gql, STOP, {"timeEntryId": entry_id}, world.admin.token))["timeEntry"]
    # The admin stopped the member's timer: its own duration, stoppedAt - startedAt.
    assert stopped["running"] is False and stopped["user"]["id"] == world.member.id
    elapsed = datetime.fromisoformat(stopped["stoppedAt"]) - datetime.fromisoformat(
        stopped["startedAt"]
    )
    assert stopped["durationSeconds"] == elapsed.total_seconds() >= 1  # at least 1 s
    refused(
        await mutate(gql, STOP, {"timeEntryId": entry_id}, world.member.token), "TIMER_NOT_RUNNING"
    )
    mine = ok(await mutate(gql, STOP, {}, world.admin.token))["timeEntry"]
    assert mine["id"] == admin_started["timeEntry"]["id"]


async def test_stop_at_a_given_instant(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a")
    # A timer starts at most 24 hours back: three hours ago, in whole seconds.
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    started = ok(
        await mutate(
            gql,
            START,
            {"teamId": world.id, "taskId": world.tasks["T-1"], "startedAt": start.isoformat()},
            world.member.token,
        )
    )
    before_start = (start - timedelta(hours=1)).isoformat()
    refused(
        await mutate(gql, STOP, {"stoppedAt": before_start}, world.member.token),
        "VALIDATION",
        ["input", "stoppedAt"],
    )
    at = (start + timedelta(seconds=4500)).astimezone(timezone(timedelta(hours=2)))
    stopped = ok(await mutate(gql, STOP, {"stoppedAt": at.isoformat()}, world.member.token))[
        "timeEntry"
    ]
    assert stopped["id"] == started["timeEntry"]["id"] and stopped["durationSeconds"] == 4500


async def test_a_start_follows_a_stop_that_lies_after_now(db: Database, gql: GQL) -> None:
    """A burst of clicks: an entry lasts at least a second, so a stop right after a start
    lies after "now", and the next start begins at that stop, not before it."""
    world = await make_team(db, "Acme", prefix="a")
    token = world.member.token
    first = ok(await mutate(gql, START, {"teamId": world.id, "taskId": world.tasks["T-1"]}, token))
    stopped = ok(await mutate(gql, STOP, {}, token))["timeEntry"]
    assert stopped["id"] == first["timeEntry"]["id"]
    stop = datetime.fromisoformat(stopped["stoppedAt"])
    assert stop > datetime.now(UTC) - timedelta(seconds=1)  # the clicks were within a second
    again = ok(await mutate(gql, START, {"teamId": world.id, "taskId": world.tasks["T-2"]}, token))
    assert datetime.fromisoformat(again["timeEntry"]["startedAt"]) == stop
    # And a start right after that one stops it at its start's second at the earliest.
    third = ok(await mutate(gql, START, {"teamId": world.id, "taskId": world.tasks["T-1"]}, token))
    assert datetime.fromisoformat(third["timeEntry"]["startedAt"]) >= stop
    assert third["stoppedEntry"]["id"] == again["timeEntry"]["id"]

"""Team, member, category and task management; events; transport rules for mutations."""

from __future__ import annotations

import httpx

from gql.server.app import create_app
from gql.settings import Settings
from store.db import Database
from store.events import EntryEvent
from tests.conftest import GQL
from tests.factories import make_team, make_user
from tests.gql.mutation_helpers import (
    COMMENT,
    DELETE,
    LOG,
    START,
    STOP,
    UPDATE,
    mutate,
    ok,
    refused,
)
from tests.gql.test_bad_input import CATEGORY, MEMBER, TASK, TEAM, UPDATE_CATEGORY, UPDATE_TEAM

TEAM_FIELDS = "team { id name timeZone weekStart rounding roundingMinutes defaultBillable defaultRateCents tasksReadonly members { role user { id } } }"


async def test_create_and_update_team(db: Database, gql: GQL) -> None:
    user = await make_user(db, "Solo", "solo@example.test")
    created = ok(
        await mutate(
            gql,
            TEAM.replace("team { id }", TEAM_FIELDS),
            {
                "name": "Night shift",
                "timeZone": "Asia/Tokyo",
                "weekStart": 7,
                "rounding": "CEIL",
                "roundingMinutes": 15,
                "defaultBillable": False,
                "defaultRateCents": 12_000,
            },
            user.token,
        )
    )["team"]
    assert (
        created["name"] == "Night shift"
        and created["timeZone"] == "Asia/Tokyo"
        and created["weekStart"] == 7
    )
    assert created["rounding"] == "CEIL" and created["roundingMinutes"] == 15
    assert created["defaultBillable"] is False and created["defaultRateCents"] == 12_000
    assert created["members"] == [{"role": "OWNER", "user": {"id": user.id}}]
    updated = ok(
        await mutate(
            gql,
            UPDATE_TEAM.replace("team { id }", TEAM_FIELDS),
            {"id": created["id"], "name": "Day shift", "tasksReadonly": True},
            user.token,
        )
    )["team"]
    assert (
        updated["name"] == "Day shift"
        and updated["tasksReadonly"] is True
        and updated["timeZone"] == "Asia/Tokyo"
    )


async def test_add_team_member(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a")
    newcomer = await make_user(db, "New", "new@example.test")
    added = ok(
        await mutate(
            gql,
            MEMBER.replace("member { role }", "member { role rateCents user { id } } team { id }"),
            {"teamId": world.id, "email": "NEW@example.test", "role": "ADMIN", "rateCents": 7000},
            world.admin.token,
        )
    )
    assert added["member"] == {"role": "ADMIN", "rateCents": 7000, "user": {"id": newcomer.id}}
    teams = await gql("{ teams { id } }", token=newcomer.token)
    assert teams["data"]["teams"] == [{"id": world.id}]
    # Owners may grant OWNER.
    owner = ok(
        await mutate(
            gql,
            MEMBER,
            {"teamId": world.id, "userId": newcomer.id, "role": "OWNER"},
            world.owner.token,
        )
    )
    assert owner["member"] == {"role": "OWNER"}


async def test_categories_and_tasks(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a", tasks_readonly=True)
    cat = ok(
        await mutate(
            gql,
            CATEGORY.replace(
                "category { id }",
                "category { id key title parent { key } billable rateCents color position }",
            ),
            {
                "teamId": world.id,
                "title": "Research",
                "key": "research",
                "parentId": world.categories["dev"],
                "billable": True,
                "rateCents": 15_000,
                "color": 3,
                "position": 2,
            },
            world.admin.token,
        )
    )["category"]
    assert cat["parent"] == {"key": "dev"} and cat["rateCents"] == 15_000 and cat["color"] == 3
    moved = ok(
        await mutate(
            gql,
            UPDATE_CATEGORY.replace(
                "category { id }", "category { parent { key } rateCents archived }"
            ),
            {"id": cat["id"], "parentId": None, "rateCents": None, "archived": True},
            world.admin.token,
        )
    )["category"]
    assert moved == {"parent": None, "rateCents": None, "archived": True}
    # tasksReadonly: members may not create tasks, admins may.
    refused(
        await mutate(
            gql, TASK, {"teamId": world.id, "key": "X-1", "title": "X"}, world.member.token
        ),
        "TASKS_READONLY",
    )
    task = ok(
        await mutate(
            gql,
            TASK.replace("task { id }", "task { id key title state category { key } }"),
            {"teamId": world.id, "key": "X-1", "title": "X", "categoryId": world.categories["api"]},
            world.admin.token,
        )
    )["task"]
    assert task["state"] == "OPEN" and task["category"] == {"key": "api"}
    upd = """mutation($input: UpdateTaskInput!) { updateTask(input: $input) { userErrors { code } task { title state url category { key } } } }"""
    changed = ok(
        await mutate(
            gql,
            upd,
            {"id": task["id"], "state": "CLOSED", "url": "https://x.example/1", "categoryId": None},
            world.admin.token,
        )
    )["task"]
    assert changed == {
        "title": "X",
        "state": "CLOSED",
        "url": "https://x.example/1",
        "category": None,
    }
    # Archived categories take no new tasks.
    refused(
        await mutate(
            gql,
            TASK,
            {"teamId": world.id, "key": "X-2", "title": "Y", "categoryId": cat["id"]},
            world.admin.token,
        ),
        "CATEGORY_ARCHIVED",
    )


async def test_events_after_commit_only(db: Database, database_url: str) -> None:
    world = await make_team(db, "Acme", prefix="a")
    app = create_app(Settings(database_url=database_url))
    events: list[EntryEvent] = []
    app.state.services.events.listen(events.append)
    headers = {"authorization": f"Bearer {world.member.token}"}

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as client:

        async def run(doc: str, data: dict[str, object]) -> dict[str, object]:
            r = await client.post(
                "/graphql", json={"query": doc, "variables": {"input": data}}, headers=headers
            )
            [payload] = r.json()["data"].values()
            return dict(payload)

        started = await run(START, {"teamId": world.id, "taskId": world.tasks["T-1"]})
        entry = started["timeEntry"]["id"]  # type: ignore[index]
        await run(STOP, {})
        logged = await run(
            LOG,
            {
                "teamId": world.id,
                "taskId": world.tasks["T-2"],
                "startedAt": "2025-03-10T09:00:00Z",
                "duration": "1h",
                "idempotencyKey": "e",
            },
        )
        await run(
            LOG,
            {
                "teamId": world.id,
                "taskId": world.tasks["T-2"],
                "startedAt": "2025-03-10T09:00:00Z",
                "duration": "1h",
                "idempotencyKey": "e",
            },
        )  # replay
        other = logged["timeEntry"]["id"]  # type: ignore[index]
        await run(UPDATE, {"id": other, "duration": "2h"})
        await run(COMMENT, {"timeEntryId": other, "content": "ok"})
        await run(DELETE, {"id": other})
        # Refused changes publish nothing.
        await run(UPDATE, {"id": other, "duration": "0s"})
        await run(STOP, {})
    await app.state.services.db.dispose()
    assert [(e.kind.value, e.entry_id, e.version) for e in events] == [
        ("STARTED", entry, 1),
        ("STOPPED", entry, 2),
        ("LOGGED", other, 1),
        ("UPDATED", other, 2),
        ("COMMENTED", other, 2),
        ("DELETED", other, 3),
    ]
    assert all(e.team_id == world.id and e.user_id == world.member.id for e in events)


async def test_mutation_over_get_is_refused(db: Database, app_client: httpx.AsyncClient) -> None:
    world = await make_team(db, "Acme", prefix="a")
    response = await app_client.get(
        "/graphql",
        params={"query": "mutation { stopTimer(input: {}) { replayed } }"},
        headers={"authorization": f"Bearer {world.member.token}"},
    )
    assert response.status_code == 405

"""Everything is scoped to the viewer's teams: another team's ids read as nothing at all."""

from __future__ import annotations

from typing import Any

from store import accounts
from store.db import Database
from store.ids import new_id
from store.models import Role, TimeEntry
from store.timeutil import utcnow
from tests.conftest import GQL
from tests.factories import add_entries, make_team


async def test_ids_of_another_team_read_as_nothing(db: Database, gql: GQL) -> None:
    mine = await make_team(db, "Acme", prefix="a")
    other = await make_team(db, "Acme", prefix="b")  # same name, same category and task keys
    other_entries = await add_entries(
        db, team_id=other.id, user_id=other.member.id, task_id=other.tasks["T-1"], count=3
    )
    await add_entries(
        db, team_id=mine.id, user_id=mine.member.id, task_id=mine.tasks["T-1"], count=2
    )
    token = mine.member.token

    single: list[tuple[str, str, str]] = [
        ("team", other.id, "query($id: ID!) { team(id: $id) { id name } }"),
        ("task", other.tasks["T-1"], "query($id: ID!) { task(id: $id) { id key } }"),
        ("category", other.categories["dev"], "query($id: ID!) { category(id: $id) { id key } }"),
        ("timeEntry", other_entries[0], "query($id: ID!) { timeEntry(id: $id) { id } }"),
    ]
    for field, other_id, query in single:
        body = await gql(query, {"id": other_id}, token=token)
        assert body["data"] == {field: None} and "errors" not in body, (field, body)

    filters: list[dict[str, Any]] = [
        {"teamId": other.id},
        {"teamId": mine.id, "userId": other.member.id},
        {"teamId": mine.id, "taskId": other.tasks["T-1"]},
        {"teamId": mine.id, "categoryId": other.categories["dev"]},
        {"teamId": other.id, "includeDeleted": True},
    ]
    for f in filters:
        body = await gql(
            "query($f: TimeEntryFilter!) { timeEntries(filter: $f) { totalCount nodes { id } } }",
            {"f": f},
            token=token,
        )
        assert body["data"] == {"timeEntries": {"totalCount": 0, "nodes": []}}, (f, body)
        assert "errors" not in body, (f, body)

    body = await gql("{ teams { id } viewer { teams { id } } }", token=token)
    assert body["data"] == {"teams": [{"id": mine.id}], "viewer": {"teams": [{"id": mine.id}]}}


async def test_a_user_in_two_teams_shows_only_the_shared_one(db: Database, gql: GQL) -> None:
    mine = await make_team(db, "Acme", prefix="a")
    other = await make_team(db, "Other", prefix="b")
    # other.member joins mine as well, and runs a timer in the other team.
    async with db.write() as s:
        await accounts.add_member(
            s, team_id=mine.id, user_id=other.member.id, role=Role.MEMBER.value
        )
        now = utcnow()
        s.add(
            TimeEntry(
                id=new_id(),
                team_id=other.id,
                user_id=other.member.id,
                scope_type="TASK",
                task_id=other.tasks["T-1"],
                started_at=now,
                work_date=now.date(),
                billable=True,
            )
        )
        await s.commit()
    shared = await add_entries(
        db, team_id=mine.id, user_id=other.member.id, task_id=mine.tasks["T-1"], count=1
    )
    await add_entries(
        db, team_id=other.id, user_id=other.member.id, task_id=other.tasks["T-2"], count=2
    )

    body = await gql(
        """query($id: ID!) { team(id: $id) { members { user { id email teams { id }
             runningEntry { id } timeEntries { totalCount nodes { id } } } } } }""",
        {"id": mine.id},
        token=mine.member.token,
    )
    [dual] = [
        m["user"] for m in body["data"]["team"]["members"] if m["user"]["id"] == other.member.id
    ]
    assert dual["teams"] == [{"id": mine.id}]
    assert dual["email"] is None
    assert dual["runningEntry"] is None  # running in a team the viewer is not in
    assert dual["timeEntries"] == {"totalCount": 1, "nodes": [{"id": shared[0]}]}

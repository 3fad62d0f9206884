from __future__ import annotations

from store.db import Database
from tests.conftest import GQL
from tests.factories import add_entries, make_team


async def test_viewer_and_teams(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a")
    body = await gql("{ viewer { id nickname email } teams { id name members { role } } }", token=world.member.token)
    assert body.get("errors") is None, body
    assert body["data"]["viewer"] == {"id": world.member.id, "nickname": "a Member", "email": "a-member@example.test"}
    assert body["data"]["teams"][0]["id"] == world.id


async def test_entries_page(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a")
    ids = await add_entries(db, team_id=world.id, user_id=world.member.id, task_id=world.tasks["T-1"], count=5)
    body = await gql(
        """query($f: TimeEntryFilter!) { timeEntries(filter: $f, first: 2) {
            totalCount nodes { id durationSeconds formattedDuration amountCents startedAt user { nickname } task { key category { key parent { key } } } }
            pageInfo { hasNextPage endCursor } } }""",
        {"f": {"teamId": world.id}},
        token=world.member.token,
    )
    assert body.get("errors") is None, body
    conn = body["data"]["timeEntries"]
    assert conn["totalCount"] == 5
    assert [n["id"] for n in conn["nodes"]] == ids[:2]
    assert conn["nodes"][0]["startedAt"] == "2025-03-10T09:00:00Z"
    assert conn["nodes"][0]["amountCents"] == 3000
    assert conn["nodes"][0]["task"]["category"]["parent"]["key"] == "dev"

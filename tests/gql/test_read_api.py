"""The read side of the contract: viewer, teams, lookups, nested fields, filters, paging."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from store.db import Database
from store.ids import new_id
from store.models import Comment, TimeEntry
from tests.conftest import GQL
from tests.factories import TeamWorld, add_entries, make_team

PAGE = """
query($f: TimeEntryFilter!, $first: Int, $after: String) {
  timeEntries(filter: $f, first: $first, after: $after) {
    totalCount
    nodes { id }
    edges { cursor node { id } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""


def ok(body: dict[str, Any]) -> dict[str, Any]:
    assert body.get("errors") is None, body["errors"]
    data: dict[str, Any] = body["data"]
    return data


async def page_ids(
    gql: GQL, world: TeamWorld, f: dict[str, Any], token: str | None = None
) -> list[str]:
    data = ok(
        await gql(
            PAGE, {"f": {"teamId": world.id, **f}, "first": 100}, token=token or world.member.token
        )
    )
    return [n["id"] for n in data["timeEntries"]["nodes"]]


async def test_viewer_sees_own_email_and_teams(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a")
    data = ok(
        await gql(
            "{ viewer { id nickname email timeZone locale teams { id name } } }",
            token=world.member.token,
        )
    )
    assert data["viewer"] == {
        "id": world.member.id,
        "nickname": "a Member",
        "email": "a-member@example.test",
        "timeZone": "UTC",
        "locale": "en",
        "teams": [{"id": world.id, "name": "Acme"}],
    }


async def test_team_fields_members_and_email_visibility(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a", time_zone="Europe/Berlin", week_start=7)
    query = """query($id: ID!) { team(id: $id) { name timeZone weekStart rounding roundingMinutes
        defaultBillable defaultRateCents tasksReadonly lockedBefore
        members { role rateCents user { id email } } } }"""
    as_member = ok(await gql(query, {"id": world.id}, token=world.member.token))["team"]
    assert as_member["timeZone"] == "Europe/Berlin" and as_member["weekStart"] == 7
    assert as_member["rounding"] == "NONE" and as_member["lockedBefore"] is None
    by_user = {m["user"]["id"]: m for m in as_member["members"]}
    assert by_user[world.owner.id]["role"] == "OWNER"
    # A member sees their own email and rate, not others'.
    assert by_user[world.member.id]["user"]["email"] == world.member.email
    assert by_user[world.member.id]["rateCents"] == 9000
    assert by_user[world.owner.id]["user"]["email"] is None
    # An admin sees every member's email and rate.
    as_admin = ok(await gql(query, {"id": world.id}, token=world.admin.token))["team"]
    by_user = {m["user"]["id"]: m for m in as_admin["members"]}
    assert by_user[world.member.id]["user"]["email"] == world.member.email
    assert by_user[world.member.id]["rateCents"] == 9000


async def test_category_tree_and_tasks(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a")
    data = ok(
        await gql(
            """query($id: ID!) { category(id: $id) { key title billable parent { key }
                ancestors { key } children { key } team { id }
                tasks(first: 10) { totalCount nodes { key category { key } } } } }""",
            {"id": world.categories["api"]},
            token=world.member.token,
        )
    )
    c = data["category"]
    assert c["key"] == "api" and c["billable"] is False and c["parent"] == {"key": "dev"}
    assert c["ancestors"] == [{"key": "dev"}] and c["children"] == []
    assert c["tasks"]["totalCount"] == 1 and c["tasks"]["nodes"][0]["key"] == "T-1"
    root = ok(
        await gql(
            "query($id: ID!) { category(id: $id) { children { key } tasks { totalCount } } }",
            {"id": world.categories["dev"]},
            token=world.member.token,
        )
    )["category"]
    assert root["children"] == [{"key": "api"}]
    assert root["tasks"]["totalCount"] == 2  # its own task and its child's


async def test_task_lookup_and_team_tasks_paging(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a")
    task = ok(
        await gql(
            "query($id: ID!) { task(id: $id) { key title state url description team { name } category { key } } }",
            {"id": world.tasks["T-2"]},
            token=world.member.token,
        )
    )["task"]
    assert task == {
        "key": "T-2",
        "title": "Docs",
        "state": "OPEN",
        "url": None,
        "description": None,
        "team": {"name": "Acme"},
        "category": {"key": "dev"},
    }
    q = """query($id: ID!, $after: String) { team(id: $id) { tasks(first: 1, after: $after) {
        totalCount nodes { key } pageInfo { hasNextPage endCursor } } } }"""
    first = ok(await gql(q, {"id": world.id}, token=world.member.token))["team"]["tasks"]
    assert first["totalCount"] == 2 and first["pageInfo"]["hasNextPage"] is True
    second = ok(
        await gql(
            q, {"id": world.id, "after": first["pageInfo"]["endCursor"]}, token=world.member.token
        )
    )
    rest = second["team"]["tasks"]
    assert rest["pageInfo"]["hasNextPage"] is False
    assert {first["nodes"][0]["key"], rest["nodes"][0]["key"]} == {"T-1", "T-2"}


async def test_entry_fields(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a", rounding="CEIL", rounding_minutes=15)
    [entry_id] = await add_entries(
        db,
        team_id=world.id,
        user_id=world.member.id,
        task_id=world.tasks["T-1"],
        count=1,
        seconds=1801,
        rate_cents=6000,
    )
    async with db.write() as s:
        s.add(
            Comment(
                id=new_id(),
                time_entry_id=entry_id,
                team_id=world.id,
                user_id=world.admin.id,
                content="Nice",
            )
        )
        await s.commit()
    data = ok(
        await gql(
            """query($id: ID!) { timeEntry(id: $id) { id scopeType startedAt stoppedAt running
                durationSeconds roundedSeconds formattedDuration workDate billable rateSnapshotCents
                amountCents status inputType source externalRef { provider } lockedAt deletedAt version
                team { id } user { id } task { key } category { key }
                comments { content user { id } timeEntry { id } } } }""",
            {"id": entry_id},
            token=world.member.token,
        )
    )["timeEntry"]
    assert data["scopeType"] == "TASK" and data["running"] is False
    assert (
        data["startedAt"] == "2025-03-10T09:00:00Z" and data["stoppedAt"] == "2025-03-10T09:30:01Z"
    )
    assert data["durationSeconds"] == 1801 and data["formattedDuration"] == "0:30"
    assert data["roundedSeconds"] == 2700  # CEIL to 15 minutes
    assert data["amountCents"] == 4500  # 6000 * 2700 / 3600
    assert data["workDate"] == "2025-03-10" and data["category"] == {"key": "api"}
    assert data["status"] == "DRAFT" and data["inputType"] == "MANUAL" and data["source"] == "API"
    assert data["externalRef"] is None and data["version"] == 1
    assert data["comments"] == [
        {"content": "Nice", "user": {"id": world.admin.id}, "timeEntry": {"id": entry_id}}
    ]


async def test_running_entry_counts_up_to_now(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a")
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=90)
    async with db.write() as s:
        s.add(
            TimeEntry(
                id=new_id(),
                team_id=world.id,
                user_id=world.member.id,
                scope_type="CATEGORY",
                category_id=world.categories["dev"],
                started_at=started,
                work_date=started.date(),
                billable=True,
                rate_snapshot_cents=3600,
                input_type="REALTIME",
            )
        )
        await s.commit()
    data = ok(
        await gql(
            """query($id: ID!) { team(id: $id) { runningEntries { running durationSeconds amountCents category { key } } }
           viewer { runningEntry { running } } }""",
            {"id": world.id},
            token=world.member.token,
        )
    )
    [running] = data["team"]["runningEntries"]
    assert running["running"] is True and running["category"] == {"key": "dev"}
    assert 90 * 60 <= running["durationSeconds"] <= 90 * 60 + 30
    assert running["amountCents"] == running["durationSeconds"]  # 3600 cents/h = 1 cent/s
    assert data["viewer"]["runningEntry"] == {"running": True}


async def test_keyset_pagination_walks_every_entry_once(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a")
    ids = await add_entries(
        db, team_id=world.id, user_id=world.member.id, task_id=world.tasks["T-1"], count=7
    )
    # Two entries with the same start are ordered by id (descending).
    tie = await add_entries(
        db,
        team_id=world.id,
        user_id=world.admin.id,
        task_id=world.tasks["T-2"],
        count=1,
        start=datetime(2025, 3, 10, 9, 0, tzinfo=UTC),
    )
    expected = sorted([ids[0], tie[0]], reverse=True) + ids[1:]
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        data = ok(
            await gql(
                PAGE,
                {"f": {"teamId": world.id}, "first": 3, "after": after},
                token=world.member.token,
            )
        )
        conn = data["timeEntries"]
        assert conn["totalCount"] == 8
        assert [e["node"]["id"] for e in conn["edges"]] == [n["id"] for n in conn["nodes"]]
        assert conn["pageInfo"]["hasPreviousPage"] is (after is not None)
        assert conn["pageInfo"]["endCursor"] == conn["edges"][-1]["cursor"]
        seen += [n["id"] for n in conn["nodes"]]
        pages += 1
        if not conn["pageInfo"]["hasNextPage"]:
            break
        after = conn["pageInfo"]["endCursor"]
    assert seen == expected and pages == 3


async def test_filters(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a")
    base = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
    t1 = await add_entries(
        db,
        team_id=world.id,
        user_id=world.member.id,
        task_id=world.tasks["T-1"],
        count=2,
        start=base,
    )
    t2 = await add_entries(
        db,
        team_id=world.id,
        user_id=world.admin.id,
        task_id=world.tasks["T-2"],
        count=1,
        start=base - timedelta(days=1),
        billable=False,
    )
    cat = await add_entries(
        db,
        team_id=world.id,
        user_id=world.admin.id,
        category_id=world.categories["api"],
        count=1,
        start=base - timedelta(days=2),
    )
    assert set(await page_ids(gql, world, {"userId": world.member.id})) == set(t1)
    assert set(await page_ids(gql, world, {"taskId": world.tasks["T-2"]})) == set(t2)
    assert set(await page_ids(gql, world, {"scopeType": "CATEGORY"})) == set(cat)
    # categoryId takes descendants and their tasks: api holds T-1 and the category entry.
    assert set(await page_ids(gql, world, {"categoryId": world.categories["api"]})) == set(t1 + cat)
    assert set(await page_ids(gql, world, {"categoryId": world.categories["dev"]})) == set(
        t1 + t2 + cat
    )
    assert set(await page_ids(gql, world, {"billable": False})) == set(t2)
    # from inclusive, to exclusive, on startedAt.
    got = await page_ids(gql, world, {"from": "2025-03-10T08:00:00Z", "to": "2025-03-10T09:00:00Z"})
    assert got == [t1[1]]
    got = await page_ids(gql, world, {"from": "2025-03-10T10:00:00+01:00"})  # = 09:00Z
    assert got == [t1[0]]
    assert await page_ids(gql, world, {"status": ["APPROVED"]}) == []
    assert len(await page_ids(gql, world, {"status": ["DRAFT", "APPROVED"]})) == 4
    assert await page_ids(gql, world, {"inputType": "REALTIME"}) == []
    assert await page_ids(gql, world, {"running": True}) == []
    assert len(await page_ids(gql, world, {"running": False})) == 4


async def test_sync_feed_with_deleted_entries(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a")
    ids = await add_entries(
        db, team_id=world.id, user_id=world.member.id, task_id=world.tasks["T-1"], count=3
    )
    since = datetime.now(UTC) + timedelta(seconds=1)
    deleted_at = since + timedelta(minutes=1)
    async with db.write() as s:
        row = await s.get(TimeEntry, ids[0])
        assert row is not None
        row.deleted_at = deleted_at
        row.updated_at = deleted_at
        s.add(row)
        await s.commit()
    assert set(await page_ids(gql, world, {})) == set(ids[1:])
    assert set(await page_ids(gql, world, {"includeDeleted": True})) == set(ids)
    feed = await page_ids(gql, world, {"updatedSince": since.isoformat(), "includeDeleted": True})
    assert feed == [ids[0]]
    assert await page_ids(gql, world, {"deletedSince": since.isoformat()}) == [ids[0]]
    data = ok(
        await gql(
            "query($id: ID!) { timeEntry(id: $id) { deletedAt } }",
            {"id": ids[0]},
            token=world.member.token,
        )
    )
    # Every instant the API returns is in whole seconds (amendment "time stamps").
    shown = deleted_at.replace(microsecond=0).isoformat().replace("+00:00", "Z")
    assert data["timeEntry"]["deletedAt"] == shown


async def test_nested_entry_connections(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a")
    mine = await add_entries(
        db, team_id=world.id, user_id=world.member.id, task_id=world.tasks["T-1"], count=2
    )
    theirs = await add_entries(
        db, team_id=world.id, user_id=world.admin.id, task_id=world.tasks["T-2"], count=3
    )
    data = ok(
        await gql(
            """query($team: ID!, $task: ID!) {
             viewer { timeEntries { totalCount nodes { id } } }
             team(id: $team) { timeEntries(filter: {userId: $team}) { totalCount }
                               all: timeEntries(first: 1) { totalCount nodes { id } } }
             task(id: $task) { timeEntries { totalCount nodes { id } } } }""",
            {"team": world.id, "task": world.tasks["T-2"]},
            token=world.member.token,
        )
    )
    assert {n["id"] for n in data["viewer"]["timeEntries"]["nodes"]} == set(mine)
    assert data["team"]["timeEntries"]["totalCount"] == 0
    assert data["team"]["all"]["totalCount"] == 5 and len(data["team"]["all"]["nodes"]) == 1
    assert {n["id"] for n in data["task"]["timeEntries"]["nodes"]} == set(theirs)


async def test_page_size_limits_and_bad_cursor(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a")
    body = await gql(PAGE, {"f": {"teamId": world.id}, "first": 101}, token=world.member.token)
    assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    body = await gql(PAGE, {"f": {"teamId": world.id}, "first": -1}, token=world.member.token)
    assert body["errors"][0]["extensions"]["code"] == "VALIDATION"
    body = await gql(
        PAGE, {"f": {"teamId": world.id}, "after": "not-a-cursor"}, token=world.member.token
    )
    assert body["errors"][0]["extensions"]["code"] == "VALIDATION"
    assert "cursor" in body["errors"][0]["message"]
    data = ok(await gql(PAGE, {"f": {"teamId": world.id}}, token=world.member.token))
    assert (
        data["timeEntries"]["totalCount"] == 0
        and data["timeEntries"]["pageInfo"]["startCursor"] is None
    )


async def test_datetime_input_needs_an_offset(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a")
    body = await gql(
        PAGE, {"f": {"teamId": world.id, "from": "2025-03-10T09:00:00"}}, token=world.member.token
    )
    assert body["data"] is None
    assert "offset" in body["errors"][0]["message"]


async def test_a_team_is_found_by_its_id_in_either_case(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a")
    for spelled in (world.id, world.id.lower()):
        data = await gql(
            "query($id: ID!) { team(id: $id) { id } }", {"id": spelled}, token=world.member.token
        )
        assert data["data"]["team"] == {"id": world.id}, spelled

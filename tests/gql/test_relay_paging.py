"""Relay paging both ways: ``first``/``after`` and ``last``/``before`` on every connection,
with ``hasPreviousPage`` and ``hasNextPage`` as the Relay cursor spec says, and no gap or
duplicate while entries are logged between page requests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update

from store.db import Database
from store.ids import new_id
from store.models import TimeEntry, Webhook, WebhookDelivery
from tests.conftest import GQL
from tests.factories import TeamWorld, add_entries, make_team

PAGE_INFO = "pageInfo { hasNextPage hasPreviousPage startCursor endCursor }"
PAGE = f"""query($f: TimeEntryFilter!, $first: Int, $after: String, $last: Int, $before: String) {{
  timeEntries(filter: $f, first: $first, after: $after, last: $last, before: $before) {{
    totalCount nodes {{ id startedAt }} edges {{ cursor node {{ id }} }} {PAGE_INFO} }} }}"""
T0 = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)


def ok(body: dict[str, Any]) -> dict[str, Any]:
    assert body.get("errors") is None, body["errors"]
    data: dict[str, Any] = body["data"]
    return data


async def page(gql: GQL, world: TeamWorld, **arguments: Any) -> dict[str, Any]:
    variables = {"f": {"teamId": world.id}, "first": None, **arguments}
    connection: dict[str, Any] = ok(await gql(PAGE, variables, token=world.member.token))[
        "timeEntries"
    ]
    assert [e["node"]["id"] for e in connection["edges"]] == [n["id"] for n in connection["nodes"]]
    return connection


async def log(db: Database, world: TeamWorld, at: datetime, count: int = 1) -> list[str]:
    """``count`` entries starting at ``at`` (the same instant: ties ordered by id)."""
    ids = []
    for _ in range(count):
        ids += await add_entries(
            db,
            team_id=world.id,
            user_id=world.member.id,
            task_id=world.tasks["T-1"],
            count=1,
            start=at,
        )
    return ids


async def everything(gql: GQL, world: TeamWorld) -> list[str]:
    return [n["id"] for n in (await page(gql, world, first=100))["nodes"]]


async def seed(db: Database, world: TeamWorld) -> None:
    """14 entries, hourly, with three ties of three entries at one instant."""
    for hours in range(8):
        await log(db, world, T0 - timedelta(hours=hours), 3 if hours in (1, 4, 6) else 1)


async def test_forward_then_backward_with_inserts_has_no_gap_and_no_duplicate(
    db: Database, gql: GQL
) -> None:
    world = await make_team(db, "Acme", prefix="a")
    await seed(db, world)
    skipped: set[str] = set()  # logged where the walk had already passed
    seen: list[str] = []
    after = None
    infos = []
    step = 0
    while True:
        got = await page(gql, world, first=4, after=after)
        seen += [n["id"] for n in got["nodes"]]
        infos.append(got["pageInfo"])
        if not got["pageInfo"]["hasNextPage"]:
            break
        after = got["pageInfo"]["endCursor"]
        last_at = datetime.fromisoformat(got["nodes"][-1]["startedAt"])
        # Between two requests: one entry newer than the cursor (not on the walk's way),
        # one older, one at the cursor's very instant (a tie: before or after it by id).
        skipped.update(await log(db, world, T0 + timedelta(hours=1 + step)))
        await log(db, world, last_at - timedelta(minutes=30))
        tie = await log(db, world, last_at)
        if tie[0] > got["nodes"][-1]["id"]:  # ties are ordered by id, the larger first
            skipped.update(tie)
        step += 1
    expected = [i for i in await everything(gql, world) if i not in skipped]
    assert seen == expected
    assert len(seen) == len(set(seen)) and len(infos) >= 4
    assert infos[0]["hasPreviousPage"] is False and infos[0]["hasNextPage"] is True
    assert all(i["hasPreviousPage"] and i["hasNextPage"] for i in infos[1:-1])
    assert infos[-1]["hasPreviousPage"] is True and infos[-1]["hasNextPage"] is False

    # Backward from the end: the oldest entries first, each page in the usual order.
    skipped = set()
    walked: list[str] = []
    before = None
    infos = []
    step = 0
    while True:
        got = await page(gql, world, last=4, before=before)
        walked = [n["id"] for n in got["nodes"]] + walked
        infos.append(got["pageInfo"])
        if not got["pageInfo"]["hasPreviousPage"]:
            break
        before = got["pageInfo"]["startCursor"]
        first_at = datetime.fromisoformat(got["nodes"][0]["startedAt"])
        skipped.update(await log(db, world, T0 - timedelta(days=2, hours=step)))  # behind
        await log(db, world, first_at + timedelta(minutes=20))  # ahead: will be read
        tie = await log(db, world, first_at)
        if tie[0] < got["nodes"][0]["id"]:  # after the cursor in the page order: passed
            skipped.update(tie)
        step += 1
    expected = [i for i in await everything(gql, world) if i not in skipped]
    assert walked == expected
    assert len(walked) == len(set(walked)) and len(infos) >= 4
    assert infos[0]["hasNextPage"] is False and infos[0]["hasPreviousPage"] is True
    assert all(i["hasPreviousPage"] and i["hasNextPage"] for i in infos[1:-1])
    assert infos[-1]["hasNextPage"] is True and infos[-1]["hasPreviousPage"] is False


async def test_backward_pages_are_the_forward_list_sliced(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a")
    await seed(db, world)
    full = await page(gql, world, first=100)
    ids = [n["id"] for n in full["nodes"]]
    cursors = [e["cursor"] for e in full["edges"]]
    assert len(ids) == 14 and full["pageInfo"]["hasPreviousPage"] is False
    for size in (0, 1, 3, 14, 20):
        got = await page(gql, world, last=size)
        assert [n["id"] for n in got["nodes"]] == (ids[max(0, 14 - size) :] if size else [])
        assert got["pageInfo"]["hasPreviousPage"] is (size < 14)
        assert got["pageInfo"]["hasNextPage"] is False
    for at in (0, 1, 5, 13):
        got = await page(gql, world, last=3, before=cursors[at])
        assert [n["id"] for n in got["nodes"]] == ids[max(0, at - 3) : at]
        assert got["pageInfo"]["hasPreviousPage"] is (at > 3)
        assert got["pageInfo"]["hasNextPage"] is True  # the cursor's own entry follows
        got = await page(gql, world, first=3, after=cursors[at])
        assert [n["id"] for n in got["nodes"]] == ids[at + 1 : at + 4]
        assert got["pageInfo"]["hasPreviousPage"] is True
        assert got["pageInfo"]["hasNextPage"] is (at + 4 < 14)
    # Both cursors: the rows between them.
    got = await page(gql, world, first=10, after=cursors[2], before=cursors[7])
    assert [n["id"] for n in got["nodes"]] == ids[3:7]
    got = await page(gql, world, last=2, after=cursors[2], before=cursors[7])
    assert [n["id"] for n in got["nodes"]] == ids[5:7]
    assert got["pageInfo"]["hasPreviousPage"] is True


async def test_what_lies_beyond_a_cursor_is_what_exists_now(db: Database, gql: GQL) -> None:
    """``hasPreviousPage`` after ``after`` and ``hasNextPage`` before ``before`` look at
    the rows there now: with the cursor's own entry deleted, nothing else."""
    world = await make_team(db, "Acme", prefix="a")
    await seed(db, world)
    full = await page(gql, world, first=100)
    newest, oldest = full["edges"][0], full["edges"][-1]
    got = await page(gql, world, first=2, after=newest["cursor"])
    assert got["pageInfo"]["hasPreviousPage"] is True
    got = await page(gql, world, last=2, before=oldest["cursor"])
    assert got["pageInfo"]["hasNextPage"] is True
    async with db.write() as s:
        await s.exec(  # type: ignore[call-overload]
            update(TimeEntry)
            .where(TimeEntry.id.in_([newest["node"]["id"], oldest["node"]["id"]]))  # type: ignore[attr-defined]
            .values(deleted_at=T0)
        )
        await s.commit()
    got = await page(gql, world, first=2, after=newest["cursor"])
    assert got["pageInfo"]["hasPreviousPage"] is False
    assert [n["id"] for n in got["nodes"]] == [e["node"]["id"] for e in full["edges"][1:3]]
    got = await page(gql, world, last=2, before=oldest["cursor"])
    assert got["pageInfo"]["hasNextPage"] is False
    assert [n["id"] for n in got["nodes"]] == [e["node"]["id"] for e in full["edges"][-3:-1]]


NESTED = f"""query($team: ID!, $task: ID!, $entry: ID!, $last: Int, $before: String) {{
  team(id: $team) {{ c: timeEntries(last: $last, before: $before) {{ ...P }} }}
  task(id: $task) {{ c: timeEntries(last: $last, before: $before) {{ ...P }} }}
  timeEntry(id: $entry) {{ user {{ c: timeEntries(last: $last, before: $before) {{ ...P }} }} }}
  viewer {{ c: timeEntries(last: $last, before: $before) {{ ...P }} }}
  teams {{ c: timeEntries(last: $last, before: $before) {{ ...P }} }} }}
fragment P on TimeEntryConnection {{ nodes {{ id }} edges {{ cursor }} {PAGE_INFO} }}"""


async def test_nested_connections_page_backward(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a")
    await seed(db, world)
    other = await make_team(db, "Other", prefix="b")
    async with db.write() as s:
        from store import accounts

        await accounts.add_member(s, team_id=other.id, user_id=world.member.id)
        await s.commit()
    await add_entries(
        db,
        team_id=other.id,
        user_id=world.member.id,
        count=5,
        category_id=other.categories["dev"],
        start=T0 + timedelta(days=1),
    )
    ids = await everything(gql, world)
    variables = {
        "team": world.id,
        "task": world.tasks["T-1"],
        "entry": ids[0],
    }
    data = ok(await gql(NESTED, {**variables, "last": 3}, token=world.member.token))
    data["user"] = data["timeEntry"]["user"]  # the member's, in the team the viewer shares
    for key in ("team", "task", "user"):
        c = data[key]["c"]
        assert [n["id"] for n in c["nodes"]] == ids[-3:], key
        assert c["pageInfo"]["hasPreviousPage"] is True and c["pageInfo"]["hasNextPage"] is False
    # Two teams: two pages in one statement, each its own.
    by_team = [t["c"] for t in data["teams"]]
    assert [n["id"] for n in by_team[0]["nodes"]] == ids[-3:]
    assert len(by_team[1]["nodes"]) == 3 and by_team[1]["pageInfo"]["hasPreviousPage"] is True
    before = data["team"]["c"]["edges"][0]["cursor"]
    data = ok(
        await gql(NESTED, {**variables, "last": 5, "before": before}, token=world.member.token)
    )
    data["user"] = data["timeEntry"]["user"]
    for key in ("team", "task", "user"):
        c = data[key]["c"]
        assert [n["id"] for n in c["nodes"]] == ids[-8:-3], key
        assert c["pageInfo"]["hasPreviousPage"] is True and c["pageInfo"]["hasNextPage"] is True
    first_team = data["teams"][0]["c"]
    assert [n["id"] for n in first_team["nodes"]] == ids[-8:-3]


TASKS = f"""query($team: ID!, $category: ID!, $first: Int, $after: String, $last: Int,
  $before: String) {{
  team(id: $team) {{ tasks(first: $first, after: $after, last: $last, before: $before) {{
    nodes {{ id }} edges {{ cursor }} {PAGE_INFO} }} }}
  category(id: $category) {{ tasks(first: $first, after: $after, last: $last, before: $before) {{
    nodes {{ id }} {PAGE_INFO} }} }} }}"""


async def test_tasks_connections_page_backward(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a")
    for n in range(4):
        body = await gql(
            """mutation($t: ID!, $k: String!, $c: ID!) { createTask(input: {teamId: $t, key: $k,
              title: "x", categoryId: $c}) { userErrors { code } } }""",
            {"t": world.id, "k": f"K-{n}", "c": world.categories["api"]},
            token=world.owner.token,
        )
        assert ok(body)["createTask"]["userErrors"] == []
    token = world.member.token
    v = {"team": world.id, "category": world.categories["dev"]}
    full = ok(await gql(TASKS, {**v, "first": 100}, token=token))
    ids = [n["id"] for n in full["team"]["tasks"]["nodes"]]
    cursors = [e["cursor"] for e in full["team"]["tasks"]["edges"]]
    assert len(ids) == 6
    assert [n["id"] for n in full["category"]["tasks"]["nodes"]] == ids  # dev and below
    got = ok(await gql(TASKS, {**v, "last": 2}, token=token))
    for key in ("team", "category"):
        c = got[key]["tasks"]
        assert [n["id"] for n in c["nodes"]] == ids[-2:]
        assert c["pageInfo"]["hasPreviousPage"] is True and c["pageInfo"]["hasNextPage"] is False
    got = ok(await gql(TASKS, {**v, "last": 2, "before": cursors[2]}, token=token))
    c = got["team"]["tasks"]
    assert [n["id"] for n in c["nodes"]] == ids[0:2]
    assert c["pageInfo"]["hasPreviousPage"] is False and c["pageInfo"]["hasNextPage"] is True
    got = ok(await gql(TASKS, {**v, "first": 2, "after": cursors[0]}, token=token))
    c = got["team"]["tasks"]
    assert [n["id"] for n in c["nodes"]] == ids[1:3]
    assert c["pageInfo"]["hasPreviousPage"] is True and c["pageInfo"]["hasNextPage"] is True


async def test_page_arguments_are_checked(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a")
    token = world.member.token

    async def code(query: str, variables: dict[str, Any] | None = None) -> str | None:
        body = await gql(query, variables, token=token)
        if not body.get("errors"):
            return None
        assert body.get("data") is None, body
        return str(body["errors"][0]["extensions"]["code"])

    f = f'filter: {{teamId: "{world.id}"}}'
    assert await code(f"{{ timeEntries({f}, first: 2, last: 2) {{ totalCount }} }}") == (
        "VALIDATION"
    )
    assert (
        await code(f'{{ team(id: "{world.id}") {{ tasks(first: 1, last: 1) {{ totalCount }} }} }}')
        == "VALIDATION"
    )
    both = "query($a: Int, $b: Int) { viewer { timeEntries(first: $a, last: $b) { totalCount } } }"
    assert await code(both, {"a": 3, "b": 3}) == "VALIDATION"
    # Relay sends the unused direction as null: that is no `first`.
    assert await code(both, {"a": None, "b": 3}) is None
    assert await code(both, {"b": 3}) is None
    assert await code(f"{{ timeEntries({f}, first: null, last: 2) {{ totalCount }} }}") is None
    assert await code(f"{{ timeEntries({f}, last: 101) {{ totalCount }} }}") == (
        "QUERY_TOO_COMPLEX"
    )
    assert await code(f"{{ timeEntries({f}, last: -1) {{ totalCount }} }}") == "VALIDATION"
    assert await code(f'{{ timeEntries({f}, last: 1, before: "junk") {{ totalCount }} }}') == (
        "VALIDATION"
    )
    body = await gql(f"{{ timeEntries({f}, first: 2, last: 2) {{ totalCount }} }}", token=token)
    assert "not both" in body["errors"][0]["message"]
    # `last` multiplies the nodes below it as `first` does, and `nodes` by its ids.
    nested = "{ nodes { task { timeEntries(last: 100) { nodes { id } } } } }"
    assert await code(f"{{ timeEntries({f}, last: 100) {nested} }}") == "QUERY_TOO_COMPLEX"
    assert await code(f"{{ timeEntries({f}, last: 99) {{ nodes {{ id }} }} }}") is None
    many = "query($ids: [ID!]!) { nodes(ids: $ids) { ... on Task { timeEntries(first: 100) {"
    many += " nodes { id } } } } }"
    assert await code(many, {"ids": [world.id] * 100}) == "QUERY_TOO_COMPLEX"
    assert await code(many, {"ids": [world.id] * 40}) is None


DELIVERIES = f"""query($team: ID!, $first: Int, $after: String, $last: Int, $before: String) {{
  team(id: $team) {{ webhooks {{ deliveries(first: $first, after: $after, last: $last,
    before: $before) {{ totalCount nodes {{ attempt }} edges {{ cursor }} {PAGE_INFO} }} }} }} }}"""


async def test_webhook_deliveries_page_both_ways(db: Database, gql: GQL) -> None:
    """Regression: a delivery's cursor was read as a ULID, and every `after` refused."""
    world = await make_team(db, "Acme", prefix="a")
    hook = new_id()
    recent = datetime.now(UTC) - timedelta(hours=1)
    async with db.write() as s:
        s.add(
            Webhook(
                id=hook,
                team_id=world.id,
                url="https://a.example.test/h",
                kinds="LOGGED",
                secret="s",
                cursor=0,
            )
        )
        await s.flush()
        for attempt in range(1, 6):
            s.add(
                WebhookDelivery(
                    webhook_id=hook,
                    position=1,
                    kind="LOGGED",
                    subject="ENTRY",
                    subject_id=new_id(),
                    attempt=attempt,
                    # Recent: the app's retention purge removes attempts older than a week.
                    at=recent + timedelta(minutes=attempt),
                )
            )
        await s.commit()

    async def deliveries(**arguments: Any) -> dict[str, Any]:
        variables = {"team": world.id, "first": None, **arguments}
        data = ok(await gql(DELIVERIES, variables, token=world.admin.token))
        [webhook] = data["team"]["webhooks"]
        found: dict[str, Any] = webhook["deliveries"]
        return found

    full = await deliveries(first=100)
    assert [n["attempt"] for n in full["nodes"]] == [5, 4, 3, 2, 1]  # newest first
    cursors = [e["cursor"] for e in full["edges"]]
    got = await deliveries(first=2, after=cursors[1])
    assert [n["attempt"] for n in got["nodes"]] == [3, 2]
    assert got["pageInfo"]["hasPreviousPage"] is True and got["pageInfo"]["hasNextPage"] is True
    got = await deliveries(last=2)
    assert [n["attempt"] for n in got["nodes"]] == [2, 1]
    assert got["pageInfo"]["hasPreviousPage"] is True and got["pageInfo"]["hasNextPage"] is False
    got = await deliveries(last=5, before=cursors[2])
    assert [n["attempt"] for n in got["nodes"]] == [5, 4]
    assert got["pageInfo"]["hasPreviousPage"] is False and got["pageInfo"]["hasNextPage"] is True

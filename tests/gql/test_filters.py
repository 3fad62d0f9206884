"""The list filters (``userIds``, ``taskIds``, ``categoryIds``) and ``descriptionContains``
on every ``timeEntries`` connection and on ``timeReport``, on both databases; each answer
also asked of standard execution (``fast_path=False``), which must give the same."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from store.db import Database
from store.ids import new_id
from store.models import TimeEntry
from tests.factories import TeamWorld, make_team

BASE = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
PAGE = """query($f: TimeEntryFilter!) {
  timeEntries(filter: $f, first: 100) { totalCount nodes { id description } }
}"""
REPORT = """query($f: TimeEntryFilter!) {
  timeReport(filter: $f, groupBy: [USER]) { buckets { user { id } entryCount } totals { entryCount totalSeconds } }
}"""


async def add_entry(
    db: Database,
    world: TeamWorld,
    user_id: str,
    *,
    hours_ago: int,
    task: str | None = None,
    category: str | None = None,
    description: str | None = None,
) -> str:
    started = BASE - timedelta(hours=hours_ago)
    entry = TimeEntry(
        id=new_id(),
        team_id=world.id,
        user_id=user_id,
        scope_type="TASK" if task else "CATEGORY",
        task_id=world.tasks[task] if task else None,
        category_id=world.categories[category] if category else None,
        started_at=started,
        stopped_at=started + timedelta(minutes=30),
        duration_seconds=1800,
        work_date=started.date(),
        billable=True,
        rate_snapshot_cents=6000,
        description=description,
    )
    async with db.write() as s:
        s.add(entry)
        await s.commit()
    return entry.id


@dataclass
class Scene:
    acme: TeamWorld
    other: TeamWorld
    ids: dict[str, str]  # name -> entry id (Acme's)
    other_entry: str


@pytest.fixture
async def scene(db: Database) -> Scene:
    """Acme: T-1 (under api, under dev), T-2 (under dev), entries on both and on the
    categories themselves, with descriptions to search; Other: a team of its own."""
    acme = await make_team(db, "Acme", prefix="a")
    other = await make_team(db, "Other", prefix="o")
    m, a, o = acme.member.id, acme.admin.id, acme.owner.id
    ids = {
        "m_t1": await add_entry(db, acme, m, hours_ago=1, task="T-1", description="Ärger mit X"),
        "m_t2": await add_entry(db, acme, m, hours_ago=2, task="T-2", description="100% done"),
        "a_t1": await add_entry(db, acme, a, hours_ago=3, task="T-1", description="snake_case"),
        "a_api": await add_entry(db, acme, a, hours_ago=4, category="api", description="ärger"),
        "o_dev": await add_entry(db, acme, o, hours_ago=5, category="dev", description="C:\\tmp"),
        "o_t2": await add_entry(db, acme, o, hours_ago=6, task="T-2", description=None),
        "m_dev": await add_entry(db, acme, m, hours_ago=7, category="dev", description="ΟΔΟΣ"),
    }
    other_entry = await add_entry(
        db, other, other.member.id, hours_ago=1, task="T-1", description="Ärger"
    )
    return Scene(acme, other, ids, other_entry)


@pytest.fixture
async def clients(make_client: Any) -> list[httpx.AsyncClient]:
    """The compiled path and standard execution: every answer is asked of both."""
    return [await make_client(fast_path=True), await make_client(fast_path=False)]


async def ask(
    clients: list[httpx.AsyncClient],
    query: str,
    variables: dict[str, Any],
    token: str,
) -> dict[str, Any]:
    bodies = []
    for client in clients:
        response = await client.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={"authorization": f"Bearer {token}"},
        )
        body = response.json()
        for error in body.get("errors") or []:
            error["extensions"].pop("requestId")  # each request has its own
        bodies.append(body)
    compiled, standard = bodies
    assert compiled == standard
    return compiled  # type: ignore[no-any-return]


async def names(
    scene: Scene, clients: list[httpx.AsyncClient], f: dict[str, Any], token: str | None = None
) -> set[str]:
    """The names of the entries ``timeEntries`` gives for Acme and ``f``; the report over
    the same filter counts the same entries."""
    variables = {"f": {"teamId": scene.acme.id, **f}}
    token = token or scene.acme.owner.token
    body = await ask(clients, PAGE, variables, token)
    assert "errors" not in body, body
    by_id = {v: k for k, v in scene.ids.items()}
    connection = body["data"]["timeEntries"]
    found = {by_id[n["id"]] for n in connection["nodes"]}
    assert connection["totalCount"] == len(found)
    report = await ask(clients, REPORT, variables, token)
    assert "errors" not in report, report
    assert report["data"]["timeReport"]["totals"]["entryCount"] == len(found)
    return found


async def test_each_list_filter(scene: Scene, clients: list[httpx.AsyncClient]) -> None:
    w = scene.acme
    got = await names(scene, clients, {"userIds": [w.member.id, w.admin.id]})
    assert got == {"m_t1", "m_t2", "a_t1", "a_api", "m_dev"}
    got = await names(scene, clients, {"taskIds": [w.tasks["T-2"]]})
    assert got == {"m_t2", "o_t2"}
    got = await names(scene, clients, {"taskIds": [w.tasks["T-1"], w.tasks["T-2"]]})
    assert got == {"m_t1", "m_t2", "a_t1", "o_t2"}
    # Each category with its descendants and their tasks, as categoryId does.
    got = await names(scene, clients, {"categoryIds": [w.categories["api"]]})
    assert got == {"m_t1", "a_t1", "a_api"}
    assert await names(scene, clients, {"categoryIds": [w.categories["dev"]]}) == set(scene.ids)
    # Repeated ids and ids in lower case are the same ids.
    got = await names(scene, clients, {"userIds": [w.admin.id, w.admin.id.lower()]})
    assert got == {"a_t1", "a_api"}
    assert await names(scene, clients, {"userIds": []}) == set()


async def test_single_and_list_forms_intersect(
    scene: Scene, clients: list[httpx.AsyncClient]
) -> None:
    w = scene.acme
    both = {"userId": w.admin.id, "userIds": [w.member.id, w.admin.id]}
    assert await names(scene, clients, both) == {"a_t1", "a_api"}
    assert await names(scene, clients, {"userId": w.member.id, "userIds": [w.admin.id]}) == set()
    got = await names(scene, clients, {"taskId": w.tasks["T-1"], "taskIds": [w.tasks["T-2"]]})
    assert got == set()
    got = await names(
        scene, clients, {"taskId": w.tasks["T-1"], "taskIds": [w.tasks["T-1"], w.tasks["T-2"]]}
    )
    assert got == {"m_t1", "a_t1"}
    got = await names(
        scene, clients, {"categoryId": w.categories["dev"], "categoryIds": [w.categories["api"]]}
    )
    assert got == {"m_t1", "a_t1", "a_api"}
    # Lists of different kinds intersect too, and with the other fields.
    got = await names(
        scene,
        clients,
        {"userIds": [w.member.id], "categoryIds": [w.categories["api"]], "scopeType": "TASK"},
    )
    assert got == {"m_t1"}


async def test_nested_connections_take_the_new_filters(
    scene: Scene, clients: list[httpx.AsyncClient]
) -> None:
    w = scene.acme
    query = """query($team: ID!, $task: ID!, $f: RelatedTimeEntryFilter) {
      team(id: $team) { timeEntries(filter: $f) { nodes { id } } }
      task(id: $task) { timeEntries(filter: $f) { nodes { id } } }
      viewer { timeEntries(filter: $f) { nodes { id } } }
    }"""
    f = {"userIds": [w.member.id, w.owner.id], "descriptionContains": "ÄRGER"}
    body = await ask(clients, query, {"team": w.id, "task": w.tasks["T-1"], "f": f}, w.owner.token)
    data = body["data"]
    assert [n["id"] for n in data["team"]["timeEntries"]["nodes"]] == [scene.ids["m_t1"]]
    assert [n["id"] for n in data["task"]["timeEntries"]["nodes"]] == [scene.ids["m_t1"]]
    assert data["viewer"]["timeEntries"]["nodes"] == []  # the owner's own: none says Ärger
    f = {"taskIds": [w.tasks["T-2"]]}
    body = await ask(clients, query, {"team": w.id, "task": w.tasks["T-1"], "f": f}, w.owner.token)
    assert body["data"]["task"]["timeEntries"]["nodes"] == []  # T-1's entries that are T-2's
    assert {n["id"] for n in body["data"]["viewer"]["timeEntries"]["nodes"]} == {scene.ids["o_t2"]}


async def test_description_contains_is_case_insensitive_for_all_of_unicode(
    scene: Scene, clients: list[httpx.AsyncClient]
) -> None:
    for text in ("ärger", "ÄRGER", "äRgEr", "Ärger"):
        assert await names(scene, clients, {"descriptionContains": text}) == {"m_t1", "a_api"}
    assert await names(scene, clients, {"descriptionContains": "οδοσ"}) == {"m_dev"}
    assert await names(scene, clients, {"descriptionContains": "MIT x"}) == {"m_t1"}
    assert await names(scene, clients, {"descriptionContains": "arger"}) == set()  # not ä
    # An empty text is no condition: entries without a description too.
    assert await names(scene, clients, {"descriptionContains": ""}) == set(scene.ids)


async def test_description_contains_takes_wildcards_literally(
    scene: Scene, clients: list[httpx.AsyncClient]
) -> None:
    assert await names(scene, clients, {"descriptionContains": "%"}) == {"m_t2"}
    assert await names(scene, clients, {"descriptionContains": "0% d"}) == {"m_t2"}
    assert await names(scene, clients, {"descriptionContains": "_"}) == {"a_t1"}
    assert await names(scene, clients, {"descriptionContains": "e_c"}) == {"a_t1"}
    assert await names(scene, clients, {"descriptionContains": "e_"}) == {"a_t1"}
    assert await names(scene, clients, {"descriptionContains": "\\"}) == {"o_dev"}
    assert await names(scene, clients, {"descriptionContains": "%done"}) == set()
    assert await names(scene, clients, {"descriptionContains": "[a]"}) == set()


async def test_another_teams_ids_match_nothing(
    scene: Scene, clients: list[httpx.AsyncClient]
) -> None:
    w, o = scene.acme, scene.other
    assert await names(scene, clients, {"userIds": [o.member.id]}) == set()
    assert await names(scene, clients, {"taskIds": [o.tasks["T-1"]]}) == set()
    assert await names(scene, clients, {"categoryIds": [o.categories["dev"]]}) == set()
    # Beside ids of the team's own, a foreign one adds nothing.
    got = await names(scene, clients, {"categoryIds": [o.categories["dev"], w.categories["api"]]})
    assert got == {"m_t1", "a_t1", "a_api"}
    got = await names(scene, clients, {"taskIds": [o.tasks["T-1"], w.tasks["T-2"]]})
    assert got == {"m_t2", "o_t2"}
    # The other team's entries through its own id, by a non-member: nothing of them.
    body = await ask(
        clients,
        PAGE,
        {"f": {"teamId": o.id, "userIds": [o.member.id], "descriptionContains": "ärger"}},
        w.owner.token,
    )
    assert body["data"]["timeEntries"] == {"totalCount": 0, "nodes": []}
    body = await ask(
        clients, REPORT, {"f": {"teamId": o.id, "taskIds": [o.tasks["T-1"]]}}, w.owner.token
    )
    assert body["data"]["timeReport"]["totals"] == {"entryCount": 0, "totalSeconds": 0}


async def test_bad_filter_input_is_refused_with_a_code(
    scene: Scene, clients: list[httpx.AsyncClient]
) -> None:
    w = scene.acme
    token = w.owner.token
    for name in ("userIds", "taskIds", "categoryIds"):
        too_many = [new_id() for _ in range(101)]
        for query in (PAGE, REPORT):
            body = await ask(clients, query, {"f": {"teamId": w.id, name: too_many}}, token)
            assert body["data"] is None
            assert [e["extensions"]["code"] for e in body["errors"]] == ["VALIDATION"], body
            assert f"`{name}` takes at most 100 ids (got 101)" in body["errors"][0]["message"]
        # 100 is allowed.
        body = await ask(clients, PAGE, {"f": {"teamId": w.id, name: too_many[:100]}}, token)
        assert body["data"]["timeEntries"]["totalCount"] == 0, body
        # The same as the single form: an id that is no ULID matches nothing, no error.
        single = name[:-1]
        lists = await ask(clients, PAGE, {"f": {"teamId": w.id, name: ["nope"]}}, token)
        one = await ask(clients, PAGE, {"f": {"teamId": w.id, single: "nope"}}, token)
        assert lists["data"] == one["data"] == {"timeEntries": {"totalCount": 0, "nodes": []}}
        assert "errors" not in lists and "errors" not in one
        # A NUL never reaches the database, in a list as in a single id.
        for f in ({name: ["\x00"]}, {single: "\x00"}):
            body = await ask(clients, PAGE, {"f": {"teamId": w.id, **f}}, token)
            assert body["data"] is None
            assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"]
        # Not a list of ids.
        body = await ask(clients, PAGE, {"f": {"teamId": w.id, name: [{"id": 1}]}}, token)
        assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"]
    body = await ask(clients, PAGE, {"f": {"teamId": w.id, "descriptionContains": 5}}, token)
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"]
    body = await ask(clients, PAGE, {"f": {"teamId": w.id, "descriptionContains": "a\x00"}}, token)
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"]


async def test_the_report_groups_what_the_filters_keep(
    scene: Scene, clients: list[httpx.AsyncClient]
) -> None:
    w = scene.acme
    f = {"teamId": w.id, "categoryIds": [w.categories["api"]], "descriptionContains": "ÄRGER"}
    body = await ask(clients, REPORT, {"f": f}, w.owner.token)
    buckets = body["data"]["timeReport"]["buckets"]
    assert sorted((b["user"]["id"], b["entryCount"]) for b in buckets) == sorted(
        [(w.member.id, 1), (w.admin.id, 1)]
    )
    assert body["data"]["timeReport"]["totals"] == {"entryCount": 2, "totalSeconds": 3600}

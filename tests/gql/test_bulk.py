"""Bulk edits and imports: ``logTimeEntries``, ``updateTimeEntries``, ``deleteTimeEntries``.

Every test runs on SQLite and PostgreSQL (the ``db``/``gql`` fixtures); the races on
PostgreSQL only, with real concurrent transactions. An item's refusal is compared with
what the single mutation answers for the same input: one rule, one answer.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from store.db import Database
from store.ids import new_id
from store.models import (
    Category,
    EntryChange,
    EntryTag,
    OverlapPolicy,
    Team,
    TeamEvent,
    TimeEntry,
)
from tests.conftest import GQL
from tests.factories import TeamWorld, add_entries, make_team
from tests.gql.mutation_helpers import ERRORS, LOG, START, TRANSITION, UPDATE, mutate, ok
from tests.gql.test_tags import add_tag

FIELDS = f"""replayed {ERRORS} timeEntries {{ id version description billable deletedAt
  durationSeconds startedAt source user {{ id }} task {{ id }} category {{ id }} }}"""
LOG_MANY = f"""mutation($input: LogTimeEntriesInput!) {{ logTimeEntries(input: $input) {{
  {FIELDS} }} }}"""
UPDATE_MANY = f"""mutation($input: UpdateTimeEntriesInput!) {{ updateTimeEntries(input: $input)
  {{ {FIELDS} }} }}"""
DELETE_MANY = f"""mutation($input: DeleteTimeEntriesInput!) {{ deleteTimeEntries(input: $input)
  {{ {FIELDS} }} }}"""
ONE_DAY = datetime(2025, 3, 10, 8, 0, tzinfo=UTC)


@pytest.fixture
async def world(db: Database) -> TeamWorld:
    return await make_team(db, "Acme", prefix="a")


def _item(w: TeamWorld, n: int, **extra: Any) -> dict[str, Any]:
    start = ONE_DAY - timedelta(hours=n)
    return {
        "teamId": w.id,
        "taskId": w.tasks["T-1"],
        "startedAt": start.isoformat(),
        "minutes": 30,
        "description": f"item {n}",
        **extra,
    }


async def _events(db: Database) -> list[tuple[str, str, int | None]]:
    """(kind, entry id, version) of every entry event, in the team's order."""
    async with db.read() as s:
        rows = (
            await s.exec(
                select(TeamEvent)
                .where(TeamEvent.subject == "ENTRY")
                .order_by(col(TeamEvent.team_id), col(TeamEvent.position))
            )
        ).all()
    return [(r.kind, r.subject_id, r.version) for r in rows]


async def _rows(db: Database, ids: list[str] | None = None) -> dict[str, TimeEntry]:
    async with db.read() as s:
        stmt = select(TimeEntry)
        if ids is not None:
            stmt = stmt.where(col(TimeEntry.id).in_(ids))
        return {e.id: e for e in (await s.exec(stmt)).all()}


def _codes(payload: dict[str, Any]) -> list[tuple[str, list[str]]]:
    return [(e["code"], e["field"]) for e in payload["userErrors"]]


# --- logTimeEntries --------------------------------------------------------------------


async def test_log_time_entries_writes_every_item_in_input_order(
    db: Database, gql: GQL, world: TeamWorld
) -> None:
    w = world
    items = [
        _item(w, 0),
        {
            "teamId": w.id,
            "categoryId": w.categories["dev"],
            "workDate": "2025-03-07",
            "hours": "2.5",
            "source": "IMPORT",
        },
        _item(w, 3, minutes=None, duration="1h30m", billable=False),
    ]
    payload = ok(await mutate(gql, LOG_MANY, {"entries": items}, w.member.token))
    entries = payload["timeEntries"]
    assert payload["replayed"] is False
    assert [e["durationSeconds"] for e in entries] == [1800, 9000, 5400]
    assert [e["description"] for e in entries] == ["item 0", None, "item 3"]
    assert entries[1]["category"]["id"] == w.categories["dev"]
    assert entries[1]["source"] == "IMPORT"
    assert [e["billable"] for e in entries][2] is False
    assert {e["user"]["id"] for e in entries} == {w.member.id}
    assert await _events(db) == [("LOGGED", e["id"], 1) for e in entries]


async def test_an_item_is_refused_as_its_single_log_is_and_nothing_is_written(
    db: Database, gql: GQL, world: TeamWorld
) -> None:
    w = world
    async with db.write() as s:
        archived = Category(id=new_id(), team_id=w.id, key="old", title="Old", archived=True)
        s.add(archived)
        await s.commit()
    bad = {
        1: _item(w, 1, minutes=None, duration="nonsense"),
        3: _item(w, 3, categoryId=archived.id, taskId=None),
        4: _item(w, 4, userId=w.admin.id),  # a member logs for someone else
    }
    items = [bad.get(n, _item(w, n)) for n in range(6)]
    payload = await mutate(gql, LOG_MANY, {"entries": items}, w.member.token)
    assert payload["timeEntries"] == [] and payload["replayed"] is False
    expected = []
    for n, item in bad.items():
        [single] = (await mutate(gql, LOG, item, w.member.token))["userErrors"]
        expected.append((single["code"], ["input", "entries", str(n), *single["field"][1:]]))
    assert _codes(payload) == expected
    assert [c for c, _ in expected] == ["VALIDATION", "CATEGORY_ARCHIVED", "FORBIDDEN"]
    assert expected[0][1] == ["input", "entries", "1", "duration"]
    assert await _rows(db) == {} and await _events(db) == []


async def test_not_all_or_nothing_writes_the_valid_items_and_reports_the_others(
    db: Database, gql: GQL, world: TeamWorld
) -> None:
    w = world
    items = [_item(w, n) for n in range(5)]
    items[2] = _item(w, 2, minutes=0)
    given = {"entries": items, "allOrNothing": False, "idempotencyKey": "import-1"}
    payload = await mutate(gql, LOG_MANY, given, w.member.token)
    assert _codes(payload) == [("VALIDATION", ["input", "entries", "2", "minutes"])]
    written = [e["id"] for e in payload["timeEntries"]]
    assert [e["description"] for e in payload["timeEntries"]] == [
        "item 0",
        "item 1",
        "item 3",
        "item 4",
    ]
    assert set(await _rows(db)) == set(written)
    assert await _events(db) == [("LOGGED", i, 1) for i in written]
    # A replay answers the same, refusals included, and writes nothing.
    again = await mutate(gql, LOG_MANY, given, w.member.token)
    assert again["replayed"] is True
    assert again["userErrors"] == payload["userErrors"]
    assert [e["id"] for e in again["timeEntries"]] == written
    assert len(await _rows(db)) == 4 and len(await _events(db)) == 4


async def test_replay_by_key_and_a_key_used_with_another_request(
    db: Database, gql: GQL, world: TeamWorld
) -> None:
    w = world
    given = {"entries": [_item(w, n) for n in range(3)], "idempotencyKey": "k-1"}
    first = ok(await mutate(gql, LOG_MANY, given, w.member.token))
    again = ok(await mutate(gql, LOG_MANY, given, w.member.token))
    assert again["replayed"] is True
    assert again["timeEntries"] == first["timeEntries"]
    assert len(await _rows(db)) == 3 and len(await _events(db)) == 3
    other = {**given, "entries": [_item(w, n) for n in range(4)]}
    conflict = await mutate(gql, LOG_MANY, other, w.member.token)
    assert _codes(conflict) == [("IDEMPOTENCY_CONFLICT", ["input", "idempotencyKey"])]
    assert len(await _rows(db)) == 3


async def test_client_ids_are_the_same_create_as_a_single_log(
    db: Database, gql: GQL, world: TeamWorld
) -> None:
    w = world
    ids = [new_id() for _ in range(2)]
    items = [_item(w, n, id=ids[n]) for n in range(2)]
    single = ok(await mutate(gql, LOG, items[0], w.member.token))["timeEntry"]
    payload = ok(await mutate(gql, LOG_MANY, {"entries": items}, w.member.token))
    assert [e["id"] for e in payload["timeEntries"]] == ids
    assert payload["timeEntries"][0]["version"] == single["version"] == 1
    assert payload["replayed"] is False  # the second was new
    assert len(await _rows(db)) == 2
    again = ok(await mutate(gql, LOG_MANY, {"entries": items}, w.member.token))
    assert again["replayed"] is True and len(await _rows(db)) == 2
    changed = [items[0], {**items[1], "minutes": 31}]
    conflict = await mutate(gql, LOG_MANY, {"entries": changed}, w.member.token)
    assert _codes(conflict) == [("IDEMPOTENCY_CONFLICT", ["input", "entries", "1", "id"])]
    assert len(await _events(db)) == 2


async def test_external_refs_upsert_per_item_as_a_single_log_does(
    db: Database, gql: GQL, world: TeamWorld
) -> None:
    w = world

    def ref(key: str) -> dict[str, str]:
        return {"provider": "csv", "externalType": "row", "externalId": key}

    stored = ok(await mutate(gql, LOG, _item(w, 0, externalRef=ref("r0")), w.member.token))
    items = [_item(w, 0, externalRef=ref("r0"), minutes=45), _item(w, 1, externalRef=ref("r1"))]
    payload = ok(await mutate(gql, LOG_MANY, {"entries": items}, w.member.token))
    first, second = payload["timeEntries"]
    assert first["id"] == stored["timeEntry"]["id"] != second["id"]
    assert second["version"] == 1
    assert (first["version"], first["durationSeconds"]) == (2, 2700)
    assert len(await _rows(db)) == 2
    twice = [_item(w, 2, externalRef=ref("r2")), _item(w, 3, externalRef=ref("r2"))]
    refused = await mutate(gql, LOG_MANY, {"entries": twice}, w.member.token)
    assert _codes(refused) == [("VALIDATION", ["input", "entries", "1", "externalRef"])]
    assert "item 0" in refused["userErrors"][0]["message"]
    assert len(await _rows(db)) == 2


# --- sizes and repeats -------------------------------------------------------------------


async def test_zero_and_too_many_items_are_refused_and_change_nothing(
    db: Database, gql: GQL, world: TeamWorld
) -> None:
    w = world
    [entry] = await add_entries(
        db, team_id=w.id, user_id=w.member.id, task_id=w.tasks["T-1"], count=1
    )
    many = [entry] * 501
    for doc, given, name in [
        (LOG_MANY, {"entries": []}, "entries"),
        (LOG_MANY, {"entries": [_item(w, n % 24) for n in range(501)]}, "entries"),
        (UPDATE_MANY, {"ids": [], "changes": {"description": "x"}}, "ids"),
        (UPDATE_MANY, {"ids": many, "changes": {"description": "x"}}, "ids"),
        (DELETE_MANY, {"ids": []}, "ids"),
        (DELETE_MANY, {"ids": many}, "ids"),
    ]:
        payload = await mutate(gql, doc, given, w.member.token)
        assert _codes(payload) == [("VALIDATION", ["input", name])], payload
        assert payload["timeEntries"] == []
    rows = await _rows(db)
    assert list(rows) == [entry] and rows[entry].version == 1 and rows[entry].deleted_at is None
    assert await _events(db) == []


async def test_a_repeated_id_is_refused_naming_its_index(
    db: Database, gql: GQL, world: TeamWorld
) -> None:
    w = world
    ids = await add_entries(db, team_id=w.id, user_id=w.member.id, task_id=w.tasks["T-1"], count=3)
    given = [ids[0], ids[1], ids[0].lower(), ids[2]]
    for doc, extra in [(UPDATE_MANY, {"changes": {"description": "x"}}), (DELETE_MANY, {})]:
        payload = await mutate(gql, doc, {"ids": given, **extra}, w.member.token)
        assert _codes(payload) == [("VALIDATION", ["input", "ids", "2"])]
        assert "item 0" in payload["userErrors"][0]["message"]
    client = new_id()
    items = [_item(w, 0, id=client), _item(w, 1, id=client.lower())]
    payload = await mutate(gql, LOG_MANY, {"entries": items}, w.member.token)
    assert _codes(payload) == [("VALIDATION", ["input", "entries", "1", "id"])]
    assert all(e.version == 1 for e in (await _rows(db)).values()) and len(await _rows(db)) == 3
    assert await _events(db) == []


# --- updateTimeEntries, deleteTimeEntries ------------------------------------------------


async def test_update_time_entries_counts_one_version_and_event_per_changed_entry(
    db: Database, gql: GQL, world: TeamWorld
) -> None:
    w = world
    ids = await add_entries(db, team_id=w.id, user_id=w.member.id, task_id=w.tasks["T-1"], count=4)
    ok(await mutate(gql, UPDATE, {"id": ids[1], "description": "done"}, w.member.token))
    changes = {"description": "done", "categoryId": w.categories["dev"]}
    payload = ok(await mutate(gql, UPDATE_MANY, {"ids": ids, "changes": changes}, w.member.token))
    entries = payload["timeEntries"]
    assert [e["id"] for e in entries] == ids
    assert [e["version"] for e in entries] == [2, 3, 2, 2]
    assert {e["category"]["id"] for e in entries} == {w.categories["dev"]}
    assert {e["task"] for e in entries} == {None}
    assert await _events(db) == [
        ("UPDATED", ids[1], 2),
        *(("UPDATED", i, v) for i, v in zip(ids, [2, 3, 2, 2], strict=True)),
    ]
    # The same changes again change nothing: no version, no event.
    again = ok(await mutate(gql, UPDATE_MANY, {"ids": ids, "changes": changes}, w.member.token))
    assert [e["version"] for e in again["timeEntries"]] == [2, 3, 2, 2]
    assert len(await _events(db)) == 5


async def test_update_refusals_per_entry_as_the_single_update_answers(
    db: Database, gql: GQL, world: TeamWorld
) -> None:
    """A member may change only their own DRAFT entries: the admin's entry and a submitted
    one of their own are refused per index, with the single update's code; nothing is
    changed; without all-or-nothing, the others are."""
    w = world
    mine = await add_entries(db, team_id=w.id, user_id=w.member.id, task_id=w.tasks["T-1"], count=3)
    [admins] = await add_entries(
        db,
        team_id=w.id,
        user_id=w.admin.id,
        task_id=w.tasks["T-1"],
        count=1,
        start=ONE_DAY + timedelta(days=1),
    )
    other = await make_team(db, "Other", prefix="o")
    [theirs] = await add_entries(
        db, team_id=other.id, user_id=other.member.id, task_id=other.tasks["T-1"], count=1
    )
    ok(await mutate(gql, TRANSITION, {"ids": [mine[2]], "to": "SUBMITTED"}, w.member.token))
    ids = [mine[0], admins, mine[1], mine[2], theirs, "not-an-id"]
    changes = {"description": "bulk", "minutes": 20}
    payload = await mutate(gql, UPDATE_MANY, {"ids": ids, "changes": changes}, w.member.token)
    expected = []
    for n in (1, 3, 4, 5):
        single = await mutate(gql, UPDATE, {"id": ids[n], **changes}, w.member.token)
        expected.append((single["userErrors"][0]["code"], ["input", "ids", str(n)]))
    assert _codes(payload) == expected
    assert [c for c, _ in expected] == ["FORBIDDEN", "ENTRY_LOCKED", "NOT_FOUND", "NOT_FOUND"]
    assert payload["timeEntries"] == []
    assert {e.version for e in (await _rows(db)).values()} == {1, 2}  # 2: the submitted one
    events = await _events(db)
    assert [k for k, _, _ in events] == ["UPDATED"]  # the transition only
    # A change the entry itself refuses names the change in its message.
    running = await mutate(
        gql,
        UPDATE_MANY,
        {"ids": [mine[0]], "changes": {"startedAt": "2020-01-01T00:00:00Z", "minutes": 0}},
        w.member.token,
    )
    [error] = running["userErrors"]
    assert error["field"] == ["input", "ids", "0"] and "changes." in error["message"]
    # Not all-or-nothing: the member's own drafts change, the rest is reported.
    partial = await mutate(
        gql,
        UPDATE_MANY,
        {"ids": ids, "changes": changes, "allOrNothing": False},
        w.member.token,
    )
    assert _codes(partial) == expected
    assert [e["id"] for e in partial["timeEntries"]] == [mine[0], mine[1]]
    assert [e["durationSeconds"] for e in partial["timeEntries"]] == [1200, 1200]
    assert len(await _events(db)) == 3
    # The admin changes another member's entries.
    admin = ok(
        await mutate(
            gql,
            UPDATE_MANY,
            {"ids": [mine[0], admins], "changes": {"billable": False}},
            w.admin.token,
        )
    )
    assert [e["billable"] for e in admin["timeEntries"]] == [False, False]


async def test_a_refused_item_leaves_nothing_of_its_change_behind(
    db: Database, gql: GQL, world: TeamWorld
) -> None:
    """``updateTimeEntry`` sets an external reference before it finds that a running entry
    takes no duration: the item's SAVEPOINT takes that back, so the next entry may take
    the reference and the refused one keeps none (without it, the refused item's half
    change would be written, and the next item refused for holding its reference)."""
    w = world
    [stopped] = await add_entries(
        db, team_id=w.id, user_id=w.member.id, task_id=w.tasks["T-1"], count=1
    )
    running = ok(
        await mutate(gql, START, {"teamId": w.id, "taskId": w.tasks["T-2"]}, w.member.token)
    )["timeEntry"]["id"]
    ref = {"provider": "jira", "externalType": "issue", "externalId": "PC-7"}
    given = {
        "ids": [running, stopped],
        "changes": {"externalRef": ref, "minutes": 20},
        "allOrNothing": False,
    }
    payload = await mutate(gql, UPDATE_MANY, given, w.member.token)
    assert _codes(payload) == [("VALIDATION", ["input", "ids", "0"])]
    assert "(changes.durationSeconds)" in payload["userErrors"][0]["message"]
    assert [e["id"] for e in payload["timeEntries"]] == [stopped]
    rows = await _rows(db)
    assert (rows[stopped].ext_id, rows[stopped].duration_seconds) == ("PC-7", 1200)
    assert (rows[running].ext_id, rows[running].version) == (None, 1)


async def test_delete_time_entries_once_per_entry(db: Database, gql: GQL, world: TeamWorld) -> None:
    w = world
    ids = await add_entries(db, team_id=w.id, user_id=w.member.id, task_id=w.tasks["T-1"], count=3)
    [admins] = await add_entries(
        db,
        team_id=w.id,
        user_id=w.admin.id,
        task_id=w.tasks["T-1"],
        count=1,
        start=ONE_DAY + timedelta(days=1),
    )
    refused = await mutate(gql, DELETE_MANY, {"ids": [*ids, admins]}, w.member.token)
    assert _codes(refused) == [("FORBIDDEN", ["input", "ids", "3"])]
    assert all(e.deleted_at is None for e in (await _rows(db)).values())
    payload = ok(
        await mutate(gql, DELETE_MANY, {"ids": ids, "idempotencyKey": "d"}, w.member.token)
    )
    assert [e["id"] for e in payload["timeEntries"]] == ids
    assert all(e["deletedAt"] and e["version"] == 2 for e in payload["timeEntries"])
    assert await _events(db) == [("DELETED", i, 2) for i in ids]
    # Deleting them again changes nothing (as deleteTimeEntry): no version, no event.
    again = ok(await mutate(gql, DELETE_MANY, {"ids": ids}, w.member.token))
    assert [e["version"] for e in again["timeEntries"]] == [2, 2, 2]
    replay = ok(await mutate(gql, DELETE_MANY, {"ids": ids, "idempotencyKey": "d"}, w.member.token))
    assert replay["replayed"] is True
    assert len(await _events(db)) == 3


# --- the size of an import ----------------------------------------------------------------


async def test_an_import_of_500_real_items_passes_every_request_limit(
    db: Database, gql: GQL, world: TeamWorld
) -> None:
    """500 entries, each with a description and an external reference, in one request:
    the HTTP body limit (1 MiB), the document limits and the cost let it through."""
    w = world
    items = [
        _item(
            w,
            n,
            description=f"Imported row {n}: " + "x" * 100,
            externalRef={"provider": "csv", "externalType": "row", "externalId": f"row-{n}"},
            source="IMPORT",
        )
        for n in range(500)
    ]
    payload = ok(await mutate(gql, LOG_MANY, {"entries": items}, w.member.token))
    ids = [e["id"] for e in payload["timeEntries"]]
    assert len(set(ids)) == 500 and len(await _rows(db)) == 500
    assert len(await _events(db)) == 500
    changed = ok(
        await mutate(gql, UPDATE_MANY, {"ids": ids, "changes": {"billable": True}}, w.member.token)
    )
    assert {e["version"] for e in changed["timeEntries"]} == {2}
    deleted = ok(await mutate(gql, DELETE_MANY, {"ids": ids}, w.member.token))
    assert len(deleted["timeEntries"]) == 500
    assert Counter(k for k, _, _ in await _events(db)) == {
        "LOGGED": 500,
        "UPDATED": 500,
        "DELETED": 500,
    }


async def test_a_bulk_call_costs_a_point_per_item_and_the_rate_limit_counts_them(
    db: Database, make_client: Any, world: TeamWorld
) -> None:
    """One call of N items costs the call (10 points, as any mutation) plus N points,
    whether the items come in a variable or in the document; a token whose points do
    not cover a second import of 500 is refused RATE_LIMITED, and nothing is written."""
    w = world
    client: httpx.AsyncClient = await make_client(
        rate_limit_enabled=True, rate_limit_points=1000, rate_limit_window_seconds=600
    )
    headers = {"authorization": f"Bearer {w.member.token}"}

    async def post(query: str, variables: dict[str, Any]) -> dict[str, Any]:
        response = await client.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
        body: dict[str, Any] = response.json()
        return body

    def cost(body: dict[str, Any]) -> int:
        return int(body["extensions"]["cost"]["requestedQueryCost"])

    ids = await add_entries(db, team_id=w.id, user_id=w.member.id, task_id=w.tasks["T-1"], count=3)
    one = await post(DELETE_MANY, {"input": {"ids": ids[:1]}})
    three = await post(DELETE_MANY, {"input": {"ids": ids}})
    assert cost(three) - cost(one) == 2
    inline = f"""mutation {{ deleteTimeEntries(input: {{ ids: ["{ids[0]}", "{ids[1]}"] }})
      {{ {FIELDS} }} }}"""
    assert cost(await post(inline, {})) == cost(one) + 1
    single = await post(LOG, {"input": _item(w, 0)})
    imported = await post(
        LOG_MANY, {"input": {"entries": [_item(w, n % 24, description=f"{n}") for n in range(500)]}}
    )
    assert imported["data"]["logTimeEntries"]["userErrors"] == []
    assert cost(single) == 11 and cost(imported) == 511  # a page of nodes + 10 (+ 500)
    refused = await post(LOG_MANY, {"input": {"entries": [_item(w, 1)] * 500}})
    assert refused["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert len(await _rows(db)) == 3 + 1 + 500


# --- races (PostgreSQL) -------------------------------------------------------------------


def _versions_follow_events(
    events: list[tuple[str, str, int | None]], rows: dict[str, TimeEntry]
) -> None:
    """Each entry's events carry versions 2, 3, ... up to its stored version: every change
    counted once, none lost."""
    by_entry: dict[str, list[int | None]] = {}
    for _, entry_id, version in events:
        by_entry.setdefault(entry_id, []).append(version)
    for entry_id, row in rows.items():
        assert by_entry.get(entry_id, []) == list(range(2, row.version + 1)), entry_id


@pytest.mark.parametrize("dialect", ["postgresql"])  # real concurrency
async def test_bulk_updates_racing_single_updates_lose_nothing_and_never_deadlock(
    db: Database, gql: GQL, world: TeamWorld, caplog: pytest.LogCaptureFixture
) -> None:
    """Entries of three users, changed by batches in different orders (each batch locks
    them in one order whatever the input's: without it, two batches would each hold one
    user and wait for the other's) and by their users one at a time."""
    w = world
    people = [w.member, w.admin, w.owner]
    owned = [
        await add_entries(
            db,
            team_id=w.id,
            user_id=p.id,
            task_id=w.tasks["T-1"],
            count=4,
            start=ONE_DAY + timedelta(days=n),
        )
        for n, p in enumerate(people)
    ]
    ids = [e for four in zip(*owned, strict=True) for e in four]  # interleaved by user
    who = {e: people[n] for n, four in enumerate(owned) for e in four}
    caplog.set_level("INFO", logger="punchclock.mutations")

    async def single(n: int) -> dict[str, Any]:
        entry_id = ids[n % len(ids)]
        token = who[entry_id].token
        body = await gql(
            "query($id: ID!) { timeEntry(id: $id) { version } }", {"id": entry_id}, token=token
        )
        version = body["data"]["timeEntry"]["version"]
        given = {"id": entry_id, "expectedVersion": version, "description": f"single {n}"}
        return await mutate(gql, UPDATE, given, token)

    async def many(n: int) -> dict[str, Any]:
        # Each in another order: the batch locks in id order whatever the input's.
        order = ids[n % 3 :] + ids[: n % 3] if n % 2 else list(reversed(ids))
        token = (w.admin if n % 2 else w.owner).token
        given = {"ids": order, "changes": {"description": f"bulk {n}"}}
        return await mutate(gql, UPDATE_MANY, given, token)

    results = await asyncio.gather(*(single(n) for n in range(24)), *(many(n) for n in range(6)))
    singles, bulks = results[:24], results[24:]
    assert all(b["userErrors"] == [] for b in bulks), bulks
    assert {e["code"] for s in singles for e in s["userErrors"]} <= {"VERSION_CONFLICT"}
    won = [s for s in singles if not s["userErrors"]]
    rows = await _rows(db, ids)
    events = await _events(db)
    assert len(events) == 6 * 12 + len(won)
    assert sum(r.version - 1 for r in rows.values()) == len(events)
    _versions_follow_events(events, rows)
    retries = [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
    assert not any("DBAPIError" in m or "Deadlock" in m for m in retries), retries


@pytest.mark.parametrize("dialect", ["postgresql"])  # real concurrency
async def test_bulk_deletes_racing_updates(
    db: Database, gql: GQL, world: TeamWorld, caplog: pytest.LogCaptureFixture
) -> None:
    """Updates of entries a batch deletes at the same time either commit before the
    deletion or find the entry deleted (NOT_FOUND); every entry ends deleted once."""
    w = world
    owned = [
        await add_entries(
            db,
            team_id=w.id,
            user_id=p.id,
            task_id=w.tasks["T-1"],
            count=5,
            start=ONE_DAY + timedelta(days=n),
        )
        for n, p in enumerate((w.member, w.owner))
    ]
    ids = [e for pair in zip(*owned, strict=True) for e in pair]  # member, owner, member...
    caplog.set_level("INFO", logger="punchclock.mutations")

    async def update(n: int) -> dict[str, Any]:
        await asyncio.sleep(0.005 * (n % 10))
        if n % 2:  # the entry's own user, one entry
            token = (w.member if ids.index(ids[n % 10]) % 2 == 0 else w.owner).token
            return await mutate(gql, UPDATE, {"id": ids[n % 10], "description": f"u{n}"}, token)
        # an admin, entries of both users
        given = {"ids": [ids[(n + 5) % 10], ids[n % 10]], "changes": {"description": f"u{n}"}}
        return await mutate(gql, UPDATE_MANY, given, w.admin.token)

    results = await asyncio.gather(
        *(update(n) for n in range(10)),
        mutate(gql, DELETE_MANY, {"ids": list(reversed(ids))}, w.admin.token),
        *(update(n) for n in range(10, 20)),
        mutate(gql, DELETE_MANY, {"ids": ids}, w.owner.token),  # the other order: no-ops
    )
    for deletion in (results[10], results[21]):
        assert deletion["userErrors"] == [] and len(deletion["timeEntries"]) == 10
    others = results[:10] + results[11:21]
    assert {e["code"] for r in others for e in r["userErrors"]} <= {"NOT_FOUND"}
    rows = await _rows(db, ids)
    assert all(r.deleted_at is not None for r in rows.values())
    events = await _events(db)
    assert Counter(k for k, _, _ in events)["DELETED"] == 10
    # Nothing changed an entry after its deletion.
    deleted_at = {e: n for n, (k, e, _) in enumerate(events) if k == "DELETED"}
    assert all(n < deleted_at[e] for n, (k, e, _) in enumerate(events) if k == "UPDATED")
    _versions_follow_events(events, rows)
    retries = [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
    assert not any("DBAPIError" in m or "Deadlock" in m for m in retries), retries


@pytest.mark.parametrize("dialect", ["postgresql"])  # real concurrency
async def test_imports_and_bulk_edits_racing_a_period_lock_and_an_archive(
    db: Database, gql: GQL, world: TeamWorld, caplog: pytest.LogCaptureFixture
) -> None:
    """``lockTeamEntries`` and ``archiveTeam`` lock the team ``FOR UPDATE`` and wait for
    the batches in flight (which lock it ``FOR KEY SHARE`` first, then their users; the
    archive locks users after the team too); a batch after them reads the lock or the
    archive and is refused whole. Every batch is written whole or refused whole, with no
    deadlock. (PostgreSQL lets new ``KEY SHARE`` lockers pass a waiting ``FOR UPDATE``,
    so here the batches usually all commit first.)"""
    w = world
    ids = await add_entries(db, team_id=w.id, user_id=w.member.id, task_id=w.tasks["T-1"], count=6)
    caplog.set_level("INFO", logger="punchclock.mutations")
    lock = "mutation($input: LockTeamEntriesInput!) { lockTeamEntries(input: $input) { userErrors { code } } }"
    archive = (
        "mutation($input: ArchiveTeamInput!) { archiveTeam(input: $input) { userErrors { code } } }"
    )

    async def batch(n: int) -> dict[str, Any]:
        await asyncio.sleep(0.003 * n)
        if n % 2:
            changes = {"description": f"b{n}"}
            return await mutate(gql, UPDATE_MANY, {"ids": ids, "changes": changes}, w.admin.token)
        items = [_item(w, k, description=f"i{n}-{k}") for k in range(6)]
        return await mutate(gql, LOG_MANY, {"entries": items}, w.member.token)

    async def later(seconds: float, doc: str, given: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(seconds)
        return await mutate(gql, doc, given, w.owner.token)

    results = await asyncio.gather(
        *(batch(n) for n in range(8)),
        later(0.02, lock, {"teamId": w.id, "before": "2026-01-01T00:00:00Z"}),
        *(batch(n) for n in range(8, 16)),
        later(0.05, archive, {"id": w.id}),
        *(batch(n) for n in range(16, 24)),
    )
    batches = results[:8] + results[9:17] + results[18:]  # batch n at index n
    assert results[17]["userErrors"] == []
    assert [e["code"] for e in results[8]["userErrors"]] in ([], ["TEAM_ARCHIVED"])
    for b in batches:
        if b["userErrors"]:  # refused whole: every item, for the lock or the archive
            assert len(b["userErrors"]) == 6 and b["timeEntries"] == []
            assert {e["code"] for e in b["userErrors"]} <= {"ENTRY_LOCKED", "TEAM_ARCHIVED"}
        else:
            assert len(b["timeEntries"]) == 6
    imported = sum(1 for n, b in enumerate(batches) if n % 2 == 0 and not b["userErrors"])
    assert len(await _rows(db)) == 6 + 6 * imported
    retries = [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
    assert not any("DBAPIError" in m or "Deadlock" in m for m in retries), retries


# --- the overlap policy and the change history, per item -------------------------------

LOG_MANY_WARNED = f"""mutation($input: LogTimeEntriesInput!) {{ logTimeEntries(input: $input) {{
  replayed {ERRORS} warnings {{ code field message timeEntryId }}
  timeEntries {{ id history {{ action user {{ id }} changes {{ field from to }} }} }} }} }}"""


async def _set_policy(db: Database, team_id: str, policy: OverlapPolicy) -> None:
    async with db.write() as s:
        team = await s.get(Team, team_id)
        assert team is not None
        team.overlap_policy = policy
        s.add(team)
        await s.commit()


async def test_overlap_warnings_and_refusals_name_the_item_index(
    db: Database, gql: GQL, world: TeamWorld
) -> None:
    """Items of one batch see the earlier ones: the second item overlapping the first is
    warned (WARN) or refused (REFUSE) on its own index, as its single log would be."""
    w = world
    first = _item(w, 0, minutes=60)
    overlapping = _item(w, 0, minutes=30, description="overlaps item 0")
    apart = _item(w, 5)
    await _set_policy(db, w.id, OverlapPolicy.WARN)
    given = {"entries": [first, overlapping, apart], "idempotencyKey": "warned"}
    payload = ok(await mutate(gql, LOG_MANY_WARNED, given, w.member.token))
    written = [e["id"] for e in payload["timeEntries"]]
    assert len(written) == 3
    assert [(x["code"], x["field"], x["timeEntryId"]) for x in payload["warnings"]] == [
        ("OVERLAP", ["input", "entries", "1", "startedAt"], written[0])
    ]
    # A replay answers the same warnings.
    again = await mutate(gql, LOG_MANY_WARNED, given, w.member.token)
    assert again["replayed"] is True and again["warnings"] == payload["warnings"]

    await _set_policy(db, w.id, OverlapPolicy.REFUSE)
    before_rows, before_events = await _rows(db), await _events(db)
    later = [_item(w, 30, minutes=60), _item(w, 30, minutes=10), _item(w, 40)]
    refused_payload = await mutate(gql, LOG_MANY_WARNED, {"entries": later}, w.member.token)
    assert _codes(refused_payload) == [("OVERLAP", ["input", "entries", "1", "startedAt"])]
    assert refused_payload["timeEntries"] == [] and refused_payload["warnings"] == []
    assert await _rows(db) == before_rows and await _events(db) == before_events


async def test_each_written_item_has_its_history_and_a_refused_one_none(
    db: Database, gql: GQL, world: TeamWorld
) -> None:
    w = world
    items = [_item(w, 0), _item(w, 1, minutes=0), _item(w, 2)]
    given = {"entries": items, "allOrNothing": False}
    payload = await mutate(gql, LOG_MANY_WARNED, given, w.member.token)
    assert _codes(payload) == [("VALIDATION", ["input", "entries", "1", "minutes"])]
    for entry in payload["timeEntries"]:
        [change] = entry["history"]
        assert change["action"] == "CREATED" and change["user"]["id"] == w.member.id
        assert {"field": "durationSeconds", "from": None, "to": "1800"} in change["changes"]
    async with db.read() as s:
        recorded = (await s.exec(select(EntryChange.entry_id))).all()
    assert sorted(recorded) == sorted(e["id"] for e in payload["timeEntries"])


async def test_an_item_refused_after_its_changes_were_applied_leaves_no_history(
    db: Database, gql: GQL, world: TeamWorld
) -> None:
    """Under REFUSE an update's overlap is found after its tags and timing were applied
    (and its change row noted): the item's SAVEPOINT takes all of it back, and the next
    item's change row is its own."""
    w = world
    tag = await add_tag(gql, w, "late")
    # 09:00, 08:00 and 07:00, half an hour each: 07:00 made 90 minutes long overlaps 08:00.
    free_id, _neighbour, refused_id = await add_entries(
        db, team_id=w.id, user_id=w.member.id, task_id=w.tasks["T-1"], count=3
    )
    await _set_policy(db, w.id, OverlapPolicy.REFUSE)
    changes = {"durationSeconds": 5400, "tagIds": [tag]}
    given = {"ids": [refused_id, free_id], "changes": changes, "allOrNothing": False}
    payload = await mutate(gql, UPDATE_MANY, given, w.member.token)
    assert _codes(payload) == [("OVERLAP", ["input", "ids", "0"])]
    assert [e["id"] for e in payload["timeEntries"]] == [free_id]
    async with db.read() as s:
        [change] = (await s.exec(select(EntryChange).where(EntryChange.action != "CREATED"))).all()
        tagged = (await s.exec(select(EntryTag.entry_id))).all()
    assert change.entry_id == free_id and change.action == "UPDATED"
    assert {c["field"] for c in change.changes} == {"stoppedAt", "durationSeconds", "tagIds"}
    assert tagged == [free_id]

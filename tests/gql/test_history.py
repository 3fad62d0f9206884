"""Change history (issue 20, item 6): ``TimeEntry.history``, recorded by ``store.history``.

Every write records exactly its changes (field, from, to) with its actor and kind, in its
own transaction: logs (both the compiled and the ORM path, which must agree), timers, a
new timer's stop of the running one, edits, transitions, deletion and restore, copies, the
server's stop at the team's limit (no actor) and team commands that stop timers. A no-op,
a replay and a refused write record nothing. Only the entry's user and the team's admins
see the history. Both databases; the concurrent edits case on PostgreSQL.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlmodel import col, func, select

from gql.server.app import create_app
from gql.settings import Settings
from store import history, locks, timers
from store.db import Database
from store.events import EventLog
from store.ids import new_id
from store.models import EntryChange, TimeEntry
from tests.conftest import GQL, QUIET
from tests.factories import TeamWorld, add_running_entry, make_team
from tests.gql.mutation_helpers import (
    DELETE,
    ERRORS,
    LOG,
    START,
    STOP,
    TRANSITION,
    UPDATE,
    mutate,
    ok,
    refused,
)
from tests.gql.test_bulk import UPDATE_MANY
from tests.gql.test_mutations_copies import CONTINUE, DUPLICATE
from tests.gql.test_tags import add_tag
from tests.gql.test_team_lifecycle import ARCHIVE_TEAM, REMOVE

HISTORY = """query($id: ID!) { timeEntry(id: $id) { id version
  history { at action user { id } changes { field from to } } } }"""
RESTORE = f"""mutation($input: RestoreTimeEntryInput!) {{ restoreTimeEntry(input: $input) {{
  replayed {ERRORS} timeEntry {{ id }} }} }}"""


async def _history(gql: GQL, entry_id: str, token: str) -> list[dict[str, Any]] | None:
    body = await gql(HISTORY, {"id": entry_id}, token=token)
    assert body.get("errors") is None, body
    entry = body["data"]["timeEntry"]
    assert entry is not None
    found: list[dict[str, Any]] | None = entry["history"]
    return found


def _changes(change: dict[str, Any]) -> dict[str, tuple[str | None, str | None]]:
    return {c["field"]: (c["from"], c["to"]) for c in change["changes"]}


def _log(w: TeamWorld, **extra: Any) -> dict[str, Any]:
    return {
        "teamId": w.id,
        "taskId": w.tasks["T-1"],
        "startedAt": "2025-03-10T09:00:00Z",
        "durationSeconds": 1800,
        "description": "paging",
        **extra,
    }


async def _count(db: Database) -> int:
    async with db.read() as s:
        total: int = (await s.exec(select(func.count()).select_from(EntryChange))).one()
    return total


# --- the pure rules ------------------------------------------------------------------------


def test_every_column_of_an_entry_is_recorded_or_says_why_not() -> None:
    columns = {c.name for c in TimeEntry.__table__.columns}  # type: ignore[attr-defined]
    assert set(history.FIELDS) | set(history.UNRECORDED) == columns
    assert not set(history.FIELDS) & set(history.UNRECORDED)


def test_values_are_shown_as_the_api_shows_them() -> None:
    at = datetime(2025, 3, 10, 9, 0, 0, 750_000, tzinfo=UTC)
    assert history.api_value(at) == "2025-03-10T09:00:00Z"
    berlin = at.astimezone(ZoneInfo("Europe/Berlin"))
    assert history.api_value(berlin) == "2025-03-10T09:00:00Z"
    assert history.api_value(date(2025, 3, 10)) == "2025-03-10"
    assert history.api_value(True) == "true" and history.api_value(False) == "false"
    assert history.api_value(0) == "0" and history.api_value(1800) == "1800"
    assert history.api_value(None) is None
    assert history.api_value(["B", "A"]) == "A,B"
    before = {"description": "a", "billable": True, "duration_seconds": 60}
    after = {"description": "a", "billable": False, "duration_seconds": 90}
    assert history.field_changes(before, after) == [
        {"field": "durationSeconds", "from": "60", "to": "90"},
        {"field": "billable", "from": "true", "to": "false"},
    ]
    assert history.field_changes(before, dict(before)) == []


def test_the_kind_of_a_change_follows_from_its_values() -> None:
    base = {"status": "DRAFT", "stopped_at": None, "deleted_at": None, "auto_stopped": False}
    at = datetime(2025, 3, 10, tzinfo=UTC)
    cases = [
        (None, base, "CREATED"),
        (base, {**base, "stopped_at": at}, "STOPPED"),
        (base, {**base, "stopped_at": at, "auto_stopped": True}, "AUTO_STOPPED"),
        (base, {**base, "deleted_at": at, "stopped_at": at}, "DELETED"),
        ({**base, "deleted_at": at}, base, "RESTORED"),
        (base, {**base, "status": "SUBMITTED"}, "TRANSITIONED"),
        (base, {**base, "status": "LOCKED", "locked_at": at}, "TRANSITIONED"),
        (base, {**base, "status": "SUBMITTED", "description": "x"}, "UPDATED"),
        ({**base, "stopped_at": at}, {**base, "stopped_at": at + timedelta(1)}, "UPDATED"),
    ]
    for before, after, action in cases:
        assert history.action_of(before, after).value == action, (before, after)


# --- every write records its changes ---------------------------------------------------------


async def test_a_log_records_its_creation_and_the_compiled_path_records_as_the_orm_path(
    db: Database, database_url: str
) -> None:
    w = await make_team(db, "Acme", prefix="a")
    app = create_app(Settings(database_url=database_url, **QUIET))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):

        async def gql(query: str, variables: Any = None, *, token: str) -> Any:
            headers = {"authorization": f"Bearer {token}"}
            body = {"query": query, "variables": variables or {}}
            return (await client.post("/graphql", json=body, headers=headers)).json()

        writes = app.state.graphql.fast_path
        # Without an id the compiled write takes it; a client id goes the ORM path.
        compiled = ok(await mutate(gql, LOG, _log(w), w.member.token))["timeEntry"]
        assert writes.log_writes == 1
        orm = ok(await mutate(gql, LOG, _log(w, id=new_id()), w.member.token))["timeEntry"]
        assert writes.log_writes == 1
        [first] = await _history(gql, compiled["id"], w.member.token) or []
        [second] = await _history(gql, orm["id"], w.member.token) or []
    assert first["action"] == "CREATED" and first["user"] == {"id": w.member.id}
    assert _changes(first) == {
        "userId": (None, w.member.id),
        "scopeType": (None, "TASK"),
        "taskId": (None, w.tasks["T-1"]),
        "startedAt": (None, "2025-03-10T09:00:00Z"),
        "stoppedAt": (None, "2025-03-10T09:30:00Z"),
        "durationSeconds": (None, "1800"),
        "workDate": (None, "2025-03-10"),
        "description": (None, "paging"),
        "billable": (None, "false"),  # the task's category "api" is not billable
        "rateSnapshotCents": (None, "9000"),
        "status": (None, "DRAFT"),
        "inputType": (None, "MANUAL"),
        "source": (None, "API"),
        "autoStopped": (None, "false"),
    }
    assert first["changes"] == second["changes"]
    assert (first["action"], first["user"]) == (second["action"], second["user"])


async def test_an_update_records_exactly_what_it_changed_and_who(db: Database, gql: GQL) -> None:
    w = await make_team(db, "Acme", prefix="a")
    entry = ok(await mutate(gql, LOG, _log(w), w.member.token))["timeEntry"]
    change = {"id": entry["id"], "description": "docs", "durationSeconds": 3600}
    ok(await mutate(gql, UPDATE, change, w.admin.token))
    created, updated = await _history(gql, entry["id"], w.member.token) or []
    assert created["action"] == "CREATED"
    assert updated["action"] == "UPDATED" and updated["user"] == {"id": w.admin.id}
    assert _changes(updated) == {
        "stoppedAt": ("2025-03-10T09:30:00Z", "2025-03-10T10:00:00Z"),
        "durationSeconds": ("1800", "3600"),
        "description": ("paging", "docs"),
    }
    assert created["at"] <= updated["at"]
    # A move to another task, by the member: the task and what follows from it.
    moved = {"id": entry["id"], "taskId": w.tasks["T-2"], "expectedVersion": 2}
    ok(await mutate(gql, UPDATE, moved, w.member.token))
    *_, last = await _history(gql, entry["id"], w.member.token) or []
    assert last["user"] == {"id": w.member.id}
    assert _changes(last) == {
        "taskId": (w.tasks["T-1"], w.tasks["T-2"]),
        "billable": ("false", "true"),  # T-2 lies under "dev", billable by the team
    }


async def test_a_no_op_a_replay_and_a_refused_write_record_nothing(db: Database, gql: GQL) -> None:
    w = await make_team(db, "Acme", prefix="a")
    entry = ok(await mutate(gql, LOG, _log(w), w.member.token))["timeEntry"]
    before = await _count(db)
    same = {"id": entry["id"], "description": "paging", "durationSeconds": 1800}
    assert ok(await mutate(gql, UPDATE, same, w.member.token))["timeEntry"]["version"] == 1
    assert await _count(db) == before

    keyed = {"id": entry["id"], "description": "keyed", "idempotencyKey": "k1"}
    ok(await mutate(gql, UPDATE, keyed, w.member.token))
    assert await _count(db) == before + 1
    assert ok(await mutate(gql, UPDATE, keyed, w.member.token))["replayed"] is True
    assert await _count(db) == before + 1

    stale = {"id": entry["id"], "description": "late", "expectedVersion": 1}
    refused(await mutate(gql, UPDATE, stale, w.member.token), "VERSION_CONFLICT")
    too_long = {"id": entry["id"], "durationSeconds": 90_000}
    refused(await mutate(gql, UPDATE, too_long, w.member.token), "VALIDATION")
    other = await make_team(db, "Other", prefix="b")
    refused(
        await mutate(gql, UPDATE, {"id": entry["id"], "description": "x"}, other.owner.token),
        "NOT_FOUND",
    )
    refused(await mutate(gql, LOG, _log(w, durationSeconds=0), w.member.token), "VALIDATION")
    assert await _count(db) == before + 1
    actions = [c["action"] for c in await _history(gql, entry["id"], w.member.token) or []]
    assert actions == ["CREATED", "UPDATED"]


async def test_timers_record_start_the_switch_and_stop(db: Database, gql: GQL) -> None:
    w = await make_team(db, "Acme", prefix="a")
    token = w.member.token
    first = ok(await mutate(gql, START, {"teamId": w.id, "taskId": w.tasks["T-1"]}, token))
    second = ok(await mutate(gql, START, {"teamId": w.id, "taskId": w.tasks["T-2"]}, token))
    stopped = second["stoppedEntry"]
    assert stopped["id"] == first["timeEntry"]["id"]
    created, switched = await _history(gql, stopped["id"], token) or []
    assert created["action"] == "CREATED"
    assert _changes(created)["inputType"] == (None, "REALTIME")
    assert "stoppedAt" not in _changes(created)  # running: no stop yet
    assert switched["action"] == "STOPPED" and switched["user"] == {"id": w.member.id}
    assert _changes(switched) == {
        "stoppedAt": (None, stopped["stoppedAt"]),
        "durationSeconds": (None, str(stopped["durationSeconds"])),
    }
    done = ok(await mutate(gql, STOP, {}, token))["timeEntry"]
    assert done["id"] == second["timeEntry"]["id"]
    actions = await _history(gql, done["id"], token) or []
    assert [c["action"] for c in actions] == ["CREATED", "STOPPED"]
    assert _changes(actions[1])["stoppedAt"] == (None, done["stoppedAt"])


async def test_transitions_deletion_and_restore_record_their_kinds(db: Database, gql: GQL) -> None:
    w = await make_team(db, "Acme", prefix="a")
    entry = ok(await mutate(gql, LOG, _log(w), w.member.token))["timeEntry"]
    ids = [entry["id"]]
    ok(await mutate(gql, TRANSITION, {"ids": ids, "to": "SUBMITTED"}, w.member.token))
    ok(await mutate(gql, TRANSITION, {"ids": ids, "to": "APPROVED"}, w.admin.token))
    locked = ok(await mutate(gql, TRANSITION, {"ids": ids, "to": "LOCKED"}, w.admin.token))
    locked_at = locked["timeEntries"][0]["lockedAt"]
    ok(await mutate(gql, TRANSITION, {"ids": ids, "to": "APPROVED"}, w.admin.token))
    ok(await mutate(gql, DELETE, {"id": entry["id"]}, w.admin.token))
    deleted_again = await mutate(gql, DELETE, {"id": entry["id"]}, w.admin.token)
    assert deleted_again["userErrors"] == []  # deleting twice changes nothing
    ok(await mutate(gql, RESTORE, {"id": entry["id"]}, w.admin.token))
    changes = await _history(gql, entry["id"], w.member.token) or []
    got = [(c["action"], c["user"]["id"], _changes(c)) for c in changes]
    member, admin = w.member.id, w.admin.id
    assert got[1:] == [
        ("TRANSITIONED", member, {"status": ("DRAFT", "SUBMITTED")}),
        ("TRANSITIONED", admin, {"status": ("SUBMITTED", "APPROVED")}),
        ("TRANSITIONED", admin, {"status": ("APPROVED", "LOCKED"), "lockedAt": (None, locked_at)}),
        ("TRANSITIONED", admin, {"status": ("LOCKED", "APPROVED"), "lockedAt": (locked_at, None)}),
        ("DELETED", admin, {"deletedAt": (None, got[5][2]["deletedAt"][1])}),
        ("RESTORED", admin, {"deletedAt": (got[5][2]["deletedAt"][1], None)}),
    ]
    assert got[5][2]["deletedAt"][1] is not None
    ats = [c["at"] for c in changes]
    assert ats == sorted(ats)


async def test_continue_and_duplicate_record_a_creation(db: Database, gql: GQL) -> None:
    w = await make_team(db, "Acme", prefix="a")
    source = ok(await mutate(gql, LOG, _log(w), w.member.token))["timeEntry"]
    copy = ok(
        await mutate(gql, DUPLICATE, {"id": source["id"], "workDate": "2025-03-11"}, w.member.token)
    )["timeEntry"]
    again = ok(await mutate(gql, CONTINUE, {"id": source["id"]}, w.member.token))["timeEntry"]
    for made in (copy, again):
        [created] = await _history(gql, made["id"], w.member.token) or []
        assert created["action"] == "CREATED" and created["user"] == {"id": w.member.id}
        assert _changes(created)["description"] == (None, "paging")
    assert _changes((await _history(gql, copy["id"], w.member.token) or [])[0])["workDate"] == (
        None,
        "2025-03-11",
    )
    # The source itself did not change.
    assert [c["action"] for c in await _history(gql, source["id"], w.member.token) or []] == [
        "CREATED"
    ]


async def test_the_servers_stop_at_the_limit_is_auto_stopped_by_nobody(
    db: Database, gql: GQL
) -> None:
    w = await make_team(db, "Short", prefix="s", max_timer_hours=1)
    began = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    entry_id = await add_running_entry(db, w, w.member.id, began)
    async with db.write() as s:  # the sweep, as the app runs it: no actor
        stopped = await timers.stop_overdue(s, now=datetime.now(UTC), events=EventLog())
        await s.commit()
    assert [e.id for e in stopped] == [entry_id]
    created, auto = await _history(gql, entry_id, w.member.token) or []
    assert created["action"] == "CREATED" and created["user"] is None  # inserted by the test
    assert auto["action"] == "AUTO_STOPPED" and auto["user"] is None
    stop = (began + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    assert _changes(auto) == {
        "stoppedAt": (None, stop),
        "durationSeconds": (None, "3600"),
        "autoStopped": ("false", "true"),
    }


async def test_team_commands_that_stop_timers_record_the_stop(db: Database, gql: GQL) -> None:
    w = await make_team(db, "Acme", prefix="a")
    running = ok(
        await mutate(gql, START, {"teamId": w.id, "taskId": w.tasks["T-1"]}, w.member.token)
    )
    entry_id = running["timeEntry"]["id"]
    admin_running = ok(
        await mutate(gql, START, {"teamId": w.id, "taskId": w.tasks["T-2"]}, w.admin.token)
    )["timeEntry"]["id"]
    removed = ok(await mutate(gql, REMOVE, {"teamId": w.id, "userId": w.member.id}, w.owner.token))
    assert removed["stoppedEntry"]["id"] == entry_id
    # The member is gone; the owner (an admin of the team) reads the entry's history.
    actions = await _history(gql, entry_id, w.owner.token) or []
    assert [(c["action"], c["user"]["id"]) for c in actions] == [
        ("CREATED", w.member.id),
        ("STOPPED", w.owner.id),
    ]
    archived = ok(await mutate(gql, ARCHIVE_TEAM, {"id": w.id}, w.owner.token))
    assert [e["id"] for e in archived["stoppedEntries"]] == [admin_running]
    actions = await _history(gql, admin_running, w.owner.token) or []
    assert [(c["action"], c["user"]["id"]) for c in actions] == [
        ("CREATED", w.admin.id),
        ("STOPPED", w.owner.id),
    ]


# --- who sees it -----------------------------------------------------------------------------


async def test_history_is_visible_to_the_entrys_user_and_the_teams_admins_only(
    db: Database, gql: GQL
) -> None:
    w = await make_team(db, "Acme", prefix="a")
    entry = ok(await mutate(gql, LOG, _log(w), w.member.token))["timeEntry"]
    admins_own = ok(await mutate(gql, LOG, _log(w), w.admin.token))["timeEntry"]
    for token in (w.member.token, w.admin.token, w.owner.token):
        found = await _history(gql, entry["id"], token)
        assert found is not None and [c["action"] for c in found] == ["CREATED"]
    # Another member of the team reads the admin's entry, not its history.
    assert await _history(gql, admins_own["id"], w.member.token) is None
    # Pages answer the same, per entry.
    page = """query($t: ID!) { team(id: $t) { timeEntries { nodes { id user { id }
      history { action } } } } }"""
    body = await gql(page, {"t": w.id}, token=w.member.token)
    nodes = body["data"]["team"]["timeEntries"]["nodes"]
    seen = {n["id"]: n["history"] for n in nodes}
    assert seen == {entry["id"]: [{"action": "CREATED"}], admins_own["id"]: None}


# --- a non-column change (tags) --------------------------------------------------------------


async def test_a_noted_change_joins_the_entrys_change_row_of_the_transaction(
    db: Database, gql: GQL
) -> None:
    w = await make_team(db, "Acme", prefix="a")
    entry = ok(await mutate(gql, LOG, _log(w), w.member.token))["timeEntry"]
    async with db.write() as s:
        history.set_actor(s, w.member.id)
        row = (await locks.entries(s, [entry["id"]]))[entry["id"]]
        row.description = "tagged"  # a column change before the note, not flushed yet
        row.version += 1
        history.note_change(s, row, "tagIds", ["B", "A"], ["C"])
        history.note_change(s, row, "tagIds", ["C"], ["A"])  # the first `from` stays
        s.add(row)
        await s.commit()
    async with db.write() as s:  # the same tags again: nothing
        row = (await locks.entries(s, [entry["id"]]))[entry["id"]]
        history.note_change(s, row, "tagIds", ["A"], ["A"])
        await s.commit()
    *_, last = await _history(gql, entry["id"], w.member.token) or []
    assert last["action"] == "UPDATED" and last["user"] == {"id": w.member.id}
    assert last["changes"] == [
        {"field": "description", "from": "paging", "to": "tagged"},
        {"field": "tagIds", "from": "A,B", "to": "A"},
    ]
    assert len(await _history(gql, entry["id"], w.member.token) or []) == 2


# --- concurrency -----------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", ["postgresql"])
async def test_concurrent_updates_record_exactly_the_winners_in_version_order(
    db: Database, gql: GQL
) -> None:
    w = await make_team(db, "Acme", prefix="a")
    entry = ok(await mutate(gql, LOG, _log(w), w.member.token))["timeEntry"]
    winners: list[str] = []
    for version in range(1, 5):
        answers = await asyncio.gather(
            *(
                mutate(
                    gql,
                    UPDATE,
                    {
                        "id": entry["id"],
                        "expectedVersion": version,
                        "description": f"v{version}-{n}",
                    },
                    token,
                )
                for n, token in enumerate([w.member.token, w.admin.token] * 3)
            )
        )
        won = [a for a in answers if not a["userErrors"]]
        assert len(won) == 1, answers
        assert {a["userErrors"][0]["code"] for a in answers if a["userErrors"]} == {
            "VERSION_CONFLICT"
        }
        winners.append(won[0]["timeEntry"]["description"])
    found = await _history(gql, entry["id"], w.member.token) or []
    assert [c["action"] for c in found] == ["CREATED"] + ["UPDATED"] * 4
    descriptions = [_changes(c)["description"] for c in found[1:]]
    assert descriptions == list(zip(["paging", *winners[:-1]], winners, strict=True))
    async with db.read() as s:
        rows = (
            await s.exec(
                select(EntryChange)
                .where(EntryChange.entry_id == entry["id"])
                .order_by(col(EntryChange.at), col(EntryChange.id))
            )
        ).all()
    assert len(rows) == 5


async def test_tags_are_recorded_with_the_entrys_own_changes(db: Database, gql: GQL) -> None:
    """``tagIds`` joins the change row of the write that set it: a log's creation, an
    edit (with a column change in the same write, one row), a bulk edit, clearing them;
    the same set again records nothing."""
    w = await make_team(db, "Acme", prefix="a")
    red, blue = [await add_tag(gql, w, name) for name in ("red", "blue")]
    entry = ok(await mutate(gql, LOG, _log(w, tagIds=[red]), w.member.token))["timeEntry"]
    ok(await mutate(gql, UPDATE, {"id": entry["id"], "tagIds": [blue, red]}, w.member.token))
    ok(await mutate(gql, UPDATE, {"id": entry["id"], "tagIds": [red, blue]}, w.member.token))
    both = {"id": entry["id"], "tagIds": [], "description": "untagged"}
    ok(await mutate(gql, UPDATE, both, w.member.token))
    bulk = {"ids": [entry["id"]], "changes": {"tagIds": [blue]}}
    ok(await mutate(gql, UPDATE_MANY, bulk, w.member.token))
    created, added, cleared, by_bulk = await _history(gql, entry["id"], w.member.token) or []
    assert _changes(created)["tagIds"] == (None, red)
    assert _changes(added) == {"tagIds": (red, ",".join(sorted([red, blue])))}
    assert _changes(cleared) == {
        "tagIds": (",".join(sorted([red, blue])), None),
        "description": ("paging", "untagged"),
    }
    assert _changes(by_bulk) == {"tagIds": (None, blue)}
    assert [c["action"] for c in (added, cleared, by_bulk)] == ["UPDATED"] * 3

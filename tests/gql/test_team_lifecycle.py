"""Team lifecycle: removing and changing members, archiving tasks and teams, restoring
entries. Every test runs on SQLite and PostgreSQL (the ``db``/``gql`` fixtures)."""

from __future__ import annotations

from typing import Any

from store.db import Database
from tests.conftest import GQL
from tests.factories import Member, TeamWorld, make_team, make_user
from tests.gql.mutation_helpers import (
    COMMENT,
    DELETE,
    ERRORS,
    LOCK,
    LOG,
    START,
    TRANSITION,
    UPDATE,
    mutate,
    ok,
    refused,
)
from tests.gql.test_bad_input import MEMBER, TASK, UPDATE_TEAM, dump

REMOVE = f"""mutation($input: RemoveTeamMemberInput!) {{ removeTeamMember(input: $input) {{
  replayed {ERRORS} removedUserId team {{ id members {{ role user {{ id }} }} }}
  stoppedEntry {{ id running stoppedAt user {{ id }} }} }} }}"""
UPDATE_MEMBER = f"""mutation($input: UpdateTeamMemberInput!) {{ updateTeamMember(input: $input) {{
  replayed {ERRORS} member {{ role rateCents user {{ id }} }} }} }}"""
ARCHIVE_TEAM = f"""mutation($input: ArchiveTeamInput!) {{ archiveTeam(input: $input) {{
  replayed {ERRORS} team {{ id archived archivedAt }} stoppedEntries {{ id running user {{ id }} }} }} }}"""
RESTORE_TEAM = f"""mutation($input: RestoreTeamInput!) {{ restoreTeam(input: $input) {{
  replayed {ERRORS} team {{ id archived archivedAt }} }} }}"""
UPDATE_TASK = f"""mutation($input: UpdateTaskInput!) {{ updateTask(input: $input) {{
  replayed {ERRORS} task {{ id archived archivedAt }} }} }}"""
RESTORE_ENTRY = f"""mutation($input: RestoreTimeEntryInput!) {{ restoreTimeEntry(input: $input) {{
  replayed {ERRORS} timeEntry {{ id version deletedAt user {{ id }} }} }} }}"""
CHANGES = """query($team: ID!) { teamChanges(teamId: $team) { nodes { kind subject subjectId
  version } } }"""


def log_input(world: TeamWorld, task: str = "T-1", **extra: Any) -> dict[str, Any]:
    return {
        "teamId": world.id,
        "taskId": world.tasks[task],
        "startedAt": "2025-03-10T09:00:00Z",
        "duration": "1h",
        **extra,
    }


async def log(gql: GQL, world: TeamWorld, who: Member, **extra: Any) -> dict[str, Any]:
    return ok(await mutate(gql, LOG, log_input(world, **extra), who.token))["timeEntry"]


async def changes(gql: GQL, world: TeamWorld) -> list[dict[str, Any]]:
    body = await gql(CHANGES, {"team": world.id}, token=world.owner.token)
    nodes: list[dict[str, Any]] = body["data"]["teamChanges"]["nodes"]
    return nodes


async def test_removed_member_keeps_entries_and_loses_the_team(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a")
    entry = await log(gql, world, world.member)
    running = ok(
        await mutate(
            gql, START, {"teamId": world.id, "taskId": world.tasks["T-2"]}, world.member.token
        )
    )["timeEntry"]

    removed = ok(
        await mutate(
            gql, REMOVE, {"teamId": world.id, "userId": world.member.id}, world.admin.token
        )
    )
    assert removed["removedUserId"] == world.member.id
    assert [m["user"]["id"] for m in removed["team"]["members"]] == [
        world.owner.id,
        world.admin.id,
    ]
    stopped = removed["stoppedEntry"]
    assert stopped["id"] == running["id"] and stopped["running"] is False
    assert stopped["stoppedAt"] is not None and stopped["user"]["id"] == world.member.id

    # The entries stay, attributed to them, for the remaining members.
    page = await gql(
        """query($t: ID!) { timeEntries(filter: {teamId: $t}) { nodes { id running
          user { id nickname email } } } }""",
        {"t": world.id},
        token=world.owner.token,
    )
    nodes = page["data"]["timeEntries"]["nodes"]
    assert {n["id"] for n in nodes} == {entry["id"], running["id"]}
    assert all(n["user"]["id"] == world.member.id for n in nodes)
    assert all(n["user"]["nickname"] == "a Member" and n["running"] is False for n in nodes)

    # The removed member reads nothing of the team, at once, and writes nothing.
    seen = await gql(
        """query($t: ID!, $e: ID!) { team(id: $t) { id } timeEntry(id: $e) { id }
          teams { id } viewer { runningEntry { id } }
          timeEntries(filter: {teamId: $t}) { totalCount nodes { id } } }""",
        {"t": world.id, "e": entry["id"]},
        token=world.member.token,
    )
    assert seen["data"] == {
        "team": None,
        "timeEntry": None,
        "teams": [],
        "viewer": {"runningEntry": None},
        "timeEntries": {"totalCount": 0, "nodes": []},
    }
    refused(await mutate(gql, LOG, log_input(world), world.member.token), "NOT_FOUND")
    refused(
        await mutate(gql, DELETE, {"id": entry["id"]}, world.member.token),
        "NOT_FOUND",
        ["input", "id"],
    )
    refused(
        await mutate(
            gql, START, {"teamId": world.id, "taskId": world.tasks["T-1"]}, world.member.token
        ),
        "NOT_FOUND",
    )

    # The timer's STOPPED, then the member's removal, through the outbox.
    kinds = [(c["kind"], c["subject"], c["subjectId"]) for c in await changes(gql, world)]
    assert kinds[-2:] == [
        ("STOPPED", "ENTRY", running["id"]),
        ("DELETED", "MEMBER", world.member.id),
    ]


async def test_a_member_may_leave_and_the_payload_shows_nothing_of_the_team(
    db: Database, gql: GQL
) -> None:
    world = await make_team(db, "Acme", prefix="a")
    ok(
        await mutate(
            gql, START, {"teamId": world.id, "taskId": world.tasks["T-2"]}, world.member.token
        )
    )
    left = ok(
        await mutate(
            gql, REMOVE, {"teamId": world.id, "userId": world.member.id}, world.member.token
        )
    )
    assert left["removedUserId"] == world.member.id
    assert left["team"] is None and left["stoppedEntry"] is None
    running = await gql(
        """query($t: ID!) { team(id: $t) { runningEntries { id } } }""",
        {"t": world.id},
        token=world.owner.token,
    )
    assert running["data"]["team"]["runningEntries"] == []


async def test_who_may_change_members(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a")
    extra = await make_user(db, "Extra", "extra@example.test")
    ok(await mutate(gql, MEMBER, {"teamId": world.id, "userId": extra.id}, world.owner.token))
    member, admin, owner = world.member.token, world.admin.token, world.owner.token

    def remove(user: str) -> dict[str, Any]:
        return {"teamId": world.id, "userId": user}

    # A member manages nobody but may leave.
    refused(await mutate(gql, REMOVE, remove(extra.id), member), "FORBIDDEN", ["input", "userId"])
    refused(
        await mutate(gql, UPDATE_MEMBER, {**remove(world.member.id), "rateCents": 1}, member),
        "FORBIDDEN",
    )
    # An admin manages members and admins, never an owner, and makes no owner.
    refused(await mutate(gql, REMOVE, remove(world.owner.id), admin), "FORBIDDEN")
    refused(
        await mutate(gql, UPDATE_MEMBER, {**remove(world.owner.id), "role": "ADMIN"}, admin),
        "FORBIDDEN",
        ["input", "role"],
    )
    refused(
        await mutate(gql, UPDATE_MEMBER, {**remove(extra.id), "role": "OWNER"}, admin),
        "FORBIDDEN",
        ["input", "role"],
    )
    changed = ok(
        await mutate(
            gql, UPDATE_MEMBER, {**remove(extra.id), "role": "ADMIN", "rateCents": 5000}, admin
        )
    )["member"]
    assert changed == {"role": "ADMIN", "rateCents": 5000, "user": {"id": extra.id}}
    # An owner makes and unmakes owners.
    promoted = ok(await mutate(gql, UPDATE_MEMBER, {**remove(extra.id), "role": "OWNER"}, owner))
    assert promoted["member"]["role"] == "OWNER"
    refused(await mutate(gql, REMOVE, remove(extra.id), admin), "FORBIDDEN")
    ok(await mutate(gql, UPDATE_MEMBER, {**remove(extra.id), "role": "MEMBER"}, owner))
    ok(await mutate(gql, REMOVE, remove(extra.id), admin))
    ok(await mutate(gql, REMOVE, remove(world.member.id), member))
    roles = await gql(
        "query($t: ID!) { team(id: $t) { members { role user { id } } } }",
        {"t": world.id},
        token=owner,
    )
    assert roles["data"]["team"]["members"] == [
        {"role": "OWNER", "user": {"id": world.owner.id}},
        {"role": "ADMIN", "user": {"id": world.admin.id}},
    ]
    # Events for each member change, through the outbox.
    member_events = [
        (c["kind"], c["subjectId"]) for c in await changes(gql, world) if c["subject"] == "MEMBER"
    ]
    assert member_events == [
        ("CREATED", extra.id),
        ("UPDATED", extra.id),
        ("UPDATED", extra.id),
        ("UPDATED", extra.id),
        ("DELETED", extra.id),
        ("DELETED", world.member.id),
    ]


async def test_the_last_owner_stays(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a")
    owner = world.owner.token
    me = {"teamId": world.id, "userId": world.owner.id}
    before = await dump(db)
    refused(await mutate(gql, REMOVE, me, owner), "LAST_OWNER", ["input", "userId"])
    refused(
        await mutate(gql, UPDATE_MEMBER, {**me, "role": "ADMIN"}, owner),
        "LAST_OWNER",
        ["input", "role"],
    )
    # addTeamMember changes an existing member's role too: the same rule.
    refused(
        await mutate(gql, MEMBER, {**me, "role": "MEMBER"}, owner), "LAST_OWNER", ["input", "role"]
    )
    assert await dump(db) == before
    # With a second owner, one may step down or leave.
    ok(await mutate(gql, UPDATE_MEMBER, {**me, "userId": world.admin.id, "role": "OWNER"}, owner))
    ok(await mutate(gql, UPDATE_MEMBER, {**me, "role": "ADMIN"}, owner))
    refused(
        await mutate(gql, REMOVE, {**me, "userId": world.admin.id}, world.admin.token), "LAST_OWNER"
    )


async def test_rate_changes_leave_entries_made(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a", default_rate_cents=4000)
    first = await log(gql, world, world.member)
    assert first["rateSnapshotCents"] == 9000
    who = {"teamId": world.id, "userId": world.member.id}
    changed = ok(await mutate(gql, UPDATE_MEMBER, {**who, "rateCents": 5000}, world.admin.token))
    assert changed["member"]["rateCents"] == 5000 and changed["member"]["role"] == "MEMBER"
    second = await log(gql, world, world.member, startedAt="2025-03-11T09:00:00Z")
    assert second["rateSnapshotCents"] == 5000
    # null: the category's rate (none here), then the team's.
    cleared = ok(await mutate(gql, UPDATE_MEMBER, {**who, "rateCents": None}, world.admin.token))
    assert cleared["member"]["rateCents"] is None
    third = await log(gql, world, world.member, startedAt="2025-03-12T09:00:00Z")
    assert third["rateSnapshotCents"] == 4000
    entry = await gql(
        "query($id: ID!) { timeEntry(id: $id) { rateSnapshotCents } }",
        {"id": first["id"]},
        token=world.owner.token,
    )
    assert entry["data"]["timeEntry"]["rateSnapshotCents"] == 9000
    # Nothing changed: no event, the role left as it was.
    events = len(await changes(gql, world))
    ok(await mutate(gql, UPDATE_MEMBER, {**who, "rateCents": None}, world.admin.token))
    assert len(await changes(gql, world)) == events


async def test_bad_member_inputs_change_nothing(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a")
    other = await make_team(db, "Other", prefix="b")
    admin = world.admin.token
    who = {"teamId": world.id, "userId": world.member.id}
    before = await dump(db)
    for doc, data, code, field in [
        (UPDATE_MEMBER, {**who, "rateCents": -1}, "VALIDATION", ["input", "rateCents"]),
        (UPDATE_MEMBER, {**who, "rateCents": 100_000_001}, "VALIDATION", ["input", "rateCents"]),
        (UPDATE_MEMBER, {**who, "userId": other.member.id}, "NOT_FOUND", ["input", "userId"]),
        (UPDATE_MEMBER, {**who, "userId": "junk"}, "NOT_FOUND", ["input", "userId"]),
        (UPDATE_MEMBER, {**who, "teamId": other.id}, "NOT_FOUND", ["input", "teamId"]),
        (REMOVE, {**who, "teamId": other.id}, "NOT_FOUND", ["input", "teamId"]),
        (REMOVE, {**who, "userId": other.owner.id}, "NOT_FOUND", ["input", "userId"]),
        (REMOVE, {**who, "teamId": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}, "NOT_FOUND", ["input", "teamId"]),
        (ARCHIVE_TEAM, {"id": other.id}, "NOT_FOUND", ["input", "id"]),
        (RESTORE_TEAM, {"id": other.id}, "NOT_FOUND", ["input", "id"]),
        (UPDATE_TASK, {"id": other.tasks["T-1"], "archived": True}, "NOT_FOUND", ["input", "id"]),
    ]:
        refused(await mutate(gql, doc, data, admin), code, field)
    body = await gql(
        UPDATE_MEMBER, {"input": {**who, "rateCents": 1, "idempotencyKey": ""}}, token=admin
    )
    refused(body["data"]["updateTeamMember"], "VALIDATION", ["input", "idempotencyKey"])
    assert await dump(db) == before


async def test_member_changes_are_idempotent(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a")
    data = {"teamId": world.id, "userId": world.member.id, "idempotencyKey": "remove-1"}
    first = ok(await mutate(gql, REMOVE, data, world.admin.token))
    again = ok(await mutate(gql, REMOVE, data, world.admin.token))
    assert first["replayed"] is False and again["replayed"] is True
    assert again["removedUserId"] == world.member.id
    refused(
        await mutate(gql, REMOVE, {**data, "userId": world.admin.id}, world.admin.token),
        "IDEMPOTENCY_CONFLICT",
    )


async def test_archived_task_takes_no_new_time_and_stays_on_entries(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a")
    task = world.tasks["T-1"]
    entry = await log(gql, world, world.member)
    other = await log(gql, world, world.member, task="T-2", startedAt="2025-03-12T09:00:00Z")
    refused(
        await mutate(gql, UPDATE_TASK, {"id": task, "archived": True}, world.member.token),
        "FORBIDDEN",
        ["input", "archived"],
    )
    archived = ok(await mutate(gql, UPDATE_TASK, {"id": task, "archived": True}, world.admin.token))
    assert archived["task"]["archived"] is True and archived["task"]["archivedAt"] is not None
    before = await dump(db)
    refused(
        await mutate(
            gql, LOG, log_input(world, startedAt="2025-03-11T09:00:00Z"), world.member.token
        ),
        "TASK_ARCHIVED",
        ["input", "taskId"],
    )
    refused(
        await mutate(gql, START, {"teamId": world.id, "taskId": task}, world.member.token),
        "TASK_ARCHIVED",
        ["input", "taskId"],
    )
    refused(
        await mutate(gql, START, {"teamId": world.id, "task": {"key": "T-1"}}, world.member.token),
        "TASK_ARCHIVED",
        ["input", "task", "key"],
    )
    refused(
        await mutate(gql, UPDATE, {"id": other["id"], "taskId": task}, world.member.token),
        "TASK_ARCHIVED",
        ["input", "taskId"],
    )
    assert await dump(db) == before
    # Still on its entry, in reports, and in the task lists unless left out.
    read = (
        await gql(
            """query($t: ID!, $e: ID!, $c: ID!) {
          timeEntry(id: $e) { task { id archived } }
          timeReport(filter: {teamId: $t}, groupBy: [TASK]) { buckets { task { id } totalSeconds } }
          team(id: $t) { all: tasks { totalCount } active: tasks(includeArchived: false) {
            totalCount nodes { id } } }
          category(id: $c) { tasks(includeArchived: false) { nodes { id } } } }""",
            {"t": world.id, "e": entry["id"], "c": world.categories["dev"]},
            token=world.member.token,
        )
    )["data"]
    assert read["timeEntry"]["task"] == {"id": task, "archived": True}
    assert {"task": {"id": task}, "totalSeconds": 3600} in read["timeReport"]["buckets"]
    assert read["team"]["all"]["totalCount"] == 2
    assert read["team"]["active"] == {"totalCount": 1, "nodes": [{"id": world.tasks["T-2"]}]}
    assert read["category"]["tasks"]["nodes"] == [{"id": world.tasks["T-2"]}]
    restored = ok(
        await mutate(gql, UPDATE_TASK, {"id": task, "archived": False}, world.admin.token)
    )
    assert restored["task"] == {"id": task, "archived": False, "archivedAt": None}
    await log(gql, world, world.member, startedAt="2025-03-13T09:00:00Z")
    updates = [c for c in await changes(gql, world) if c["subject"] == "TASK"]
    assert [(c["kind"], c["subjectId"]) for c in updates] == [("UPDATED", task)] * 2


async def test_archived_team_is_read_only_until_an_owner_restores_it(
    db: Database, gql: GQL
) -> None:
    world = await make_team(db, "Acme", prefix="a")
    entry = await log(gql, world, world.member)
    running = ok(
        await mutate(
            gql, START, {"teamId": world.id, "taskId": world.tasks["T-2"]}, world.admin.token
        )
    )["timeEntry"]
    refused(await mutate(gql, ARCHIVE_TEAM, {"id": world.id}, world.admin.token), "FORBIDDEN")
    archived = ok(await mutate(gql, ARCHIVE_TEAM, {"id": world.id}, world.owner.token))
    assert archived["team"]["archived"] is True and archived["team"]["archivedAt"] is not None
    assert archived["stoppedEntries"] == [
        {"id": running["id"], "running": False, "user": {"id": world.admin.id}}
    ]
    # Archiving again changes nothing.
    again = ok(await mutate(gql, ARCHIVE_TEAM, {"id": world.id}, world.owner.token))
    assert again["team"] == archived["team"] and again["stoppedEntries"] == []

    before = await dump(db)
    owner, member = world.owner.token, world.member.token
    for doc, data, token, field in [
        (LOG, log_input(world, startedAt="2025-03-11T09:00:00Z"), member, ["input", "teamId"]),
        (LOG, log_input(world, startedAt="2025-03-11T09:00:00Z"), owner, ["input", "teamId"]),
        (START, {"teamId": world.id, "taskId": world.tasks["T-1"]}, member, ["input", "teamId"]),
        (UPDATE, {"id": entry["id"], "description": "x"}, member, ["input", "id"]),
        (DELETE, {"id": entry["id"]}, owner, ["input", "id"]),
        (RESTORE_ENTRY, {"id": entry["id"]}, owner, None),
        (COMMENT, {"timeEntryId": entry["id"], "content": "hi"}, member, ["input", "timeEntryId"]),
        (TRANSITION, {"ids": [entry["id"]], "to": "SUBMITTED"}, member, ["input", "ids", "0"]),
        (LOCK, {"teamId": world.id, "before": "2025-01-01T00:00:00Z"}, owner, ["input", "teamId"]),
        (TASK, {"teamId": world.id, "key": "T-9", "title": "New"}, owner, ["input", "teamId"]),
        (UPDATE_TASK, {"id": world.tasks["T-1"], "archived": True}, owner, ["input", "id"]),
        (UPDATE_TEAM, {"id": world.id, "name": "Renamed"}, owner, ["input", "id"]),
        (MEMBER, {"teamId": world.id, "userId": world.member.id, "role": "ADMIN"}, owner, None),
        (REMOVE, {"teamId": world.id, "userId": world.member.id}, owner, ["input", "teamId"]),
        (
            UPDATE_MEMBER,
            {"teamId": world.id, "userId": world.member.id, "rateCents": 1},
            owner,
            None,
        ),
    ]:
        payload = await mutate(gql, doc, data, token)
        if doc is RESTORE_ENTRY:  # not deleted: that is said first
            refused(payload, "NOT_DELETED")
            continue
        refused(payload, "TEAM_ARCHIVED", field)
    assert await dump(db) == before

    # Its members still read it; `teams` lists it with its archivedAt.
    read = (
        await gql(
            """query($t: ID!) { teams { id archivedAt } team(id: $t) { archived
          timeEntries { totalCount } } }""",
            {"t": world.id},
            token=member,
        )
    )["data"]
    assert read["teams"] == [{"id": world.id, "archivedAt": archived["team"]["archivedAt"]}]
    assert read["team"] == {"archived": True, "timeEntries": {"totalCount": 2}}

    refused(await mutate(gql, RESTORE_TEAM, {"id": world.id}, world.admin.token), "FORBIDDEN")
    restored = ok(await mutate(gql, RESTORE_TEAM, {"id": world.id}, owner))
    assert restored["team"] == {"id": world.id, "archived": False, "archivedAt": None}
    # The team's own changes are events: archiving (once, after the timer it stopped)
    # and restoring.
    team_events = [
        (c["kind"], c["subject"], c["subjectId"])
        for c in await changes(gql, world)
        if c["subject"] == "TEAM" or c["subjectId"] == running["id"]
    ]
    assert team_events == [
        ("STARTED", "ENTRY", running["id"]),
        ("STOPPED", "ENTRY", running["id"]),
        ("UPDATED", "TEAM", world.id),
        ("UPDATED", "TEAM", world.id),
    ]
    await log(gql, world, world.member, startedAt="2025-03-11T09:00:00Z")


async def test_a_change_of_the_teams_settings_is_a_team_event(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a")
    owner = world.owner.token
    ok(await mutate(gql, UPDATE_TEAM, {"id": world.id, "rounding": "CEIL"}, owner))
    # The same value again changes nothing, and is no event.
    ok(await mutate(gql, UPDATE_TEAM, {"id": world.id, "rounding": "CEIL"}, owner))
    assert [(c["kind"], c["subject"], c["subjectId"]) for c in await changes(gql, world)] == [
        ("UPDATED", "TEAM", world.id)
    ]


async def test_restore_time_entry(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a")
    entry = await log(gql, world, world.member)
    deleted = ok(await mutate(gql, DELETE, {"id": entry["id"]}, world.member.token))["timeEntry"]
    assert deleted["version"] == 2 and deleted["deletedAt"] is not None
    restored = ok(
        await mutate(
            gql, RESTORE_ENTRY, {"id": entry["id"], "idempotencyKey": "r1"}, world.member.token
        )
    )
    assert restored["timeEntry"] == {
        "id": entry["id"],
        "version": 3,
        "deletedAt": None,
        "user": {"id": world.member.id},
    }
    replay = ok(
        await mutate(
            gql, RESTORE_ENTRY, {"id": entry["id"], "idempotencyKey": "r1"}, world.member.token
        )
    )
    assert replay["replayed"] is True and replay["timeEntry"]["version"] == 3
    entry_events = [
        (c["kind"], c["version"])
        for c in await changes(gql, world)
        if c["subjectId"] == entry["id"]
    ]
    assert entry_events == [("LOGGED", 1), ("DELETED", 2), ("UPDATED", 3)]
    before = await dump(db)
    refused(
        await mutate(gql, RESTORE_ENTRY, {"id": entry["id"]}, world.member.token),
        "NOT_DELETED",
        ["input", "id"],
    )
    assert await dump(db) == before


async def test_restore_obeys_the_rules_of_deleting_and_creating(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a")
    other = await make_team(db, "Other", prefix="b")
    mine = await log(gql, world, world.member)
    admins = await log(gql, world, world.admin, startedAt="2025-03-11T09:00:00Z")
    submitted = await log(gql, world, world.member, startedAt="2025-03-12T09:00:00Z")
    ok(
        await mutate(
            gql, TRANSITION, {"ids": [submitted["id"]], "to": "SUBMITTED"}, world.member.token
        )
    )
    for e in (mine, admins, submitted):
        ok(await mutate(gql, DELETE, {"id": e["id"]}, world.admin.token))
    foreign = await log(gql, other, other.member)
    ok(await mutate(gql, DELETE, {"id": foreign["id"]}, other.member.token))

    before = await dump(db)
    member = world.member.token
    refused(await mutate(gql, RESTORE_ENTRY, {"id": admins["id"]}, member), "FORBIDDEN")
    refused(await mutate(gql, RESTORE_ENTRY, {"id": submitted["id"]}, member), "ENTRY_LOCKED")
    refused(
        await mutate(gql, RESTORE_ENTRY, {"id": foreign["id"]}, member),
        "NOT_FOUND",
        ["input", "id"],
    )
    refused(await mutate(gql, RESTORE_ENTRY, {"id": "junk"}, member), "NOT_FOUND", ["input", "id"])
    assert await dump(db) == before
    # Inside a locked period: refused, as deleting it would be.
    ok(
        await mutate(
            gql, LOCK, {"teamId": world.id, "before": "2025-03-11T00:00:00Z"}, world.admin.token
        )
    )
    refused(
        await mutate(gql, RESTORE_ENTRY, {"id": mine["id"]}, world.admin.token),
        "ENTRY_LOCKED",
        ["input", "id"],
    )
    # On an archived task: refused, as logging on it would be.
    ok(
        await mutate(
            gql, UPDATE_TASK, {"id": world.tasks["T-1"], "archived": True}, world.admin.token
        )
    )
    refused(
        await mutate(gql, RESTORE_ENTRY, {"id": admins["id"]}, world.admin.token),
        "TASK_ARCHIVED",
        ["input", "id"],
    )
    ok(
        await mutate(
            gql, UPDATE_TASK, {"id": world.tasks["T-1"], "archived": False}, world.admin.token
        )
    )
    # Of a member who left: refused, as logging for a non-member would be.
    ok(
        await mutate(
            gql, REMOVE, {"teamId": world.id, "userId": world.member.id}, world.admin.token
        )
    )
    refused(
        await mutate(gql, RESTORE_ENTRY, {"id": submitted["id"]}, world.admin.token),
        "VALIDATION",
        ["input", "id"],
    )
    # An admin restores any other entry in the open period.
    restored = ok(await mutate(gql, RESTORE_ENTRY, {"id": admins["id"]}, world.owner.token))
    assert restored["timeEntry"]["deletedAt"] is None and restored["timeEntry"]["version"] == 3

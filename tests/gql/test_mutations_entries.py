"""logTimeEntry, updateTimeEntry, deleteTimeEntry, addComment on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from store.db import Database
from store.ids import new_id
from tests.conftest import GQL
from tests.factories import make_team
from tests.gql.mutation_helpers import COMMENT, DELETE, LOG, UPDATE, mutate, ok, refused


async def test_log_time_entry_with_every_length_form(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a", time_zone="Europe/Berlin")
    base = {
        "teamId": world.id,
        "taskId": world.tasks["T-2"],
        "startedAt": "2025-03-10T09:00:00+01:00",
    }
    cases = [
        ({"durationSeconds": 5400}, 5400),
        ({"minutes": 90}, 5400),
        ({"hours": "2.5"}, 9000),
        ({"duration": "1h 30m"}, 5400),
        ({"duration": "1:30:15"}, 5415),
        ({"stoppedAt": "2025-03-10T08:45:00Z"}, 2700),
        ({"durationSeconds": 60, "minutes": 90, "duration": "3h"}, 60),  # first wins
    ]
    for extra, seconds in cases:
        payload = ok(await mutate(gql, LOG, {**base, **extra}, world.member.token))
        entry = payload["timeEntry"]
        assert entry["durationSeconds"] == seconds, extra
        assert entry["startedAt"] == "2025-03-10T08:00:00Z"
        assert entry["stoppedAt"] == (
            datetime(2025, 3, 10, 8, tzinfo=UTC) + timedelta(seconds=seconds)
        ).isoformat().replace("+00:00", "Z")
        assert (
            entry["running"] is False
            and entry["status"] == "DRAFT"
            and entry["inputType"] == "MANUAL"
        )
        assert payload["replayed"] is False


async def test_work_date_starts_at_nine_team_time(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a", time_zone="America/New_York")
    entry = ok(
        await mutate(
            gql,
            LOG,
            {
                "teamId": world.id,
                "categoryId": world.categories["dev"],
                "workDate": "2025-07-04",
                "minutes": 30,
            },
            world.member.token,
        )
    )["timeEntry"]
    assert entry["startedAt"] == "2025-07-04T13:00:00Z"  # 09:00 EDT
    assert entry["workDate"] == "2025-07-04" and entry["scopeType"] == "CATEGORY"
    assert entry["category"]["key"] == "dev" and entry["task"] is None


async def test_billable_and_rate_defaults(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a", default_rate_cents=5000, default_billable=True)
    log = {"teamId": world.id, "startedAt": "2025-03-10T09:00:00Z", "minutes": 60}
    # T-1 lies under "api" (billable False): nearest category decides; member rate 9000 wins.
    e = ok(await mutate(gql, LOG, {**log, "taskId": world.tasks["T-1"]}, world.member.token))[
        "timeEntry"
    ]
    assert e["billable"] is False and e["rateSnapshotCents"] == 9000 and e["amountCents"] == 0
    # T-2 under "dev" (no billable set): the team default; owner has no member rate: team rate.
    e = ok(await mutate(gql, LOG, {**log, "taskId": world.tasks["T-2"]}, world.owner.token))[
        "timeEntry"
    ]
    assert e["billable"] is True and e["rateSnapshotCents"] == 5000 and e["amountCents"] == 5000
    # Explicit billable wins over the category.
    e = ok(
        await mutate(
            gql, LOG, {**log, "taskId": world.tasks["T-1"], "billable": True}, world.member.token
        )
    )
    assert e["timeEntry"]["billable"] is True and e["timeEntry"]["amountCents"] == 9000


async def test_client_supplied_id_is_permanent(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a")
    entry_id = new_id()
    log = {
        "id": entry_id,
        "teamId": world.id,
        "taskId": world.tasks["T-2"],
        "startedAt": "2025-03-10T09:00:00Z",
        "duration": "45m",
        "description": "secret plan",
    }
    first = ok(await mutate(gql, LOG, log, world.member.token))
    assert first["timeEntry"]["id"] == entry_id and first["replayed"] is False
    again = ok(await mutate(gql, LOG, log, world.member.token))
    assert again["replayed"] is True and again["timeEntry"] == first["timeEntry"]
    other_input = await mutate(gql, LOG, {**log, "duration": "50m"}, world.member.token)
    refused(other_input, "IDEMPOTENCY_CONFLICT", ["input", "id"])
    assert other_input["timeEntry"] is None
    other_user = await mutate(gql, LOG, log, world.admin.token)
    error = refused(other_user, "IDEMPOTENCY_CONFLICT", ["input", "id"])
    assert "secret" not in str(other_user) and other_user["timeEntry"] is None and error


async def test_idempotency_key_replays_and_conflicts(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a")
    log = {
        "teamId": world.id,
        "taskId": world.tasks["T-2"],
        "startedAt": "2025-03-10T09:00:00Z",
        "duration": "45m",
        "idempotencyKey": "k-1",
    }
    first = ok(await mutate(gql, LOG, log, world.member.token))
    again = ok(await mutate(gql, LOG, log, world.member.token))
    assert again["replayed"] is True and again["timeEntry"]["id"] == first["timeEntry"]["id"]
    refused(
        await mutate(gql, LOG, {**log, "duration": "1h"}, world.member.token),
        "IDEMPOTENCY_CONFLICT",
        ["input", "idempotencyKey"],
    )
    # Keys are per viewer: another user's same key is a fresh request.
    theirs = ok(await mutate(gql, LOG, log, world.admin.token))
    assert theirs["replayed"] is False and theirs["timeEntry"]["id"] != first["timeEntry"]["id"]
    # Keys are per mutation name too.
    assert (
        await gql(
            "query($f: TimeEntryFilter!) { timeEntries(filter: $f) { totalCount } }",
            {"f": {"teamId": world.id}},
            token=world.member.token,
        )
    )["data"]["timeEntries"]["totalCount"] == 2
    refused(
        await mutate(gql, LOG, {**log, "idempotencyKey": ""}, world.member.token),
        "VALIDATION",
        ["input", "idempotencyKey"],
    )
    refused(
        await mutate(gql, LOG, {**log, "idempotencyKey": "x" * 256}, world.member.token),
        "VALIDATION",
        ["input", "idempotencyKey"],
    )


async def test_expired_idempotency_keys_are_purged_and_run_again(db: Database, gql: GQL) -> None:
    from sqlmodel import select

    from store import idempotency
    from store.models import IdempotencyRecord

    world = await make_team(db, "Acme", prefix="a")
    log = {
        "teamId": world.id,
        "taskId": world.tasks["T-2"],
        "startedAt": "2025-03-10T09:00:00Z",
        "duration": "45m",
        "idempotencyKey": "old",
    }
    first = ok(await mutate(gql, LOG, log, world.member.token))
    async with db.write() as s:
        record = (await s.exec(select(IdempotencyRecord))).one()
        record.expires_at = datetime.now(UTC) - timedelta(seconds=1)
        s.add(record)
        await s.commit()
    again = ok(await mutate(gql, LOG, log, world.member.token))
    assert again["replayed"] is False and again["timeEntry"]["id"] != first["timeEntry"]["id"]
    async with db.write() as s:
        record = (await s.exec(select(IdempotencyRecord))).one()
        record.expires_at = datetime.now(UTC) - timedelta(seconds=1)
        s.add(record)
        await s.commit()
        assert await idempotency.purge_expired(s, now=datetime.now(UTC)) == 1
        await s.commit()
        assert (await s.exec(select(IdempotencyRecord))).all() == []


async def test_external_ref_upserts(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a")
    ref = {"provider": "jira", "externalType": "worklog", "externalId": "42"}
    log = {
        "teamId": world.id,
        "taskId": world.tasks["T-2"],
        "startedAt": "2025-03-10T09:00:00Z",
        "duration": "45m",
        "externalRef": ref,
    }
    first = ok(await mutate(gql, LOG, log, world.member.token))["timeEntry"]
    second = ok(
        await mutate(gql, LOG, {**log, "duration": "2h", "description": "more"}, world.member.token)
    )["timeEntry"]
    assert (
        second["id"] == first["id"] and second["durationSeconds"] == 7200 and second["version"] == 2
    )
    assert second["externalRef"] == ref and second["description"] == "more"
    count = await gql(
        "query($f: TimeEntryFilter!) { timeEntries(filter: $f) { totalCount } }",
        {"f": {"teamId": world.id}},
        token=world.member.token,
    )
    assert count["data"]["timeEntries"]["totalCount"] == 1


async def test_update_with_expected_version(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a")
    entry = ok(
        await mutate(
            gql,
            LOG,
            {
                "teamId": world.id,
                "taskId": world.tasks["T-2"],
                "startedAt": "2025-03-10T09:00:00Z",
                "duration": "45m",
            },
            world.member.token,
        )
    )["timeEntry"]
    updated = ok(
        await mutate(
            gql,
            UPDATE,
            {
                "id": entry["id"],
                "expectedVersion": 1,
                "duration": "1h",
                "description": "edited",
                "taskId": world.tasks["T-1"],
            },
            world.member.token,
        )
    )
    e = updated["timeEntry"]
    assert e["version"] == 2 and e["durationSeconds"] == 3600 and e["description"] == "edited"
    assert e["task"]["key"] == "T-1" and e["stoppedAt"] == "2025-03-10T10:00:00Z"
    stale = await mutate(
        gql, UPDATE, {"id": entry["id"], "expectedVersion": 1, "duration": "2h"}, world.member.token
    )
    refused(stale, "VERSION_CONFLICT", ["input", "expectedVersion"])
    moved = ok(
        await mutate(
            gql,
            UPDATE,
            {"id": entry["id"], "startedAt": "2025-03-11T09:00:00Z"},
            world.member.token,
        )
    )
    assert (
        moved["timeEntry"]["durationSeconds"] == 3600
        and moved["timeEntry"]["stoppedAt"] == "2025-03-11T10:00:00Z"
    )
    cleared = ok(
        await mutate(gql, UPDATE, {"id": entry["id"], "description": None}, world.member.token)
    )
    assert cleared["timeEntry"]["description"] is None and cleared["timeEntry"]["version"] == 4


async def test_members_change_only_their_own_entries(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a")
    entry = ok(
        await mutate(
            gql,
            LOG,
            {
                "teamId": world.id,
                "taskId": world.tasks["T-2"],
                "startedAt": "2025-03-10T09:00:00Z",
                "duration": "45m",
            },
            world.admin.token,
        )
    )["timeEntry"]
    refused(
        await mutate(gql, UPDATE, {"id": entry["id"], "duration": "1h"}, world.member.token),
        "FORBIDDEN",
    )
    refused(await mutate(gql, DELETE, {"id": entry["id"]}, world.member.token), "FORBIDDEN")
    ok(await mutate(gql, UPDATE, {"id": entry["id"], "duration": "1h"}, world.owner.token))
    # Logging for someone else is for admins.
    for_member = {
        "teamId": world.id,
        "userId": world.member.id,
        "taskId": world.tasks["T-2"],
        "startedAt": "2025-03-10T09:00:00Z",
        "duration": "45m",
    }
    assert (
        ok(await mutate(gql, LOG, for_member, world.admin.token))["timeEntry"]["user"]["id"]
        == world.member.id
    )
    refused(
        await mutate(gql, LOG, {**for_member, "userId": world.admin.id}, world.member.token),
        "FORBIDDEN",
        ["input", "userId"],
    )


async def test_soft_delete_stays_in_the_sync_feed(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a")
    entry = ok(
        await mutate(
            gql,
            LOG,
            {
                "teamId": world.id,
                "taskId": world.tasks["T-2"],
                "startedAt": "2025-03-10T09:00:00Z",
                "duration": "45m",
            },
            world.member.token,
        )
    )["timeEntry"]
    deleted = ok(await mutate(gql, DELETE, {"id": entry["id"]}, world.member.token))["timeEntry"]
    assert deleted["deletedAt"] is not None and deleted["version"] == 2
    again = ok(await mutate(gql, DELETE, {"id": entry["id"]}, world.member.token))["timeEntry"]
    assert again["version"] == 2  # deleting twice changes nothing
    body = await gql(
        "query($f: TimeEntryFilter!) { timeEntries(filter: $f) { nodes { id deletedAt } } }",
        {"f": {"teamId": world.id, "includeDeleted": True}},
        token=world.member.token,
    )
    assert body["data"]["timeEntries"]["nodes"] == [
        {"id": entry["id"], "deletedAt": deleted["deletedAt"]}
    ]
    refused(
        await mutate(gql, UPDATE, {"id": entry["id"], "duration": "1h"}, world.member.token),
        "NOT_FOUND",
    )


async def test_add_comment(db: Database, gql: GQL) -> None:
    world = await make_team(db, "Acme", prefix="a")
    entry = ok(
        await mutate(
            gql,
            LOG,
            {
                "teamId": world.id,
                "taskId": world.tasks["T-2"],
                "startedAt": "2025-03-10T09:00:00Z",
                "duration": "45m",
            },
            world.member.token,
        )
    )["timeEntry"]
    payload = ok(
        await mutate(
            gql, COMMENT, {"timeEntryId": entry["id"], "content": "Looks right"}, world.admin.token
        )
    )
    assert (
        payload["comment"]["content"] == "Looks right"
        and payload["comment"]["user"]["id"] == world.admin.id
    )
    assert payload["timeEntry"]["id"] == entry["id"]
    refused(
        await mutate(gql, COMMENT, {"timeEntryId": entry["id"], "content": ""}, world.admin.token),
        "VALIDATION",
        ["input", "content"],
    )
    refused(
        await mutate(
            gql, COMMENT, {"timeEntryId": entry["id"], "content": "x" * 10_001}, world.admin.token
        ),
        "VALIDATION",
        ["input", "content"],
    )
    ok(
        await mutate(
            gql, COMMENT, {"timeEntryId": entry["id"], "content": "x" * 10_000}, world.admin.token
        )
    )
    other = await make_team(db, "Other", prefix="b")
    refused(
        await mutate(
            gql, COMMENT, {"timeEntryId": entry["id"], "content": "hi"}, other.member.token
        ),
        "NOT_FOUND",
    )

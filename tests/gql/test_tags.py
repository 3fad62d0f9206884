"""Tags (issue 20, item 1): ``createTag``/``updateTag``/``archiveTag``/``restoreTag``,
``Team.tags``, ``TimeEntry.tags``, ``tagIds`` on log, start and update, the copies, the
filters (``tagIds`` with ``tagMatch``, ``untagged``) of pages, reports and the CSV export,
and ``timeReport`` grouped by TAG. Every test runs on SQLite and PostgreSQL; the races on
PostgreSQL only (real concurrent transactions)."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func
from sqlmodel import select

from store import tags
from store.db import Database
from store.events import Subject
from store.ids import new_id
from store.models import EntryTag, Tag, TimeEntry
from store.tag_rules import TagMatch, tag_match, tag_match_sql, untagged, untagged_sql
from tests.conftest import GQL
from tests.factories import TeamWorld, make_team
from tests.gql.mutation_helpers import ERRORS, mutate, ok, refused

TAG_FIELDS = "id name color archived archivedAt team { id }"
CREATE = f"""mutation($input: CreateTagInput!) {{ createTag(input: $input) {{
  replayed {ERRORS} tag {{ {TAG_FIELDS} }} }} }}"""
UPDATE_TAG = f"""mutation($input: UpdateTagInput!) {{ updateTag(input: $input) {{
  replayed {ERRORS} tag {{ {TAG_FIELDS} }} }} }}"""
ARCHIVE = f"""mutation($input: ArchiveTagInput!) {{ archiveTag(input: $input) {{
  replayed {ERRORS} tag {{ {TAG_FIELDS} }} }} }}"""
RESTORE = f"""mutation($input: ArchiveTagInput!) {{ restoreTag(input: $input) {{
  replayed {ERRORS} tag {{ {TAG_FIELDS} }} }} }}"""
TEAM_TAGS = """query($t: ID!, $all: Boolean!) { team(id: $t) {
  tags(includeArchived: $all) { id name archived } } }"""
ENTRY = "id version tags { id name archived }"
LOG = f"""mutation($input: LogTimeEntryInput!) {{ logTimeEntry(input: $input) {{
  replayed {ERRORS} timeEntry {{ {ENTRY} }} }} }}"""
START = f"""mutation($input: StartTimerInput!) {{ startTimer(input: $input) {{
  {ERRORS} timeEntry {{ {ENTRY} }} }} }}"""
UPDATE = f"""mutation($input: UpdateTimeEntryInput!) {{ updateTimeEntry(input: $input) {{
  {ERRORS} timeEntry {{ {ENTRY} }} }} }}"""
CONTINUE = f"""mutation($input: ContinueTimeEntryInput!) {{ continueTimeEntry(input: $input) {{
  {ERRORS} timeEntry {{ {ENTRY} }} }} }}"""
DUPLICATE = f"""mutation($input: DuplicateTimeEntryInput!) {{ duplicateTimeEntry(input: $input) {{
  {ERRORS} timeEntry {{ {ENTRY} }} }} }}"""
PAGE = """query($f: TimeEntryFilter!) { timeEntries(filter: $f, first: 100) {
  totalCount nodes { id tags { id } } } }"""
REPORT = """query($f: TimeEntryFilter!, $g: [GroupBy!]!) { timeReport(filter: $f, groupBy: $g) {
  buckets { tag { id name } user { id } totalSeconds entryCount runningCount }
  totals { totalSeconds entryCount } } }"""
CHANGES = """query($team: ID!) { teamChanges(teamId: $team) { nodes { kind subject subjectId
  tag { id name } } } }"""
DAY = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)


@pytest.fixture
async def world(db: Database) -> TeamWorld:
    return await make_team(db, "Acme", prefix="a")


async def _data(gql: GQL, doc: str, variables: dict[str, Any], token: str) -> Any:
    body = await gql(doc, variables, token=token)
    assert body.get("errors") is None, body["errors"]
    return body["data"]


async def add_tag(gql: GQL, w: TeamWorld, name: str, **extra: Any) -> str:
    payload = ok(await mutate(gql, CREATE, {"teamId": w.id, "name": name, **extra}, w.admin.token))
    return str(payload["tag"]["id"])


async def _tag_rows(db: Database) -> list[tuple[str, str, bool]]:
    async with db.read() as s:
        rows = (await s.exec(select(Tag).order_by(Tag.name_key))).all()
    return [(r.name, r.team_id, r.archived_at is not None) for r in rows]


async def _entry_tags(db: Database) -> list[tuple[str, str]]:
    async with db.read() as s:
        rows = (await s.exec(select(EntryTag).order_by(EntryTag.entry_id, EntryTag.tag_id))).all()
    return [(r.entry_id, r.tag_id) for r in rows]


async def _entry_count(db: Database) -> int:
    async with db.read() as s:
        return int((await s.exec(select(func.count()).select_from(TimeEntry))).one())


def _log(w: TeamWorld, at: datetime = DAY, **extra: Any) -> dict[str, Any]:
    return {
        "teamId": w.id,
        "taskId": w.tasks["T-1"],
        "startedAt": at.isoformat(),
        "durationSeconds": 1800,
        **extra,
    }


# --- managing tags -----------------------------------------------------------------------


async def test_admins_create_rename_archive_and_restore_tags(gql: GQL, world: TeamWorld) -> None:
    w = world
    created = ok(
        await mutate(
            gql,
            CREATE,
            {"teamId": w.id, "name": "  Urgent ", "color": 0xFF0000, "idempotencyKey": "k1"},
            w.admin.token,
        )
    )
    tag = created["tag"]
    assert tag["name"] == "Urgent" and tag["color"] == 0xFF0000 and tag["archived"] is False
    assert tag["team"]["id"] == w.id
    # The owner manages tags too; the same key replays without a second tag.
    replay = ok(
        await mutate(
            gql,
            CREATE,
            {"teamId": w.id, "name": "  Urgent ", "color": 0xFF0000, "idempotencyKey": "k1"},
            w.admin.token,
        )
    )
    assert replay["replayed"] is True and replay["tag"]["id"] == tag["id"]
    await add_tag(gql, w, "backlog")
    ok(await mutate(gql, CREATE, {"teamId": w.id, "name": "Zeta"}, w.owner.token))
    data = await _data(gql, TEAM_TAGS, {"t": w.id, "all": False}, w.member.token)
    assert [t["name"] for t in data["team"]["tags"]] == ["backlog", "Urgent", "Zeta"]

    renamed = ok(
        await mutate(
            gql, UPDATE_TAG, {"id": tag["id"], "name": "Hot", "color": None}, w.admin.token
        )
    )
    assert renamed["tag"]["name"] == "Hot" and renamed["tag"]["color"] is None
    archived = ok(await mutate(gql, ARCHIVE, {"id": tag["id"]}, w.admin.token))["tag"]
    assert archived["archived"] is True and archived["archivedAt"] is not None
    again = ok(await mutate(gql, ARCHIVE, {"id": tag["id"]}, w.admin.token))["tag"]
    assert again["archivedAt"] == archived["archivedAt"]  # archiving twice changes nothing
    data = await _data(gql, TEAM_TAGS, {"t": w.id, "all": False}, w.member.token)
    assert [t["name"] for t in data["team"]["tags"]] == ["backlog", "Zeta"]
    data = await _data(gql, TEAM_TAGS, {"t": w.id, "all": True}, w.member.token)
    assert [(t["name"], t["archived"]) for t in data["team"]["tags"]] == [
        ("backlog", False),
        ("Hot", True),
        ("Zeta", False),
    ]
    restored = ok(await mutate(gql, RESTORE, {"id": tag["id"]}, w.admin.token))["tag"]
    assert restored["archived"] is False and restored["archivedAt"] is None
    # Each change is a TAG event of the team's feed (create, rename, archive, restore;
    # the repeated archive wrote none).
    changes = (await _data(gql, CHANGES, {"team": w.id}, w.member.token))["teamChanges"]
    ours = [(c["kind"], c["tag"]["name"]) for c in changes["nodes"] if c["subjectId"] == tag["id"]]
    assert ours == [("CREATED", "Hot"), ("UPDATED", "Hot"), ("UPDATED", "Hot"), ("UPDATED", "Hot")]
    assert {c["subject"] for c in changes["nodes"]} == {Subject.TAG.value}


async def test_members_may_not_manage_tags_and_outsiders_see_nothing(
    db: Database, gql: GQL, world: TeamWorld
) -> None:
    w = world
    other = await make_team(db, "Other", prefix="o")
    tag = await add_tag(gql, w, "Urgent")
    before = await _tag_rows(db)
    refused(
        await mutate(gql, CREATE, {"teamId": w.id, "name": "Mine"}, w.member.token),
        "FORBIDDEN",
        ["input", "teamId"],
    )
    for doc, extra in ((UPDATE_TAG, {"name": "Mine"}), (ARCHIVE, {}), (RESTORE, {})):
        refused(
            await mutate(gql, doc, {"id": tag, **extra}, w.member.token),
            "FORBIDDEN",
            ["input", "id"],
        )
        # Another team's admin: as if the tag did not exist.
        refused(
            await mutate(gql, doc, {"id": tag, **extra}, other.admin.token),
            "NOT_FOUND",
            ["input", "id"],
        )
    refused(
        await mutate(gql, CREATE, {"teamId": w.id, "name": "X"}, other.admin.token),
        "NOT_FOUND",
        ["input", "teamId"],
    )
    refused(
        await mutate(gql, UPDATE_TAG, {"id": "nope", "name": "X"}, w.admin.token),
        "NOT_FOUND",
        ["input", "id"],
    )
    assert await _tag_rows(db) == before
    data = await _data(gql, TEAM_TAGS, {"t": w.id, "all": True}, other.admin.token)
    assert data["team"] is None
    node = await _data(
        gql, "query($id: ID!) { node(id: $id) { id } }", {"id": tag}, other.admin.token
    )
    assert node["node"] is None
    node = await _data(
        gql,
        "query($id: ID!) { node(id: $id) { ... on Tag { name } } }",
        {"id": tag},
        w.member.token,
    )
    assert node["node"] == {"name": "Urgent"}


@pytest.mark.parametrize(
    ("name", "color", "field"),
    [
        ("", None, "name"),
        ("   ", None, "name"),
        ("x" * (tags.MAX_NAME + 1), None, "name"),
        ("urgent", None, "name"),  # "Urgent" exists: names are the same in any case
        ("ÄRGER", None, "name"),  # "ärger" exists: Unicode case too, on both databases
        ("Fine", -1, "color"),
        ("Fine", 0x1000000, "color"),
    ],
)
async def test_bad_tag_inputs_are_coded_and_change_nothing(
    db: Database, gql: GQL, world: TeamWorld, name: str, color: int | None, field: str
) -> None:
    w = world
    await add_tag(gql, w, "Urgent")
    await add_tag(gql, w, "ärger")
    renamed = await add_tag(gql, w, "other")
    before = await _tag_rows(db)
    refused(
        await mutate(gql, CREATE, {"teamId": w.id, "name": name, "color": color}, w.admin.token),
        "VALIDATION",
        ["input", field],
    )
    refused(
        await mutate(gql, UPDATE_TAG, {"id": renamed, "name": name, "color": color}, w.admin.token),
        "VALIDATION",
        ["input", field],
    )
    assert await _tag_rows(db) == before
    # A name of exactly MAX_NAME characters is taken, trimmed.
    ok(await mutate(gql, CREATE, {"teamId": w.id, "name": "y" * tags.MAX_NAME}, w.admin.token))


async def test_an_archived_name_is_free_and_restoring_it_then_is_refused(
    db: Database, gql: GQL, world: TeamWorld
) -> None:
    w = world
    old = await add_tag(gql, w, "Urgent")
    ok(await mutate(gql, ARCHIVE, {"id": old}, w.admin.token))
    new = await add_tag(gql, w, "URGENT")
    before = await _tag_rows(db)
    refused(await mutate(gql, RESTORE, {"id": old}, w.admin.token), "VALIDATION", ["input", "id"])
    assert await _tag_rows(db) == before
    # Renaming the archived one is allowed (it holds no live name); then it restores.
    ok(await mutate(gql, UPDATE_TAG, {"id": old, "name": "urgent"}, w.admin.token))
    ok(await mutate(gql, ARCHIVE, {"id": new}, w.admin.token))
    assert ok(await mutate(gql, RESTORE, {"id": old}, w.admin.token))["tag"]["archived"] is False


# --- tags on entries ---------------------------------------------------------------------


async def test_log_and_start_put_tags_on_entries(db: Database, gql: GQL, world: TeamWorld) -> None:
    w = world
    b, a = await add_tag(gql, w, "billing"), await add_tag(gql, w, "Api")
    logged = ok(await mutate(gql, LOG, _log(w, tagIds=[b, a, b.lower()]), w.member.token))
    entry = logged["timeEntry"]
    # Repeats (in any case) count once; by name in any case.
    assert [t["name"] for t in entry["tags"]] == ["Api", "billing"]
    assert entry["version"] == 1
    started = ok(
        await mutate(
            gql, START, {"teamId": w.id, "taskId": w.tasks["T-2"], "tagIds": [a]}, w.member.token
        )
    )
    assert [t["id"] for t in started["timeEntry"]["tags"]] == [a]
    untagged_entry = ok(await mutate(gql, LOG, _log(w, DAY - timedelta(hours=2)), w.member.token))
    assert untagged_entry["timeEntry"]["tags"] == []
    assert sorted(await _entry_tags(db)) == sorted(
        [(entry["id"], a), (entry["id"], b), (started["timeEntry"]["id"], a)]
    )


async def test_bad_tag_ids_on_a_log_are_coded_and_log_nothing(
    db: Database, gql: GQL, world: TeamWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = world
    other = await make_team(db, "Other", prefix="o")
    live = await add_tag(gql, w, "live")
    gone = await add_tag(gql, w, "gone")
    ok(await mutate(gql, ARCHIVE, {"id": gone}, w.admin.token))
    foreign = ok(
        await mutate(gql, CREATE, {"teamId": other.id, "name": "theirs"}, other.admin.token)
    )["tag"]["id"]
    monkeypatch.setattr(tags, "MAX_PER_ENTRY", 3)
    many = [await add_tag(gql, w, f"t{i}") for i in range(4)]
    cases: list[tuple[list[str], str, list[str]]] = [
        ([live, new_id()], "NOT_FOUND", ["input", "tagIds", "1"]),
        ([live, "not-an-id"], "NOT_FOUND", ["input", "tagIds", "1"]),
        ([foreign], "NOT_FOUND", ["input", "tagIds", "0"]),
        ([live, gone], "TAG_ARCHIVED", ["input", "tagIds", "1"]),
        (many, "VALIDATION", ["input", "tagIds"]),
    ]
    for ids, code, field in cases:
        for doc, data in (
            (LOG, _log(w, tagIds=ids)),
            (START, {"teamId": w.id, "taskId": w.tasks["T-1"], "tagIds": ids}),
        ):
            refused(await mutate(gql, doc, data, w.member.token), code, field)
    assert await _entry_count(db) == 0
    assert await _entry_tags(db) == []
    # Three distinct tags, one of them twice, are within the limit of three.
    ok(await mutate(gql, LOG, _log(w, tagIds=[*many[:3], many[0]]), w.member.token))


async def test_update_sets_tags_and_a_change_of_tags_is_a_change(
    db: Database, gql: GQL, world: TeamWorld
) -> None:
    w = world
    a, b, c = [await add_tag(gql, w, n) for n in ("a", "b", "c")]
    entry = ok(await mutate(gql, LOG, _log(w, tagIds=[a]), w.member.token))["timeEntry"]
    me = w.member.token

    async def update(**extra: Any) -> dict[str, Any]:
        return ok(await mutate(gql, UPDATE, {"id": entry["id"], **extra}, me))["timeEntry"]

    changed = await update(tagIds=[a, b])
    assert [t["id"] for t in changed["tags"]] == [a, b] and changed["version"] == 2
    # Left out or null: unchanged, and no new version; the same set again: no change.
    assert (await update(description="x"))["tags"] == changed["tags"]
    same = await update(tagIds=None, description="x")
    assert same["version"] == 3 and same["tags"] == changed["tags"]
    assert (await update(tagIds=[b, a]))["version"] == 3
    # An archived tag the entry has may stay; a newly archived one may not be added.
    ok(await mutate(gql, ARCHIVE, {"id": b}, w.admin.token))
    ok(await mutate(gql, ARCHIVE, {"id": c}, w.admin.token))
    kept = await update(tagIds=[b])
    assert [(t["id"], t["archived"]) for t in kept["tags"]] == [(b, True)]
    assert kept["version"] == 4
    refused(
        await mutate(gql, UPDATE, {"id": entry["id"], "tagIds": [b, c]}, me),
        "TAG_ARCHIVED",
        ["input", "tagIds", "1"],
    )
    # [] removes them all; b, archived and gone from the entry, cannot come back.
    cleared = await update(tagIds=[])
    assert cleared["tags"] == [] and cleared["version"] == 5
    refused(
        await mutate(gql, UPDATE, {"id": entry["id"], "tagIds": [b]}, me),
        "TAG_ARCHIVED",
        ["input", "tagIds", "0"],
    )
    assert await _entry_tags(db) == []
    changes = (await _data(gql, CHANGES, {"team": w.id}, me))["teamChanges"]["nodes"]
    updated = [c for c in changes if c["subjectId"] == entry["id"] and c["kind"] == "UPDATED"]
    assert len(updated) == 4  # versions 2 to 5, one event each


async def test_continue_and_duplicate_copy_the_live_tags(gql: GQL, world: TeamWorld) -> None:
    w = world
    a, b = await add_tag(gql, w, "a"), await add_tag(gql, w, "b")
    source = ok(await mutate(gql, LOG, _log(w, tagIds=[a, b]), w.member.token))["timeEntry"]
    ok(await mutate(gql, ARCHIVE, {"id": b}, w.admin.token))
    copy = ok(
        await mutate(
            gql,
            DUPLICATE,
            {"id": source["id"], "startedAt": (DAY - timedelta(days=1)).isoformat()},
            w.admin.token,
        )
    )["timeEntry"]
    assert [t["id"] for t in copy["tags"]] == [a]  # the archived tag is left off
    continued = ok(await mutate(gql, CONTINUE, {"id": source["id"]}, w.member.token))["timeEntry"]
    assert [t["id"] for t in continued["tags"]] == [a]
    # The source keeps both.
    page = await _data(gql, PAGE, {"f": {"teamId": w.id, "tagIds": [b]}}, w.member.token)
    assert [n["id"] for n in page["timeEntries"]["nodes"]] == [source["id"]]


# --- filters and reports -----------------------------------------------------------------


async def _tagged_scene(gql: GQL, w: TeamWorld) -> tuple[dict[str, str], dict[str, str]]:
    """Tags x, y, z (z archived afterwards) and entries: e_x, e_xy, e_yz, e_none; e_xy is
    the admin's, the others the member's."""
    t = {n: await add_tag(gql, w, n) for n in ("x", "y", "z")}
    specs = {
        "e_x": ([t["x"]], w.member.token, 600),
        "e_xy": ([t["x"], t["y"]], w.admin.token, 1200),
        "e_yz": ([t["y"], t["z"]], w.member.token, 1800),
        "e_none": ([], w.member.token, 2400),
    }
    e = {}
    for i, (name, (ids, token, seconds)) in enumerate(specs.items()):
        data = _log(w, DAY - timedelta(hours=i), tagIds=ids, durationSeconds=seconds)
        e[name] = ok(await mutate(gql, LOG, data, token))["timeEntry"]["id"]
    ok(await mutate(gql, ARCHIVE, {"id": t["z"]}, w.admin.token))
    return t, e


async def test_filters_any_all_and_untagged(db: Database, gql: GQL, world: TeamWorld) -> None:
    w = world
    t, e = await _tagged_scene(gql, w)

    async def found(**f: Any) -> set[str]:
        data = await _data(gql, PAGE, {"f": {"teamId": w.id, **f}}, w.member.token)
        conn = data["timeEntries"]
        ids = {n["id"] for n in conn["nodes"]}
        assert conn["totalCount"] == len(ids)
        return {k for k, v in e.items() if v in ids}

    assert await found(tagIds=[t["x"]]) == {"e_x", "e_xy"}
    assert await found(tagIds=[t["x"], t["z"]]) == {"e_x", "e_xy", "e_yz"}
    assert await found(tagIds=[t["x"], t["z"]], tagMatch="ANY") == {"e_x", "e_xy", "e_yz"}
    assert await found(tagIds=[t["x"], t["y"]], tagMatch="ALL") == {"e_xy"}
    assert await found(tagIds=[t["z"]], tagMatch="ALL") == {"e_yz"}  # archived: still found
    assert await found(tagIds=[t["x"], t["x"]], tagMatch="ALL") == {"e_x", "e_xy"}
    assert await found(tagIds=[t["x"], new_id()], tagMatch="ALL") == set()
    assert await found(tagIds=[]) == set()
    assert await found(untagged=True) == {"e_none"}
    assert await found(untagged=False) == {"e_x", "e_xy", "e_yz"}
    assert await found(untagged=True, tagIds=[t["x"]]) == set()
    assert await found(tagIds=[t["y"]], userId=w.member.id) == {"e_yz"}
    # Another team's tag id matches nothing of this team.
    other = await make_team(db, "Other", prefix="o")
    theirs = ok(await mutate(gql, CREATE, {"teamId": other.id, "name": "x"}, other.admin.token))
    assert await found(tagIds=[theirs["tag"]["id"]]) == set()


async def test_report_grouped_by_tag_counts_an_entry_in_each_of_its_tags_once_in_totals(
    gql: GQL, world: TeamWorld
) -> None:
    w = world
    t, _e = await _tagged_scene(gql, w)
    data = await _data(gql, REPORT, {"f": {"teamId": w.id}, "g": ["TAG"]}, w.member.token)
    report = data["timeReport"]
    buckets = {
        (b["tag"] or {}).get("name"): (b["totalSeconds"], b["entryCount"])
        for b in report["buckets"]
    }
    assert buckets == {
        "x": (600 + 1200, 2),
        "y": (1200 + 1800, 2),
        "z": (1800, 1),  # archived, still its bucket
        None: (2400, 1),
    }
    # The null tag's bucket comes last; totals count each entry once.
    assert report["buckets"][-1]["tag"] is None
    assert report["totals"] == {"totalSeconds": 600 + 1200 + 1800 + 2400, "entryCount": 4}
    # With another key, and with a tag filter.
    data = await _data(
        gql,
        REPORT,
        {"f": {"teamId": w.id, "tagIds": [t["y"]]}, "g": ["USER", "TAG"]},
        w.member.token,
    )
    report = data["timeReport"]
    got = sorted(
        (b["user"]["id"], b["tag"]["name"] if b["tag"] else None, b["totalSeconds"])
        for b in report["buckets"]
    )
    assert got == sorted(
        [
            (w.admin.id, "x", 1200),
            (w.admin.id, "y", 1200),
            (w.member.id, "y", 1800),
            (w.member.id, "z", 1800),
        ]
    )
    assert report["totals"] == {"totalSeconds": 3000, "entryCount": 2}


async def test_export_takes_the_tag_filters(
    gql: GQL, world: TeamWorld, app_client: httpx.AsyncClient
) -> None:
    w = world
    t, e = await _tagged_scene(gql, w)
    headers = {"authorization": f"Bearer {w.member.token}"}

    async def exported(query: str) -> set[str]:
        r = await app_client.get(f"/export/time-entries.csv?teamId={w.id}&{query}", headers=headers)
        assert r.status_code == 200, r.text
        rows = list(csv.DictReader(io.StringIO(r.text.lstrip("\ufeff"))))
        return {k for k, v in e.items() if v in {row["id"] for row in rows}}

    assert await exported(f"tagIds={t['x']},{t['y']}&tagMatch=ALL") == {"e_xy"}
    assert await exported(f"tagIds={t['x']}&tagIds={t['z']}") == {"e_x", "e_xy", "e_yz"}
    assert await exported("untagged=true") == {"e_none"}
    r = await app_client.get(f"/export/report.csv?teamId={w.id}&groupBy=TAG", headers=headers)
    assert r.status_code == 200, r.text
    rows = list(csv.DictReader(io.StringIO(r.text.lstrip("\ufeff"))))
    by_tag = {row["tagName"]: row["entryCount"] for row in rows if row["row"] == "bucket"}
    assert by_tag == {"x": "2", "y": "2", "z": "1", "": "1"}
    assert [row["entryCount"] for row in rows if row["row"] == "total"] == ["4"]


async def test_the_filter_rules_in_python_and_sql_agree(db: Database, world: TeamWorld) -> None:
    """``store.tag_rules``: each rule's SQL selects exactly the entries its Python form
    accepts, for every combination of a few tags."""
    w = world
    async with db.write() as s:
        ids = [new_id() for _ in range(3)]
        for i, tid in enumerate(ids):
            s.add(Tag(id=tid, team_id=w.id, name=f"t{i}", name_key=f"t{i}"))
        entries: dict[str, set[str]] = {}
        for mask in range(8):
            entry_id = new_id()
            s.add(
                TimeEntry(
                    id=entry_id,
                    team_id=w.id,
                    user_id=w.member.id,
                    scope_type="TASK",
                    task_id=w.tasks["T-1"],
                    started_at=DAY,
                    stopped_at=DAY + timedelta(minutes=1),
                    duration_seconds=60,
                    work_date=DAY.date(),
                    billable=True,
                )
            )
            entries[entry_id] = {ids[i] for i in range(3) if mask >> i & 1}
        await s.flush()
        for entry_id, tag_ids in entries.items():
            for tid in tag_ids:
                s.add(EntryTag(entry_id=entry_id, tag_id=tid, team_id=w.id))
        await s.commit()
    table = TimeEntry.__table__  # type: ignore[attr-defined]
    wanted_sets = [[], [ids[0]], [ids[0], ids[1]], ids, [ids[2], new_id()]]
    async with db.read() as s:
        for wanted in wanted_sets:
            for match in TagMatch:
                stmt = select(TimeEntry.id).where(tag_match_sql(table, wanted, match))
                got = set((await s.exec(stmt)).all())
                assert got == {k for k, v in entries.items() if tag_match(v, wanted, match)}
        for flag in (True, False):
            stmt = select(TimeEntry.id).where(untagged_sql(table, flag))
            got = set((await s.exec(stmt)).all())
            assert got == {k for k, v in entries.items() if untagged(v) is flag}
            assert len(got) == (1 if flag else 7)


# --- concurrency ---------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", ["postgresql"])  # real concurrency
async def test_archive_racing_logs_with_the_tag_never_tags_after_the_archive(
    db: Database, gql: GQL, world: TeamWorld
) -> None:
    """Logs with a tag while an admin archives it: each log either commits with the tag
    before the archive (its LOGGED event comes before the tag's UPDATED in the team's
    feed) or is refused TAG_ARCHIVED; none commits the tag after the archive."""
    w = world
    rounds, outcomes = 6, {"logged": 0, "refused": 0}
    for n in range(rounds):
        tag = await add_tag(gql, w, f"race-{n}")

        async def log(i: int, tag: str = tag, n: int = n) -> dict[str, Any]:
            await asyncio.sleep(0.004 * i)  # spread over the archive
            at = DAY - timedelta(days=n, minutes=10 * i)
            return await mutate(
                gql, LOG, _log(w, at, tagIds=[tag], durationSeconds=300), w.member.token
            )

        async def archive(tag: str = tag) -> dict[str, Any]:
            await asyncio.sleep(0.012)
            return await mutate(gql, ARCHIVE, {"id": tag}, w.admin.token)

        answers = await asyncio.gather(*(log(i) for i in range(6)), archive())
        ok(answers[-1])
        logged = {a["timeEntry"]["id"] for a in answers[:-1] if not a["userErrors"]}
        for a in answers[:-1]:
            if a["userErrors"]:
                refused(a, "TAG_ARCHIVED", ["input", "tagIds", "0"])
        outcomes["logged"] += len(logged)
        outcomes["refused"] += 6 - len(logged)
        changes = (await _data(gql, CHANGES, {"team": w.id}, w.member.token))["teamChanges"]
        order = [c["subjectId"] for c in changes["nodes"]]
        archived_at = max(i for i, s in enumerate(order) if s == tag)
        for entry_id in logged:
            assert order.index(entry_id) < archived_at, "an entry got the tag after its archive"
        async with db.read() as s:
            rows = (await s.exec(select(EntryTag.entry_id).where(EntryTag.tag_id == tag))).all()
        assert set(rows) == logged
    assert outcomes["logged"] + outcomes["refused"] == rounds * 6

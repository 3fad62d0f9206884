"""Writes that hold under concurrency (issue 15): many clients at once against a real
uvicorn, on PostgreSQL and on SQLite.

Each test fires its requests with ``asyncio.gather`` over one pool of HTTP connections
(up to 50 requests in flight at once) and then compares what was acknowledged with what
is stored: one winner per ``expectedVersion``, ``version`` = 1 + the acknowledged changes,
a final status that was acknowledged with its one reason, no change committed inside a
lock after the lock, no deadlock.

One server per database serves the whole module (a server start costs about a second;
thirty of them would cost more than the races); every test seeds a team of its own, with
users whose e-mail addresses are unique to the test. The timer bursts get a server of
their own, which is killed when it has not answered within the bound, so that a server
still busy deadlocking cannot slow down the tests after it.

Run with ``-s`` to see each race's figures (requests, winners, final version, elapsed).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import aiosqlite
import asyncpg
import pytest

from store.db import Database
from tests.e2e.racing import ERRORS, Answer, Client, ServerLog, deadlocks, pg_dsn, server_log
from tests.e2e.server import running_server
from tests.factories import TeamWorld, add_entries, make_team, make_user

pytestmark = pytest.mark.e2e

ENTRY = "id version status description startedAt stoppedAt running updatedAt deletedAt"
LOG = f"""mutation($input: LogTimeEntryInput!) {{ logTimeEntry(input: $input) {{
  {ERRORS} timeEntry {{ {ENTRY} }} }} }}"""
UPDATE = f"""mutation($input: UpdateTimeEntryInput!) {{ updateTimeEntry(input: $input) {{
  {ERRORS} timeEntry {{ {ENTRY} }} }} }}"""
DELETE = f"""mutation($input: DeleteTimeEntryInput!) {{ deleteTimeEntry(input: $input) {{
  {ERRORS} timeEntry {{ {ENTRY} }} }} }}"""
START = f"""mutation($input: StartTimerInput!) {{ startTimer(input: $input) {{
  {ERRORS} timeEntry {{ {ENTRY} }} stoppedEntry {{ {ENTRY} }} }} }}"""
STOP = f"""mutation($input: StopTimerInput!) {{ stopTimer(input: $input) {{
  {ERRORS} timeEntry {{ {ENTRY} }} }} }}"""
COMMENT = f"""mutation($input: AddCommentInput!) {{ addComment(input: $input) {{
  {ERRORS} comment {{ id content }} }} }}"""
TRANSITION = f"""mutation($input: TransitionTimeEntriesInput!) {{
  transitionTimeEntries(input: $input) {{ {ERRORS} timeEntries {{ id status version }} }} }}"""
LOCK = f"""mutation($input: LockTeamEntriesInput!) {{ lockTeamEntries(input: $input) {{
  {ERRORS} team {{ id lockedBefore }} }} }}"""
TEAM_FIELDS = """id name timeZone weekStart rounding roundingMinutes defaultBillable
  defaultRateCents tasksReadonly lockedBefore members { role rateCents user { id } }"""
UPDATE_TEAM = f"""mutation($input: UpdateTeamInput!) {{ updateTeam(input: $input) {{
  {ERRORS} team {{ id }} }} }}"""
ADD_MEMBER = f"""mutation($input: AddTeamMemberInput!) {{ addTeamMember(input: $input) {{
  {ERRORS} member {{ role }} }} }}"""
CATEGORY_FIELDS = "id key title color position archived billable rateCents parent { id }"
CREATE_CATEGORY = f"""mutation($input: CreateCategoryInput!) {{ createCategory(input: $input) {{
  {ERRORS} category {{ id }} }} }}"""
UPDATE_CATEGORY = f"""mutation($input: UpdateCategoryInput!) {{ updateCategory(input: $input) {{
  {ERRORS} category {{ id }} }} }}"""
UPDATE_TASK = f"""mutation($input: UpdateTaskInput!) {{ updateTask(input: $input) {{
  {ERRORS} task {{ id }} }} }}"""
GET_ENTRY = f"""query($id: ID!) {{ timeEntry(id: $id) {{ {ENTRY} comments {{ content }} }} }}"""
ENTRIES = f"""query($filter: TimeEntryFilter!, $after: String) {{
  timeEntries(filter: $filter, first: 100, after: $after) {{
  nodes {{ {ENTRY} }} pageInfo {{ hasNextPage endCursor }} }} }}"""

# A period well in the past: the lock tests close it; nothing else touches it.
PERIOD_START = "2025-03-01T00:00:00Z"
LOCK_BEFORE = "2025-04-01T00:00:00Z"


@dataclass
class Served:
    dialect: str
    database_url: str
    base: str
    log: ServerLog
    db: Database


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def dialect(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def race_url(
    dialect: str,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    sqlite_template: Path,
) -> str:
    """A database with the schema for the module (the session's one on PostgreSQL)."""
    if dialect == "sqlite":
        path = tmp_path_factory.mktemp("races") / "punchclock.db"
        shutil.copyfile(sqlite_template, path)
        return f"sqlite:///{path}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture(scope="module")
async def served(dialect: str, race_url: str) -> AsyncIterator[Served]:
    url = race_url
    db = Database(url)
    # Info level: whatever the server logs about retries and deadlocks is in its log.
    with (
        running_server(url, env={"PUNCHCLOCK_LOG_LEVEL": "info"}) as base,
        server_log(base.pid) as log,
    ):
        warm = await make_user(db, "warm-up", f"warm-{uuid4().hex[:12]}@example.test")
        client = Client(base)
        # Open the server's pool of database connections before the first race, so that
        # no request of a race waits for a connection the others already have.
        await asyncio.gather(
            *(client.query("{ viewer { id } }", {}, warm.token) for _ in range(30))
        )
        await client.aclose()
        yield Served(dialect, url, base, log, db)
    assert log.thread is not None
    log.thread.join(timeout=10)
    await db.dispose()


@pytest.fixture
async def client(served: Served) -> AsyncIterator[Client]:
    c = Client(served.base)
    yield c
    await c.aclose()


@pytest.fixture
async def world(served: Served) -> TeamWorld:
    prefix = f"r{uuid4().hex[:10]}"
    return await make_team(served.db, f"Team {prefix}", prefix=prefix)


async def _entry(client: Client, world: TeamWorld, hour: int = 9, **extra: Any) -> dict[str, Any]:
    """A stopped DRAFT entry of the member, version 1."""
    answer = await client.mutate(
        LOG,
        {
            "teamId": world.id,
            "taskId": world.tasks["T-2"],
            "startedAt": f"2025-05-12T{hour:02d}:00:00Z",
            "duration": "30m",
            "description": "first",
            **extra,
        },
        world.member.token,
    )
    assert answer.ok, (answer.errors, answer.payload)
    entry: dict[str, Any] = answer.payload["timeEntry"]
    assert entry["version"] == 1
    return entry


async def _read(client: Client, entry_id: str, token: str) -> dict[str, Any]:
    entry: dict[str, Any] = (await client.query(GET_ENTRY, {"id": entry_id}, token))["timeEntry"]
    return entry


def _wall(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _codes(answers: list[Answer]) -> dict[str | None, int]:
    counts: dict[str | None, int] = {}
    for a in answers:
        counts[a.code] = counts.get(a.code, 0) + 1
    return counts


def _report(served: Served, what: str, **figures: object) -> None:
    print(f"[{served.dialect}] {what}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))


# --- updateTimeEntry ---------------------------------------------------------------------


async def test_same_expected_version_has_one_winner(
    served: Served, client: Client, world: TeamWorld
) -> None:
    entry = await _entry(client, world)
    answers = await client.many(
        [
            (
                UPDATE,
                {"id": entry["id"], "expectedVersion": 1, "description": f"d{n}"},
                world.member.token,
            )
            for n in range(50)
        ]
    )
    winners = [a for a in answers if a.ok]
    stored = await _read(client, entry["id"], world.member.token)
    _report(
        served,
        "updateTimeEntry same expectedVersion",
        requests=50,
        winners=len(winners),
        version=stored["version"],
    )
    assert _codes(answers) == {None: 1, "VERSION_CONFLICT": 49}, _codes(answers)
    assert stored["version"] == 2
    assert stored["description"] == winners[0].payload["timeEntry"]["description"]


async def test_every_acknowledged_update_counts(
    served: Served, client: Client, world: TeamWorld
) -> None:
    entry = await _entry(client, world)
    answers = await client.many(
        [
            (UPDATE, {"id": entry["id"], "description": f"d{n}"}, world.member.token)
            for n in range(50)
        ]
    )
    acked = [a for a in answers if a.ok]
    stored = await _read(client, entry["id"], world.member.token)
    _report(
        served,
        "updateTimeEntry without expectedVersion",
        requests=50,
        acknowledged=len(acked),
        version=stored["version"],
    )
    assert _codes(answers) == {None: 50}, _codes(answers)
    assert stored["version"] == 1 + len(acked)
    # Each acknowledged change got a version of its own, and the last one is what is stored.
    versions = sorted(a.payload["timeEntry"]["version"] for a in acked)
    assert versions == list(range(2, 2 + len(acked)))
    last = max(acked, key=lambda a: a.payload["timeEntry"]["version"])
    assert stored["description"] == last.payload["timeEntry"]["description"]


async def test_delete_among_updates_is_consistent(
    served: Served, client: Client, world: TeamWorld
) -> None:
    entry = await _entry(client, world)
    calls = [
        (UPDATE, {"id": entry["id"], "description": f"d{n}"}, world.member.token) for n in range(40)
    ]
    calls.insert(20, (DELETE, {"id": entry["id"]}, world.member.token))
    answers = await client.many(calls)
    deleted, updates = answers[20], answers[:20] + answers[21:]
    acked = [a for a in updates if a.ok]
    stored = await _read(client, entry["id"], world.member.token)
    _report(
        served,
        "deleteTimeEntry among 40 updates",
        acknowledged_updates=len(acked),
        refused=_codes(updates),
        version=stored["version"],
    )
    assert deleted.ok, (deleted.errors, deleted.payload)
    assert stored["deletedAt"] is not None
    # Updates either happened before the delete or were refused as about a deleted entry.
    assert {a.code for a in updates} <= {None, "NOT_FOUND"}, _codes(updates)
    assert stored["version"] == 1 + len(acked) + 1
    assert deleted.payload["timeEntry"]["version"] == stored["version"]
    assert all(a.payload["timeEntry"]["version"] < stored["version"] for a in acked)
    assert sorted(a.payload["timeEntry"]["version"] for a in acked) == list(
        range(2, 2 + len(acked))
    )


# --- transitionTimeEntries ---------------------------------------------------------------


async def test_approve_and_reject_at_once_have_one_winner(
    served: Served, client: Client, world: TeamWorld
) -> None:
    trials = 10
    ids = [(await _entry(client, world, hour=8 + n))["id"] for n in range(trials)]
    submitted = await client.mutate(TRANSITION, {"ids": ids, "to": "SUBMITTED"}, world.member.token)
    assert submitted.ok, (submitted.errors, submitted.payload)
    calls = [
        (TRANSITION, {"ids": [i], "to": to, "reason": f"{to} {i} by {n}"}, world.admin.token)
        for i in ids
        for n in range(3)
        for to in ("APPROVED", "REJECTED")
    ]
    answers = await client.many(calls)
    both_won = 0
    failures = []
    for trial, i in enumerate(ids):
        mine = answers[trial * 6 : trial * 6 + 6]
        won = [
            (call, a)
            for call, a in zip(calls[trial * 6 : trial * 6 + 6], mine, strict=True)
            if a.ok
        ]
        stored = await _read(client, i, world.admin.token)
        reasons = [c["content"] for c in stored["comments"]]
        both_won += len({call[1]["to"] for call, _ in won}) > 1
        if not (
            len(won) == 1
            and {a.code for a in mine if not a.ok} == {"INVALID_TRANSITION"}
            and stored["status"] == won[0][0][1]["to"]
            and reasons == [won[0][0][1]["reason"]]
            and stored["version"] == 3
        ):
            failures.append(
                {
                    "winners": [c[1]["to"] for c, _ in won],
                    "status": stored["status"],
                    "reasons": len(reasons),
                    "version": stored["version"],
                }
            )
    _report(
        served,
        "APPROVED vs REJECTED",
        trials=trials,
        requests=len(calls),
        trials_with_both_winning=both_won,
        bad_trials=len(failures),
    )
    assert failures == [], failures


async def test_concurrent_submits_have_one_winner(
    served: Served, client: Client, world: TeamWorld
) -> None:
    entry = await _entry(client, world)
    answers = await client.many(
        [(TRANSITION, {"ids": [entry["id"]], "to": "SUBMITTED"}, world.member.token)] * 50
    )
    stored = await _read(client, entry["id"], world.member.token)
    _report(
        served, "DRAFT->SUBMITTED", requests=50, codes=_codes(answers), version=stored["version"]
    )
    assert _codes(answers) == {None: 1, "INVALID_TRANSITION": 49}, _codes(answers)
    assert stored["status"] == "SUBMITTED" and stored["version"] == 2


# --- timers ------------------------------------------------------------------------------


async def test_concurrent_stops_have_one_winner(
    served: Served, client: Client, world: TeamWorld
) -> None:
    started = await client.mutate(
        START, {"teamId": world.id, "taskId": world.tasks["T-2"]}, world.member.token
    )
    assert started.ok, (started.errors, started.payload)
    entry_id = started.payload["timeEntry"]["id"]
    # Half name the entry, half stop "the viewer's running timer".
    answers = await client.many(
        [(STOP, {"timeEntryId": entry_id} if n % 2 else {}, world.member.token) for n in range(50)]
    )
    stored = await _read(client, entry_id, world.member.token)
    _report(served, "stopTimer", requests=50, codes=_codes(answers), version=stored["version"])
    assert _codes(answers) == {None: 1, "TIMER_NOT_RUNNING": 49}, _codes(answers)
    [winner] = [a for a in answers if a.ok]
    assert stored["running"] is False
    assert stored["stoppedAt"] == winner.payload["timeEntry"]["stoppedAt"]
    assert stored["version"] == 2


async def _entries(client: Client, filter: dict[str, Any], token: str) -> list[dict[str, Any]]:
    """Every entry the filter matches, page by page."""
    nodes: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        page = (await client.query(ENTRIES, {"filter": filter, "after": after}, token))[
            "timeEntries"
        ]
        nodes += page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            return nodes
        after = page["pageInfo"]["endCursor"]


async def _user_entries(client: Client, world: TeamWorld) -> list[dict[str, Any]]:
    return await _entries(
        client, {"teamId": world.id, "userId": world.member.id}, world.member.token
    )


def _overlaps(entries: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Pairs of entries of one user whose spans overlap (a running one ends now)."""
    spans = sorted(
        (_wall(e["startedAt"]), _wall(e["stoppedAt"]) if e["stoppedAt"] else float("inf"), e["id"])
        for e in entries
    )
    return [(a[2], b[2]) for a, b in itertools.pairwise(spans) if a[1] > b[0]]


# The issue asks for 1 s; the bound here only keeps a deadlocking server from holding up
# the suite (elapsed times are printed).
BURST_BOUND_SECONDS = 10.0


async def _timer_burst(
    served: Served, calls: list[tuple[str, dict[str, Any], str]]
) -> list[Answer]:
    """Fire the calls at once at a server of their own, each with an idempotency key of its
    own as a client that retries safely sends them (a double click is two keys). They must
    all be answered within the bound, PostgreSQL must count no deadlock and the server's
    log must name none. The server stops afterwards, with whatever it still had to do."""
    tag = uuid4().hex[:12]
    calls = [(d, {**i, "idempotencyKey": f"{tag}-{n}"}, t) for n, (d, i, t) in enumerate(calls)]
    postgres = served.dialect == "postgresql"
    before = await deadlocks(served.database_url) if postgres else 0
    with (
        running_server(served.database_url, env={"PUNCHCLOCK_LOG_LEVEL": "info"}) as base,
        server_log(base.pid) as log,
    ):
        client = Client(base)
        began = time.monotonic()
        tasks = [asyncio.create_task(client.mutate(d, i, t)) for d, i, t in calls]
        _, pending = await asyncio.wait(tasks, timeout=BURST_BOUND_SECONDS)
        elapsed = time.monotonic() - began
        for task in pending:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await client.aclose()
        if pending:
            # It would go on deadlocking (and wait for that on shutdown): end it now.
            os.kill(base.pid, signal.SIGKILL)
    assert log.thread is not None
    log.thread.join(timeout=10)
    after = before
    if postgres:
        await asyncio.sleep(0.5)  # the server's backends report their statistics as they exit
        after = await deadlocks(served.database_url)
    answers = [t.result() for t in tasks if not t.cancelled()]
    _report(
        served,
        "timer burst",
        requests=len(calls),
        answered=len(answers),
        elapsed_s=f"{elapsed:.3f}",
        deadlocks=after - before,
        codes=_codes(answers),
    )
    assert after == before, f"{after - before} deadlock(s) detected"
    assert "deadlock" not in log.text().lower(), log.text()
    assert not pending, f"{len(pending)} of {len(calls)} unanswered after {BURST_BOUND_SECONDS} s"
    return answers


async def test_sixteen_starts_of_one_user(served: Served, client: Client, world: TeamWorld) -> None:
    tasks = list(world.tasks.values())
    calls = [
        (START, {"teamId": world.id, "taskId": tasks[n % 2]}, world.member.token) for n in range(16)
    ]
    answers = await _timer_burst(served, calls)
    assert _codes(answers) == {None: 16}, _codes(answers)
    entries = await _user_entries(client, world)
    assert len(entries) == 16
    assert len([e for e in entries if e["running"]]) == 1
    assert _overlaps(entries) == []
    # Every start but one stopped the entry running before it, each entry once.
    stopped = [a.payload["stoppedEntry"]["id"] for a in answers if a.payload["stoppedEntry"]]
    assert len(stopped) == 15 and len(set(stopped)) == 15


async def test_starts_stops_and_updates_of_one_user(
    served: Served, client: Client, world: TeamWorld
) -> None:
    first = await client.mutate(
        START, {"teamId": world.id, "taskId": world.tasks["T-1"]}, world.member.token
    )
    assert first.ok, (first.errors, first.payload)
    running_id = first.payload["timeEntry"]["id"]
    tasks = list(world.tasks.values())
    calls = (
        [
            (START, {"teamId": world.id, "taskId": tasks[n % 2]}, world.member.token)
            for n in range(8)
        ]
        + [(STOP, {}, world.member.token) for _ in range(4)]
        + [
            (UPDATE, {"id": running_id, "description": f"u{n}"}, world.member.token)
            for n in range(4)
        ]
    )
    answers = await _timer_burst(served, calls)
    starts, stops, updates = answers[:8], answers[8:12], answers[12:]
    assert _codes(starts) == {None: 8}, _codes(starts)
    assert {a.code for a in stops} <= {None, "TIMER_NOT_RUNNING"}, _codes(stops)
    assert _codes(updates) == {None: 4}, _codes(updates)
    entries = await _user_entries(client, world)
    assert len(entries) == 9
    assert len([e for e in entries if e["running"]]) <= 1
    assert _overlaps(entries) == []
    # The entry running before the burst was stopped exactly once, and its version counts
    # that stop and the four acknowledged updates.
    stops_of_first = [
        a for a in starts if (a.payload["stoppedEntry"] or {}).get("id") == running_id
    ] + [a for a in stops if a.ok and a.payload["timeEntry"]["id"] == running_id]
    stored = await _read(client, running_id, world.member.token)
    assert len(stops_of_first) == 1
    assert stored["running"] is False
    assert stored["version"] == 1 + 1 + 4


# --- addComment, logTimeEntry by externalRef ---------------------------------------------


async def test_concurrent_comments_are_all_stored(
    served: Served, client: Client, world: TeamWorld
) -> None:
    entry = await _entry(client, world)
    answers = await client.many(
        [
            (COMMENT, {"timeEntryId": entry["id"], "content": f"c{n}"}, token)
            for n, token in enumerate([world.member.token, world.admin.token] * 25)
        ]
    )
    stored = await _read(client, entry["id"], world.member.token)
    _report(
        served, "addComment", requests=50, codes=_codes(answers), stored=len(stored["comments"])
    )
    assert _codes(answers) == {None: 50}, _codes(answers)
    assert sorted(c["content"] for c in stored["comments"]) == sorted(f"c{n}" for n in range(50))
    assert {a.payload["comment"]["content"] for a in answers} == {f"c{n}" for n in range(50)}


async def test_external_ref_upserts_count_every_change(
    served: Served, client: Client, world: TeamWorld
) -> None:
    ref = {"provider": "jira", "externalType": "worklog", "externalId": "W-1"}
    base = {
        "teamId": world.id,
        "taskId": world.tasks["T-2"],
        "startedAt": "2025-05-12T09:00:00Z",
        "duration": "1h",
        "externalRef": ref,
    }
    answers = await client.many(
        [(LOG, {**base, "description": f"d{n}"}, world.member.token) for n in range(50)]
    )
    acked = [a for a in answers if a.ok]
    entries = await _user_entries(client, world)
    _report(
        served,
        "logTimeEntry same externalRef",
        requests=50,
        codes=_codes(answers),
        entries=len(entries),
        versions=[e["version"] for e in entries],
    )
    assert _codes(answers) == {None: 50}, _codes(answers)
    [stored] = entries
    assert {a.payload["timeEntry"]["id"] for a in acked} == {stored["id"]}
    # The first created it (version 1); every other changed its description.
    assert stored["version"] == len(acked)
    assert sorted(a.payload["timeEntry"]["version"] for a in acked) == list(
        range(1, 1 + len(acked))
    )
    last = max(acked, key=lambda a: a.payload["timeEntry"]["version"])
    assert stored["description"] == last.payload["timeEntry"]["description"]


# --- lockTeamEntries against concurrent writers ------------------------------------------


Stored = tuple[int, str | None, str, str]


async def _period(client: Client, world: TeamWorld) -> dict[str, Stored]:
    """The stored entries of the locked period: id -> (version, deletedAt, description,
    updatedAt)."""
    nodes = await _entries(
        client,
        {"teamId": world.id, "from": PERIOD_START, "to": LOCK_BEFORE, "includeDeleted": True},
        world.admin.token,
    )
    return {
        e["id"]: (e["version"], e["deletedAt"], e["description"] or "", e["updatedAt"])
        for e in nodes
    }


async def test_no_write_commits_inside_a_lock_after_it(
    served: Served, client: Client, world: TeamWorld
) -> None:
    """Writers keep changing a period while an admin locks it: what started after the lock
    returned is refused, and nothing stored in the period changes after the lock."""
    start = datetime(2025, 3, 20, 9, 0, tzinfo=UTC)
    ids = await add_entries(
        served.db,
        team_id=world.id,
        user_id=world.member.id,
        task_id=world.tasks["T-2"],
        count=24,
        start=start,
    )
    to_update, to_delete = ids[:12], ids[12:]
    deletable = list(to_delete)
    writes: list[tuple[str, Answer]] = []
    done = asyncio.Event()
    counter = itertools.count()

    async def writer(w: int) -> None:
        while not done.is_set():
            n = next(counter)
            if n % 7 == 0 and deletable:
                kind, doc, input = "delete", DELETE, {"id": deletable.pop()}
            elif w % 3 == 0:
                kind, doc = "log", LOG
                input = {
                    "teamId": world.id,
                    "taskId": world.tasks["T-2"],
                    "startedAt": f"2025-03-{1 + n % 19:02d}T{n % 24:02d}:{n % 60:02d}:00Z",
                    "duration": "10m",
                    "description": f"log {n}",
                }
            else:
                kind, doc = "update", UPDATE
                input = {"id": to_update[n % len(to_update)], "description": f"w{n}"}
            writes.append((kind, await client.mutate(doc, input, world.member.token)))

    workers = [asyncio.create_task(writer(w)) for w in range(20)]
    await asyncio.sleep(0.4)
    lock = await client.mutate(LOCK, {"teamId": world.id, "before": LOCK_BEFORE}, world.admin.token)
    snapshot = await _period(client, world)
    await asyncio.sleep(0.8)
    done.set()
    await asyncio.gather(*workers)
    final = await _period(client, world)

    assert lock.ok, (lock.errors, lock.payload)
    before = [(k, a) for k, a in writes if a.arrived < lock.sent]
    after = [(k, a) for k, a in writes if a.sent > lock.arrived]
    late_acks = [(k, a.payload) for k, a in after if a.code != "ENTRY_LOCKED"]
    changed = {i: (snapshot.get(i), v) for i, v in final.items() if snapshot.get(i) != v}
    # The server's clock and this process's are the same machine's.
    stamped_late = [i for i, (*_, updated) in final.items() if _wall(updated) > lock.arrived_wall]
    _report(
        served,
        "lockTeamEntries vs writers",
        writes=len(writes),
        acked_before_lock=sum(a.ok for _, a in before),
        started_after_lock=len(after),
        acked_after_lock=len(late_acks),
        changed_after_lock=len(changed),
    )
    assert sum(a.ok for _, a in before) >= 10, "the writers did not get going before the lock"
    assert len(after) >= 10, "the writers did not go on after the lock"
    assert late_acks == [], late_acks
    assert changed == {}, changed
    assert stamped_late == []
    # Every acknowledged write is in what the lock froze.
    for kind, a in writes:
        if a.ok:
            entry = a.payload["timeEntry"]
            assert entry["id"] in snapshot, (kind, entry)
            assert snapshot[entry["id"]][0] >= entry["version"], (kind, entry)
            assert _wall(entry["updatedAt"]) <= lock.arrived_wall, (kind, entry)


async def _hold_rows(served: Served, ids: list[str]) -> tuple[Any, Any]:
    """Another transaction that holds the entries' rows (on SQLite: the write lock)."""
    if served.dialect == "postgresql":
        pg = await asyncpg.connect(pg_dsn(served.database_url))
        tx = pg.transaction()
        await tx.start()
        await pg.execute("SELECT id FROM time_entries WHERE id = ANY($1) FOR UPDATE", ids)
        return pg, tx
    path = served.database_url.removeprefix("sqlite:///")
    lite = await aiosqlite.connect(path, isolation_level=None)
    await lite.execute("BEGIN IMMEDIATE")
    return lite, None


async def _release(served: Served, held: tuple[Any, Any]) -> None:
    conn, tx = held
    if served.dialect == "postgresql":
        await tx.rollback()
    else:
        await conn.execute("ROLLBACK")
    await conn.close()


async def test_a_write_in_flight_does_not_commit_after_the_lock(
    served: Served, client: Client, world: TeamWorld
) -> None:
    """Writes that checked the period while the lock was not yet set, and are slowed down
    (another transaction holds their rows), must not commit after the lock returned."""
    ids = await add_entries(
        served.db,
        team_id=world.id,
        user_id=world.member.id,
        task_id=world.tasks["T-2"],
        count=2,
        start=datetime(2025, 3, 20, 9, 0, tzinfo=UTC),
    )
    updated, deleted = ids
    held = await _hold_rows(served, ids)
    try:
        writes = [
            asyncio.create_task(
                client.mutate(UPDATE, {"id": updated, "description": f"h{n}"}, world.member.token)
            )
            for n in range(5)
        ] + [asyncio.create_task(client.mutate(DELETE, {"id": deleted}, world.member.token))]
        await asyncio.sleep(0.5)  # the writers are under way, waiting for the rows
        lock = asyncio.create_task(
            client.mutate(LOCK, {"teamId": world.id, "before": LOCK_BEFORE}, world.admin.token)
        )
        await asyncio.wait([lock], timeout=1.5)
        lock_returned_while_held = lock.done()
    finally:
        await _release(served, held)
    answers = await asyncio.gather(*writes)
    locked = await lock
    assert locked.ok, (locked.errors, locked.payload)
    stored = await _period(client, world)
    acked = [a for a in answers if a.ok]
    _report(
        served,
        "write in flight vs lock",
        writes=len(answers),
        lock_returned_while_rows_held=lock_returned_while_held,
        acknowledged=len(acked),
        codes=_codes(answers),
        version=stored[updated][0],
    )
    assert {a.code for a in answers} <= {None, "ENTRY_LOCKED"}, _codes(answers)
    if lock_returned_while_held:
        # The held rows could be written only after the lock had committed: every write
        # must have been refused.
        assert acked == [], f"{len(acked)} writes committed after the lock returned"
    acked_updates = [a for a in answers[:5] if a.ok]
    assert stored[updated][0] == 1 + len(acked_updates)
    assert (stored[deleted][1] is not None) == answers[5].ok


# --- teams, members, categories, tasks ---------------------------------------------------


async def test_team_updates_of_different_fields_all_survive(
    served: Served, client: Client, world: TeamWorld
) -> None:
    changes: list[dict[str, Any]] = [
        {"name": "Renamed"},
        {"timeZone": "Europe/Vienna"},
        {"weekStart": 7},
        {"rounding": "CEIL"},
        {"roundingMinutes": 15},
        {"defaultBillable": False},
        {"defaultRateCents": 12345},
        {"tasksReadonly": True},
    ]
    calls = [
        (UPDATE_TEAM, {"id": world.id, **c}, world.owner.token) for c in changes for _ in range(3)
    ]
    calls.append((LOCK, {"teamId": world.id, "before": LOCK_BEFORE}, world.owner.token))
    answers = await client.many(calls)
    assert _codes(answers) == {None: len(calls)}, _codes(answers)
    team = (
        await client.query(
            f"query($id: ID!) {{ team(id: $id) {{ {TEAM_FIELDS} }} }}",
            {"id": world.id},
            world.owner.token,
        )
    )["team"]
    lost = {k: (v, team[k]) for c in changes for k, v in c.items() if team[k] != v}
    _report(served, "updateTeam fields", requests=len(calls), lost=lost)
    assert lost == {}
    assert _wall(team["lockedBefore"]) == _wall(LOCK_BEFORE)


async def test_owner_and_admin_changing_one_member_at_once(
    served: Served, client: Client, world: TeamWorld
) -> None:
    """An owner promotes members to OWNER while an admin changes their roles: only owners
    change an OWNER, so whatever order the database picks, every one ends as OWNER."""
    trials = 10
    prefix = uuid4().hex[:8]
    users = [
        await make_user(served.db, f"u{n}", f"{prefix}-{n}@example.test") for n in range(trials)
    ]
    for u in users:
        added = await client.mutate(
            ADD_MEMBER, {"teamId": world.id, "userId": u.id, "role": "MEMBER"}, world.owner.token
        )
        assert added.ok, (added.errors, added.payload)
    calls = [
        call
        for u in users
        for call in [
            (ADD_MEMBER, {"teamId": world.id, "userId": u.id, "role": "OWNER"}, world.owner.token)
        ]
        + [
            (
                ADD_MEMBER,
                {"teamId": world.id, "userId": u.id, "role": "ADMIN", "rateCents": n},
                world.admin.token,
            )
            for n in range(3)
        ]
    ]
    answers = await client.many(calls)
    team = (
        await client.query(
            f"query($id: ID!) {{ team(id: $id) {{ {TEAM_FIELDS} }} }}",
            {"id": world.id},
            world.owner.token,
        )
    )["team"]
    roles = {m["user"]["id"]: m["role"] for m in team["members"]}
    demoted = [u.id for u in users if roles[u.id] != "OWNER"]
    _report(
        served,
        "addTeamMember owner vs admin",
        trials=trials,
        requests=len(calls),
        codes=_codes(answers),
        owners_demoted_by_admin=len(demoted),
    )
    assert {a.code for a in answers} <= {None, "FORBIDDEN"}, _codes(answers)
    assert all(a.ok for a in answers[0::4]), "an owner's promotion was refused"
    assert demoted == []


async def test_categories_never_form_a_cycle(
    served: Served, client: Client, world: TeamWorld
) -> None:
    """Two categories each moved under the other at once: one move wins, the other is
    refused, in every trial."""
    trials = 10
    pairs = []
    for n in range(trials):
        pair = []
        for side in "ab":
            made = await client.mutate(
                CREATE_CATEGORY,
                {"teamId": world.id, "title": f"{side}{n}", "parentId": world.categories["dev"]},
                world.admin.token,
            )
            assert made.ok, (made.errors, made.payload)
            pair.append(made.payload["category"]["id"])
        pairs.append(pair)
    calls = [
        (UPDATE_CATEGORY, {"id": x, "parentId": y}, world.admin.token)
        for a, b in pairs
        for x, y in ((a, b), (b, a))
    ]
    answers = await client.many(calls)
    cycles = 0
    for a, b in pairs:
        got = [
            (
                await client.query(
                    f"query($id: ID!) {{ category(id: $id) {{ {CATEGORY_FIELDS} }} }}",
                    {"id": c},
                    world.admin.token,
                )
            )["category"]
            for c in (a, b)
        ]
        parents = [(g["parent"] or {}).get("id") for g in got]
        cycles += parents == [b, a]
    _report(
        served, "updateCategory parent cycle", trials=trials, cycles=cycles, codes=_codes(answers)
    )
    assert cycles == 0
    assert _codes(answers) == {None: trials, "VALIDATION": trials}, _codes(answers)


async def test_category_and_task_updates_of_different_fields_all_survive(
    served: Served, client: Client, world: TeamWorld
) -> None:
    category = world.categories["api"]
    task = world.tasks["T-1"]
    category_changes: list[dict[str, Any]] = [
        {"title": "Interfaces"},
        {"key": "apis"},
        {"color": 255},
        {"position": 7},
        {"billable": True},
        {"rateCents": 4200},
    ]
    task_changes: list[dict[str, Any]] = [
        {"key": "T-1b"},
        {"title": "Keyset paging"},
        {"url": "https://example.test/T-1"},
        {"state": "CLOSED"},
        {"description": "cursor pages"},
    ]
    calls = [
        (UPDATE_CATEGORY, {"id": category, **c}, world.admin.token)
        for c in category_changes
        for _ in range(3)
    ] + [
        (UPDATE_TASK, {"id": task, **c}, world.admin.token) for c in task_changes for _ in range(3)
    ]
    answers = await client.many(calls)
    assert _codes(answers) == {None: len(calls)}, _codes(answers)
    got_category = (
        await client.query(
            f"query($id: ID!) {{ category(id: $id) {{ {CATEGORY_FIELDS} }} }}",
            {"id": category},
            world.admin.token,
        )
    )["category"]
    got_task = (
        await client.query(
            "query($id: ID!) { task(id: $id) { id key title url state description } }",
            {"id": task},
            world.admin.token,
        )
    )["task"]
    lost = {
        **{
            f"category.{k}": (v, got_category[k])
            for c in category_changes
            for k, v in c.items()
            if got_category[k] != v
        },
        **{
            f"task.{k}": (v, got_task[k])
            for c in task_changes
            for k, v in c.items()
            if got_task[k] != v
        },
    }
    _report(served, "updateCategory/updateTask fields", requests=len(calls), lost=lost)
    assert lost == {}

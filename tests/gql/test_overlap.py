"""The overlap policy per team (issue 20, item 4): ALLOW, WARN (``warnings``) or REFUSE
(OVERLAP naming the overlapping entry), on every write that creates an entry or moves its
interval or owner.

The setting (bad values coded), the rule's SQL against its Python form, each policy on
each write (logTimeEntry, startTimer, updateTimeEntry, continueTimeEntry,
duplicateTimeEntry, restoreTimeEntry, the externalRef upsert), touching intervals, running
timers up to their team's limit, other users', other teams' and deleted entries, an entry
never overlapping itself, replays answering the same warnings, REFUSE changing nothing
and publishing nothing, and the compiled logTimeEntry path (ALLOW teams only). Both
databases; the races of simultaneous clients on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, func, select

from gql.cli import main
from gql.server.app import create_app
from gql.settings import Settings
from store import accounts, overlap
from store.db import Database
from store.errors import DomainError, ErrorCode
from store.events import EntryEvent
from store.ids import new_id
from store.models import Team, TeamEvent, TimeEntry
from tests.conftest import GQL, QUIET, gql_over
from tests.factories import TeamWorld, make_team, make_user

ERRORS = "userErrors { code field message }"
WARNINGS = "warnings { code field message timeEntryId }"
ENTRY = "id startedAt stoppedAt running version deletedAt user { id }"
LOG = f"""mutation($input: LogTimeEntryInput!) {{ logTimeEntry(input: $input) {{
  replayed {ERRORS} {WARNINGS} timeEntry {{ {ENTRY} }} }} }}"""
START = f"""mutation($input: StartTimerInput!) {{ startTimer(input: $input) {{
  replayed {ERRORS} {WARNINGS} timeEntry {{ {ENTRY} }} stoppedEntry {{ {ENTRY} }} }} }}"""
STOP = f"""mutation($input: StopTimerInput!) {{ stopTimer(input: $input) {{
  {ERRORS} {WARNINGS} timeEntry {{ {ENTRY} }} }} }}"""
UPDATE = f"""mutation($input: UpdateTimeEntryInput!) {{ updateTimeEntry(input: $input) {{
  replayed {ERRORS} {WARNINGS} timeEntry {{ {ENTRY} }} }} }}"""
DELETE = f"""mutation($input: DeleteTimeEntryInput!) {{ deleteTimeEntry(input: $input) {{
  {ERRORS} {WARNINGS} timeEntry {{ {ENTRY} }} }} }}"""
RESTORE = f"""mutation($input: RestoreTimeEntryInput!) {{ restoreTimeEntry(input: $input) {{
  {ERRORS} {WARNINGS} timeEntry {{ {ENTRY} }} }} }}"""
CONTINUE = f"""mutation($input: ContinueTimeEntryInput!) {{ continueTimeEntry(input: $input) {{
  replayed {ERRORS} {WARNINGS} timeEntry {{ {ENTRY} }} stoppedEntry {{ {ENTRY} }} }} }}"""
DUPLICATE = f"""mutation($input: DuplicateTimeEntryInput!) {{ duplicateTimeEntry(input: $input) {{
  replayed {ERRORS} {WARNINGS} timeEntry {{ {ENTRY} }} }} }}"""
TEAM_FIELDS = "id overlapPolicy maxTimerHours"
CREATE_TEAM = f"""mutation($input: CreateTeamInput!) {{ createTeam(input: $input) {{
  {ERRORS} team {{ {TEAM_FIELDS} }} }} }}"""
UPDATE_TEAM = f"""mutation($input: UpdateTeamInput!) {{ updateTeam(input: $input) {{
  {ERRORS} team {{ {TEAM_FIELDS} }} }} }}"""
TEAM = f"query($id: ID!) {{ team(id: $id) {{ {TEAM_FIELDS} }} }}"

# A Monday in the past: logged entries may lie anywhere back.
DAY = datetime(2026, 11, 2, tzinfo=UTC)


def at(hour: float) -> datetime:
    return DAY + timedelta(hours=hour)


def text(instant: datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@dataclass
class Api:
    gql: GQL
    events: list[EntryEvent]
    app: Any

    async def mutate(self, doc: str, input: dict[str, Any], token: str) -> dict[str, Any]:
        body = await self.gql(doc, {"input": input}, token=token)
        assert body.get("errors") is None, body["errors"]
        [payload] = body["data"].values()
        result: dict[str, Any] = payload
        return result

    async def log(
        self, w: TeamWorld, token: str, start: datetime, minutes: int, **extra: Any
    ) -> dict[str, Any]:
        data = {
            "teamId": w.id,
            "taskId": w.tasks["T-1"],
            "startedAt": text(start),
            "minutes": minutes,
            **extra,
        }
        return await self.mutate(LOG, data, token)


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[Api]:
    """The API (the compiled write path on, as in production), with the events it
    publishes after each commit."""
    app = create_app(Settings(database_url=database_url, **QUIET))
    events: list[EntryEvent] = []
    app.state.services.events.listen(events.append)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://t") as client,
    ):
        yield Api(gql_over(client), events, app)


def ok(payload: dict[str, Any]) -> dict[str, Any]:
    assert payload["userErrors"] == [], payload["userErrors"]
    return payload


def refused_overlap(payload: dict[str, Any], field: list[str], *named: dict[str, Any]) -> None:
    """OVERLAP on ``field``, one error per overlapping entry, each naming it by id, start
    and stop (or ``running since``); no entry in the payload."""
    errors = payload["userErrors"]
    assert [e["code"] for e in errors] == ["OVERLAP"] * len(named), errors
    assert all(e["field"] == field for e in errors), errors
    for error, entry in zip(errors, named, strict=True):
        assert_names(error["message"], entry)
    assert payload.get("timeEntry") is None
    assert payload.get("warnings") == []


def assert_names(message: str, entry: dict[str, Any]) -> None:
    assert entry["id"] in message, message
    assert entry["startedAt"] in message, message
    if entry["stoppedAt"] is None:
        assert "running since" in message, message
    else:
        assert entry["stoppedAt"] in message, message


def warned(payload: dict[str, Any], field: list[str], *named: dict[str, Any]) -> None:
    ok(payload)
    warnings = payload["warnings"]
    assert [(w["code"], w["field"]) for w in warnings] == [("OVERLAP", field)] * len(named)
    assert [w["timeEntryId"] for w in warnings] == [e["id"] for e in named]
    for warning, entry in zip(warnings, named, strict=True):
        assert_names(warning["message"], entry)


async def state(db: Database, team_id: str) -> tuple[list[tuple[Any, ...]], int]:
    """Every entry of the team as stored, and the count of its committed events."""
    async with db.read() as s:
        rows = (
            await s.exec(
                select(TimeEntry).where(TimeEntry.team_id == team_id).order_by(TimeEntry.id)
            )  # type: ignore[arg-type]
        ).all()
        events = (
            await s.exec(
                select(func.count()).select_from(TeamEvent).where(TeamEvent.team_id == team_id)
            )
        ).one()
    entries = [(e.id, e.user_id, e.started_at, e.stopped_at, e.deleted_at, e.version) for e in rows]
    return entries, int(events)


async def team_with(db: Database, policy: str, **kwargs: Any) -> TeamWorld:
    return await make_team(db, "Acme", prefix="a", overlap_policy=policy, **kwargs)


# --- the setting ----------------------------------------------------------------------------


async def test_overlap_policy_is_a_team_setting_for_admins(db: Database, api: Api) -> None:
    w = await make_team(db, "Acme", prefix="a")
    owner = w.owner.token
    team = (await api.gql(TEAM, {"id": w.id}, token=w.member.token))["data"]["team"]
    assert team["overlapPolicy"] == "ALLOW"  # the default: what every write did before

    created = ok(
        await api.mutate(CREATE_TEAM, {"name": "Strict", "overlapPolicy": "REFUSE"}, owner)
    )
    assert created["team"]["overlapPolicy"] == "REFUSE"
    for policy in ("WARN", "REFUSE", "ALLOW"):
        changed = ok(await api.mutate(UPDATE_TEAM, {"id": w.id, "overlapPolicy": policy}, owner))
        assert changed["team"]["overlapPolicy"] == policy
    # A member reads it, and may not change it.
    refusal = await api.mutate(UPDATE_TEAM, {"id": w.id, "overlapPolicy": "REFUSE"}, w.member.token)
    assert [e["code"] for e in refusal["userErrors"]] == ["FORBIDDEN"]
    # A value outside the enum never reaches the store: a coded top-level error, no data.
    for doc, input in (
        (CREATE_TEAM, {"name": "Bad", "overlapPolicy": "SOMETIMES"}),
        (UPDATE_TEAM, {"id": w.id, "overlapPolicy": "refuse"}),
    ):
        body = await api.gql(doc, {"input": input}, token=owner)
        assert body.get("data") is None
        assert body["errors"][0]["extensions"]["code"] in {
            "BAD_USER_INPUT",
            "GRAPHQL_VALIDATION_FAILED",
        }
    async with db.read() as s:
        assert (await s.exec(select(func.count()).select_from(Team))).one() == 2
    team = (await api.gql(TEAM, {"id": w.id}, token=owner))["data"]["team"]
    assert team["overlapPolicy"] == "ALLOW"


async def test_the_store_and_the_database_refuse_other_policy_values(db: Database) -> None:
    owner = await make_user(db, "Owner", "owner@example.test")
    async with db.write() as s:
        with pytest.raises(DomainError) as refused:
            await accounts.create_team(s, name="Bad", owner_id=owner.id, overlap_policy="NEVER")
        assert refused.value.code == ErrorCode.VALIDATION
        assert refused.value.field == ["overlapPolicy"]  # the CLI's field, no "input"
    # The CHECK constraint (migration 0013) guards writers that skip the store's check.
    async with db.write() as s:
        s.add(Team(id=new_id(), name="Raw", overlap_policy="NEVER"))
        with pytest.raises(IntegrityError):
            await s.flush()
        await s.rollback()
    async with db.read() as s:
        assert (await s.exec(select(func.count()).select_from(Team))).one() == 0


def test_the_cli_creates_a_team_with_a_policy(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    db = ("--database-url", database_url)
    assert main(["user", "create", "--nickname", "O", "--email", "o@x.test", *db]) == 0
    team = ["team", "create", "--name", "Strict", "--owner-email", "o@x.test", *db]
    capsys.readouterr()
    assert main([*team, "--overlap-policy", "REFUSE"]) == 0
    team_id = capsys.readouterr().out.strip()
    with pytest.raises(SystemExit) as refused:  # argparse's choices: usage error, exit 2
        main([*team, "--overlap-policy", "SOMETIMES"])
    assert refused.value.code == 2

    async def stored() -> list[tuple[str, str]]:
        database = Database(database_url)
        try:
            async with database.read() as s:
                rows = (await s.exec(select(Team.id, Team.overlap_policy))).all()
                return [(r[0], r[1]) for r in rows]
        finally:
            await database.dispose()

    assert asyncio.run(stored()) == [(team_id, "REFUSE")]


# --- the rule: its SQL form against its Python form ------------------------------------------


async def test_the_sql_form_agrees_with_the_python_form(db: Database) -> None:
    """For a grid of intervals (touching, inside, around, a day long, before, after), the
    entries ``overlapping`` finds are exactly those ``overlaps(occupied(...))`` names:
    stopped and running entries (up to the team's limit), never deleted ones, other users'
    or other teams'."""
    w = await team_with(db, "REFUSE", max_timer_hours=3)
    other = await make_team(db, "Other", prefix="b")
    spans = [(0, 1), (1, 2), (1.5, 1.75), (3, 27), (5, 5 + 1 / 3600), (30, 31)]
    users = [w.member.id, w.admin.id, w.owner.id]
    async with db.write() as s:
        team = await s.get(Team, w.id)
        assert team is not None
        rows: list[TimeEntry] = []
        for user_id, (begin, end) in itertools.product(users, spans):
            rows.append(_entry(w.id, user_id, at(begin), at(end)))
        # One running timer each (at most one per user): at 2, 6 and 28 hours.
        for user_id, begin in zip(users, (2, 6, 28), strict=True):
            rows.append(_entry(w.id, user_id, at(begin), None))
        deleted = _entry(w.id, w.member.id, at(0), at(40))
        deleted.deleted_at = at(41)
        elsewhere = _entry(other.id, w.member.id, at(0), at(40))
        s.add_all([*rows, deleted, elsewhere])
        await s.commit()
    edges = [0, 0.5, 1, 1.5, 1.75, 2, 2.5, 3, 4.99, 5, 5.5, 6, 8.9, 9, 9.1, 27, 29, 30, 31, 33]
    compared = 0
    async with db.read() as s:
        for begin, end in itertools.combinations(edges, 2):
            interval = (at(begin), at(end))
            for user_id in users:
                found = await overlap.overlapping(s, team=team, user_id=user_id, interval=interval)
                expected = sorted(
                    (e.started_at, e.id)
                    for e in rows
                    if e.user_id == user_id
                    and overlap.overlaps(
                        overlap.occupied(e.started_at, e.stopped_at, team.max_timer_hours),
                        interval,
                    )
                )
                assert [(e.started_at, e.id) for e in found] == expected[: overlap.MAX_NAMED]
                compared += len(expected)
    assert compared > 500  # the grid does compare entries, not empty sets


def _entry(team_id: str, user_id: str, start: datetime, stop: datetime | None) -> TimeEntry:
    return TimeEntry(
        id=new_id(),
        team_id=team_id,
        user_id=user_id,
        scope_type="CATEGORY",
        started_at=start,
        stopped_at=stop,
        duration_seconds=None if stop is None else int((stop - start).total_seconds()),
        work_date=start.date(),
        billable=False,
        input_type="MANUAL",
    )


def test_intervals_are_half_open_and_a_timer_runs_to_its_limit() -> None:
    assert not overlap.overlaps((at(0), at(1)), (at(1), at(2)))
    assert overlap.overlaps((at(0), at(1)), (at(0.99), at(2)))
    assert overlap.occupied(at(0), None, 8) == (at(0), at(8))
    assert overlap.occupied(at(0), at(1), 8) == (at(0), at(1))


# --- logTimeEntry -----------------------------------------------------------------------------


async def test_allow_accepts_overlaps_without_warnings(db: Database, api: Api) -> None:
    w = await make_team(db, "Acme", prefix="a")
    me = w.member.token
    first = ok(await api.log(w, me, at(9), 60))
    second = ok(await api.log(w, me, at(9.5), 60))
    assert first["warnings"] == [] and second["warnings"] == []


async def test_refuse_names_the_overlapping_entry_and_changes_nothing(
    db: Database, api: Api
) -> None:
    w = await team_with(db, "REFUSE")
    me = w.member.token
    first = ok(await api.log(w, me, at(9), 60))["timeEntry"]
    second = ok(await api.log(w, me, at(11), 60))["timeEntry"]
    before = await state(db, w.id)
    published = len(api.events)
    # Over the first; over both (each named, earliest first); by workDate (09:00 team time).
    refused_overlap(await api.log(w, me, at(9.5), 60), ["input", "startedAt"], first)
    refused_overlap(await api.log(w, me, at(9.5), 120), ["input", "startedAt"], first, second)
    by_date = {"teamId": w.id, "taskId": w.tasks["T-1"], "workDate": "2026-11-02", "minutes": 5}
    refused_overlap(await api.mutate(LOG, by_date, me), ["input", "workDate"], first)
    # With an idempotency key: refused, and nothing stored to replay.
    keyed = await api.log(w, me, at(8.5), 31, idempotencyKey="k-1")
    refused_overlap(keyed, ["input", "startedAt"], first)
    assert await state(db, w.id) == before
    assert len(api.events) == published
    # The same key once the slot is free: a new run, not a replay of the refusal.
    assert ok(await api.log(w, me, at(8.5), 30, idempotencyKey="k-1"))["replayed"] is False
    # Touching entries do not overlap: it ends when the first begins, and one begins
    # when the first ends.
    ok(await api.log(w, me, at(10), 60))


async def test_warn_accepts_and_names_each_overlapping_entry_and_replays_them(
    db: Database, api: Api
) -> None:
    w = await team_with(db, "WARN")
    me = w.member.token
    first = ok(await api.log(w, me, at(9), 60))["timeEntry"]
    second = ok(await api.log(w, me, at(11), 60))["timeEntry"]
    over = await api.log(w, me, at(9.5), 120, idempotencyKey="warn-1")
    warned(over, ["input", "startedAt"], first, second)
    assert over["replayed"] is False
    replay = await api.log(w, me, at(9.5), 120, idempotencyKey="warn-1")
    assert replay["replayed"] is True
    assert replay["warnings"] == over["warnings"]
    assert replay["timeEntry"]["id"] == over["timeEntry"]["id"]
    # Touching: no warning.
    assert ok(await api.log(w, me, at(12), 30))["warnings"] == []


async def test_a_repeat_by_client_id_answers_the_overlaps_again(db: Database, api: Api) -> None:
    w = await team_with(db, "WARN")
    me = w.member.token
    first = ok(await api.log(w, me, at(9), 60))["timeEntry"]
    entry_id = new_id()
    logged = await api.log(w, me, at(9.5), 60, id=entry_id)
    warned(logged, ["input", "startedAt"], first)
    again = await api.log(w, me, at(9.5), 60, id=entry_id)
    assert again["replayed"] is True and again["warnings"] == logged["warnings"]
    # A timer by id, started over the first: its repeat answers the same warning.
    timer_id = new_id()
    start = {"teamId": w.id, "taskId": w.tasks["T-1"], "id": timer_id}
    start["startedAt"] = text(now() - timedelta(hours=1))
    earlier = ok(await api.log(w, me, now() - timedelta(minutes=50), 10))["timeEntry"]
    started = await api.mutate(START, start, me)
    warned(started, ["input", "startedAt"], earlier)
    repeat = await api.mutate(START, start, me)
    assert repeat["replayed"] is True and repeat["warnings"] == started["warnings"]


async def test_only_the_users_own_live_entries_of_the_team_count(db: Database, api: Api) -> None:
    w = await team_with(db, "REFUSE")
    other = await make_team(db, "Other", prefix="b", overlap_policy="REFUSE")
    async with db.write() as s:
        await accounts.add_member(s, team_id=other.id, user_id=w.member.id)
        await s.commit()
    me = w.member.token
    # Another user's entry, the member's entry in another team, a deleted entry.
    ok(await api.log(w, w.admin.token, at(9), 60))
    ok(await api.log(other, me, at(9), 60))
    gone = ok(await api.log(w, me, at(9), 60))["timeEntry"]
    ok(await api.mutate(DELETE, {"id": gone["id"]}, me))
    assert ok(await api.log(w, me, at(9), 60))["warnings"] == []
    # An admin logging for the member meets the member's entries, not the admin's own.
    mine = {"teamId": w.id, "categoryId": w.categories["dev"], "userId": w.member.id}
    mine |= {"startedAt": text(at(9.25)), "minutes": 10}
    payload = await api.mutate(LOG, mine, w.admin.token)
    assert [e["code"] for e in payload["userErrors"]] == ["OVERLAP"]


async def test_an_external_ref_repeat_that_moves_the_entry_is_checked(
    db: Database, api: Api
) -> None:
    w = await team_with(db, "REFUSE")
    me = w.member.token
    ref = {"provider": "jira", "externalType": "worklog", "externalId": "W-1"}
    logged = ok(await api.log(w, me, at(9), 60, externalRef=ref))["timeEntry"]
    other = ok(await api.log(w, me, at(11), 60))["timeEntry"]
    # The same span again (its own interval is no overlap), then a move onto the other.
    same = ok(await api.log(w, me, at(9), 60, externalRef=ref, description="again"))
    assert same["timeEntry"]["id"] == logged["id"]
    before = await state(db, w.id)
    refused_overlap(
        await api.log(w, me, at(11.5), 60, externalRef=ref), ["input", "startedAt"], other
    )
    assert await state(db, w.id) == before


# --- startTimer and continueTimeEntry -----------------------------------------------------


async def test_start_timer_under_refuse(db: Database, api: Api) -> None:
    w = await team_with(db, "REFUSE", max_timer_hours=2)
    me = w.member.token
    t0 = now()
    logged = ok(await api.log(w, me, t0 - timedelta(minutes=60), 30))["timeEntry"]
    start = {"teamId": w.id, "taskId": w.tasks["T-1"]}
    before = await state(db, w.id)
    published = len(api.events)
    # A timer from before the entry's end runs over it.
    early = start | {"startedAt": text(t0 - timedelta(minutes=45))}
    refused_overlap(await api.mutate(START, early, me), ["input", "startedAt"], logged)
    assert await state(db, w.id) == before and len(api.events) == published
    # At the entry's stop: touching, accepted.
    first = ok(await api.mutate(START, start | {"startedAt": logged["stoppedAt"]}, me))
    assert first["warnings"] == []
    timer = first["timeEntry"]
    # Switching timers stops the running one at the new start: no overlap.
    switched = ok(await api.mutate(START, start | {"taskId": w.tasks["T-2"]}, me))
    assert switched["stoppedEntry"]["id"] == timer["id"] and switched["warnings"] == []
    running = switched["timeEntry"]
    # The running timer occupies [start, start + 2 hours): a planned entry inside that
    # reach overlaps it; one from the limit on does not.
    began = datetime.fromisoformat(running["startedAt"])
    refused_overlap(
        await api.log(w, me, began + timedelta(minutes=90), 20), ["input", "startedAt"], running
    )
    ok(await api.log(w, me, began + timedelta(hours=2), 20))


async def test_start_and_continue_under_warn(db: Database, api: Api) -> None:
    w = await team_with(db, "WARN")
    me = w.member.token
    t0 = now()
    logged = ok(await api.log(w, me, t0 - timedelta(minutes=60), 30))["timeEntry"]
    start = {"teamId": w.id, "taskId": w.tasks["T-1"], "idempotencyKey": "s-1"}
    start["startedAt"] = text(t0 - timedelta(minutes=45))
    started = await api.mutate(START, start, me)
    warned(started, ["input", "startedAt"], logged)
    replay = await api.mutate(START, start, me)
    assert replay["replayed"] is True and replay["warnings"] == started["warnings"]
    ok(await api.mutate(STOP, {"stoppedAt": text(t0 - timedelta(minutes=40))}, me))
    # continueTimeEntry: startTimer's rule; a refusal or warning about the sent startedAt
    # names startedAt.
    cont = {"id": logged["id"], "startedAt": text(t0 - timedelta(minutes=35))}
    warned(await api.mutate(CONTINUE, cont, me), ["input", "startedAt"], logged)


async def test_continue_under_refuse(db: Database, api: Api) -> None:
    w = await team_with(db, "REFUSE")
    me = w.member.token
    t0 = now()
    logged = ok(await api.log(w, me, t0 - timedelta(minutes=60), 30))["timeEntry"]
    before = await state(db, w.id)
    cont = {"id": logged["id"], "startedAt": text(t0 - timedelta(minutes=45))}
    refused_overlap(await api.mutate(CONTINUE, cont, me), ["input", "startedAt"], logged)
    assert await state(db, w.id) == before
    cont["startedAt"] = logged["stoppedAt"]
    continued = ok(await api.mutate(CONTINUE, cont, me))
    assert continued["timeEntry"]["startedAt"] == logged["stoppedAt"]


# --- updateTimeEntry ------------------------------------------------------------------------


async def test_update_under_refuse(db: Database, api: Api) -> None:
    w = await team_with(db, "REFUSE")
    me = w.member.token
    first = ok(await api.log(w, me, at(9), 60))["timeEntry"]
    second = ok(await api.log(w, me, at(11), 60))["timeEntry"]
    before = await state(db, w.id)
    published = len(api.events)
    # Moved onto the first, lengthened over the second: refused on the field sent.
    moved = {"id": second["id"], "startedAt": text(at(9.5))}
    refused_overlap(await api.mutate(UPDATE, moved, me), ["input", "startedAt"], first)
    longer = {"id": first["id"], "durationSeconds": 3 * 3600}
    refused_overlap(await api.mutate(UPDATE, longer, me), ["input", "durationSeconds"], second)
    assert await state(db, w.id) == before and len(api.events) == published
    # An entry never overlaps itself: lengthened up to the second (touching), then moved
    # back over its own old span.
    ok(await api.mutate(UPDATE, {"id": first["id"], "durationSeconds": 2 * 3600}, me))
    back = ok(await api.mutate(UPDATE, {"id": first["id"], "startedAt": text(at(8.5))}, me))
    assert back["timeEntry"]["stoppedAt"] == text(at(10.5)) and back["warnings"] == []


async def test_update_of_an_entry_onto_another_users_entries(db: Database, api: Api) -> None:
    w = await team_with(db, "REFUSE")
    me, admin = w.member.token, w.admin.token
    mine = ok(await api.log(w, me, at(9), 60))["timeEntry"]
    theirs = ok(await api.log(w, admin, at(9.5), 60))["timeEntry"]
    before = await state(db, w.id)
    # The admin gives the member's entry to the admin, who has an entry there.
    refused_overlap(
        await api.mutate(UPDATE, {"id": mine["id"], "userId": w.admin.id}, admin),
        ["input", "userId"],
        theirs,
    )
    assert await state(db, w.id) == before
    # A change that moves nothing is never checked: the description of an entry that
    # overlaps one logged while the team allowed it.
    ok(await api.mutate(UPDATE_TEAM, {"id": w.id, "overlapPolicy": "ALLOW"}, w.owner.token))
    ok(await api.log(w, me, at(9.5), 60))
    ok(await api.mutate(UPDATE_TEAM, {"id": w.id, "overlapPolicy": "REFUSE"}, w.owner.token))
    edited = ok(await api.mutate(UPDATE, {"id": mine["id"], "description": "notes"}, me))
    assert edited["timeEntry"]["version"] == mine["version"] + 1


async def test_update_under_warn(db: Database, api: Api) -> None:
    w = await team_with(db, "WARN")
    me = w.member.token
    first = ok(await api.log(w, me, at(9), 60))["timeEntry"]
    second = ok(await api.log(w, me, at(11), 60))["timeEntry"]
    moved = await api.mutate(UPDATE, {"id": second["id"], "startedAt": text(at(9.5))}, me)
    warned(moved, ["input", "startedAt"], first)
    assert moved["timeEntry"]["startedAt"] == text(at(9.5))


# --- duplicateTimeEntry and restoreTimeEntry ------------------------------------------------


async def test_duplicate_under_each_policy(db: Database, api: Api) -> None:
    for policy, prefix in (("ALLOW", "a"), ("WARN", "b"), ("REFUSE", "c")):
        w = await make_team(db, policy, prefix=prefix, overlap_policy=policy)
        me = w.member.token
        source = ok(await api.log(w, me, at(9), 60))["timeEntry"]
        before = await state(db, w.id)
        copy = await api.mutate(DUPLICATE, {"id": source["id"], "startedAt": text(at(9.5))}, me)
        if policy == "ALLOW":
            assert ok(copy)["warnings"] == []
        elif policy == "WARN":
            warned(copy, ["input", "startedAt"], source)
        else:
            refused_overlap(copy, ["input", "startedAt"], source)
            assert await state(db, w.id) == before
        # Right before the source (and the copy): touching, accepted everywhere.
        later = ok(await api.mutate(DUPLICATE, {"id": source["id"], "startedAt": text(at(8))}, me))
        assert later["warnings"] == []


async def test_restore_under_refuse_and_warn(db: Database, api: Api) -> None:
    w = await team_with(db, "REFUSE")
    me = w.member.token
    gone = ok(await api.log(w, me, at(9), 60))["timeEntry"]
    ok(await api.mutate(DELETE, {"id": gone["id"]}, me))
    taken = ok(await api.log(w, me, at(9.5), 60))["timeEntry"]  # the deleted one never counts
    before = await state(db, w.id)
    refused_overlap(await api.mutate(RESTORE, {"id": gone["id"]}, me), ["input", "id"], taken)
    assert await state(db, w.id) == before
    ok(await api.mutate(UPDATE_TEAM, {"id": w.id, "overlapPolicy": "WARN"}, w.owner.token))
    restored = await api.mutate(RESTORE, {"id": gone["id"]}, me)
    warned(restored, ["input", "id"], taken)
    assert restored["timeEntry"]["deletedAt"] is None


# --- the compiled logTimeEntry path ---------------------------------------------------------


def _compiled_logs(api: Api) -> int:
    return int(api.app.state.graphql.fast_path.log_writes)


async def test_the_compiled_path_answers_allow_teams_only(db: Database, api: Api) -> None:
    allow = await make_team(db, "Allow", prefix="a")
    refuse = await make_team(db, "Refuse", prefix="b", overlap_policy="REFUSE")
    compiled = _compiled_logs(api)
    ok(await api.log(allow, allow.member.token, at(9), 60))
    ok(await api.log(allow, allow.member.token, at(9.5), 60))  # ALLOW: accepted, compiled
    assert _compiled_logs(api) == compiled + 2
    first = ok(await api.log(refuse, refuse.member.token, at(9), 60))["timeEntry"]
    refused_overlap(
        await api.log(refuse, refuse.member.token, at(9.5), 60), ["input", "startedAt"], first
    )
    # Both answered by the standard path, which applies the policy.
    assert _compiled_logs(api) == compiled + 2


# --- races (PostgreSQL: real simultaneous writers) ------------------------------------------


def _occupied(row: TimeEntry, hours: int) -> overlap.Interval:
    return overlap.occupied(row.started_at, row.stopped_at, hours)


async def _assert_no_two_overlap(db: Database, team_id: str, user_id: str, hours: int) -> int:
    async with db.read() as s:
        rows = (
            await s.exec(
                select(TimeEntry).where(
                    TimeEntry.team_id == team_id,
                    TimeEntry.user_id == user_id,
                    col(TimeEntry.deleted_at).is_(None),
                )
            )
        ).all()
    for a, b in itertools.combinations(rows, 2):
        assert not overlap.overlaps(_occupied(a, hours), _occupied(b, hours)), (a, b)
    return len(rows)


@pytest.mark.parametrize("dialect", ["postgresql"])  # real concurrency
async def test_simultaneous_overlapping_logs_have_one_winner(db: Database, api: Api) -> None:
    w = await team_with(db, "REFUSE")
    me = w.member.token
    # Twelve entries that all contain 10:00, each from another start.
    results = await asyncio.gather(
        *(api.log(w, me, at(9) + timedelta(minutes=5 * i), 60 + i) for i in range(12))
    )
    winners = [r for r in results if not r["userErrors"]]
    losers = [r for r in results if r["userErrors"]]
    assert len(winners) == 1
    assert all({e["code"] for e in r["userErrors"]} == {"OVERLAP"} for r in losers)
    winner = winners[0]["timeEntry"]
    assert all(winner["id"] in r["userErrors"][0]["message"] for r in losers)
    assert await _assert_no_two_overlap(db, w.id, w.member.id, 24) == 1


@pytest.mark.parametrize("dialect", ["postgresql"])  # real concurrency
async def test_simultaneous_timers_and_logs_never_leave_two_overlapping(
    db: Database, api: Api
) -> None:
    """Starts (each switch stops the running timer at the new start: no overlap) race logs
    over the same hour; whatever order the user's lock gives them, no two live entries
    overlap, and every refusal is OVERLAP."""
    w = await team_with(db, "REFUSE", max_timer_hours=2)
    me = w.member.token
    t0 = now()
    start = {"teamId": w.id, "taskId": w.tasks["T-1"]}
    writes = []
    for i in range(6):
        began = t0 - timedelta(minutes=50 - i)
        writes.append(api.mutate(START, start | {"startedAt": text(began)}, me))
        writes.append(api.log(w, me, t0 - timedelta(minutes=30 + i), 20 + i))
    results = await asyncio.gather(*writes)
    codes = {e["code"] for r in results for e in r["userErrors"]}
    # A timer from before the running one's start is refused as before (VALIDATION).
    assert codes <= {"OVERLAP", "VALIDATION"}, codes
    assert "OVERLAP" in codes
    assert any(not r["userErrors"] for r in results)
    await _assert_no_two_overlap(db, w.id, w.member.id, 2)

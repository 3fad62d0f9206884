"""The ``punchclock`` command, driven in-process on both databases.

``main`` runs its own event loop (``asyncio.run``), so these tests are synchronous and
check the database with ``asyncio.run`` too.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import uvicorn
from sqlmodel import col, func, select

from gql.cli import build_parser, main
from gql.schema.build import export_sdl
from gql.server import shutdown
from store import demo, history, rules, tokens
from store.db import Database
from store.models import (
    AccessToken,
    Category,
    Comment,
    EntryChange,
    EntryTag,
    Membership,
    ScopeType,
    Tag,
    Task,
    Team,
    TimeEntry,
    User,
)

COMMANDS = ("serve", "migrate", "demo", "user", "team", "member", "token", "export-schema")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def on(url: str, work: Any) -> Any:
    """Run ``work(session)`` in a read session of a fresh Database."""

    async def go() -> Any:
        database = Database(url)
        try:
            async with database.read() as session:
                return await work(session)
        finally:
            await database.dispose()

    return asyncio.run(go())


async def bearer(session: Any, token: str) -> User | None:
    """The user ``token`` authenticates, by the check every request runs."""
    url = session.bind.url.render_as_string(hide_password=False)
    database = Database(url)
    try:
        found = await tokens.authenticate_member(database, token=token)
    finally:
        await database.dispose()
    return found.user if found else None


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    found = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found[name] = sub
                found.update({f"{name} {k}": v for k, v in _subparsers(sub).items()})
    return found


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert f"    {name}" in out
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    out = capsys.readouterr().out
    for option in ("--demo", "--host", "--port", "--workers", "--database-url"):
        assert option in out


def test_every_command_and_option_has_help() -> None:
    commands = _subparsers(build_parser())
    assert set(COMMANDS) <= set(commands)
    assert {"user create", "team create", "member add", "token create"} <= set(commands)
    for name, parser in commands.items():
        assert parser.description, name
        for action in parser._actions:
            if not isinstance(action, argparse._SubParsersAction):
                assert action.help, f"{name} {action.option_strings}"


def test_export_schema_is_the_sdl_exactly(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export-schema"]) == 0
    assert capsys.readouterr().out == export_sdl()


def test_user_team_member_token(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    db = ("--database-url", database_url)
    code, owner_id, _ = run(
        capsys, "user", "create", "--nickname", "Owner", "--email", "O@x.test", *db
    )
    assert code == 0 and len(owner_id.strip()) == 26
    code, mia_id, _ = run(
        capsys,
        "user",
        "create",
        "--nickname",
        "Mia",
        "--email",
        "mia@x.test",
        "--time-zone",
        "Europe/Vienna",
        "--locale",
        "de-AT",
        *db,
    )
    assert code == 0
    code, out, _ = run(
        capsys,
        "team",
        "create",
        "--name",
        "Ops",
        "--owner-email",
        "o@x.test",
        "--time-zone",
        "Europe/Berlin",
        "--week-start",
        "7",
        *db,
    )
    team_id = out.strip()
    assert code == 0 and out == team_id + "\n" and len(team_id) == 26
    code, out, _ = run(
        capsys,
        "member",
        "add",
        "--team-id",
        team_id,
        "--email",
        "mia@x.test",
        "--role",
        "ADMIN",
        "--rate-cents",
        "9000",
        *db,
    )
    assert code == 0 and "ADMIN" in out
    code, out, err = run(
        capsys, "token", "create", "--email", "mia@x.test", "--name", "laptop", *db
    )
    token = out.removesuffix("\n")
    assert code == 0 and err == "" and "\n" not in token and tokens.parse_token(token)

    async def check(session: Any) -> None:
        user = await bearer(session, token)
        assert user is not None and user.id == mia_id.strip()
        assert (user.nickname, user.time_zone, user.locale) == ("Mia", "Europe/Vienna", "de-AT")
        team = await session.get(Team, team_id)
        assert (team.name, team.time_zone, team.week_start) == ("Ops", "Europe/Berlin", 7)
        roles = {
            m.user_id: (m.role, m.rate_cents)
            for m in (await session.exec(select(Membership))).all()
        }
        assert roles == {owner_id.strip(): ("OWNER", None), user.id: ("ADMIN", 9000)}
        [stored] = (await session.exec(select(AccessToken))).all()
        assert stored.name == "laptop" and token not in stored.secret_hash

    on(database_url, check)


def test_errors_are_one_line_and_exit_2(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    db = ("--database-url", database_url)

    def refused(*argv: str) -> str:
        code, out, err = run(capsys, *argv)
        assert code == 2 and out == "", argv
        assert err.startswith("punchclock: ") and err.count("\n") == 1, err
        assert "Traceback" not in err
        return err

    assert "e-mail" in refused("user", "create", "--nickname", "X", "--email", "not-an-email", *db)
    assert run(capsys, "user", "create", "--nickname", "X", "--email", "x@x.test", *db)[0] == 0
    assert "exists" in refused("user", "create", "--nickname", "Y", "--email", "x@x.test", *db)
    assert "time zone" in refused(
        "user", "create", "--nickname", "Y", "--email", "y@x.test", "--time-zone", "Mars/Base", *db
    )
    assert "nobody@x.test" in refused("token", "create", "--email", "nobody@x.test", *db)
    assert "nobody@x.test" in refused(
        "team", "create", "--name", "T", "--owner-email", "nobody@x.test", *db
    )
    assert "No such team" in refused(
        "member", "add", "--team-id", "01JUNKNOWNTEAM0000000000000", "--email", "x@x.test", *db
    )
    assert "unsupported" in refused("migrate", "--database-url", "mysql://x/y")
    assert "unsupported" in refused(
        "token", "create", "--email", "x@x.test", "--database-url", "mysql://x/y"
    )


def test_token_create_takes_a_scope_and_an_expiry(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    db = ("--database-url", database_url)
    assert run(capsys, "user", "create", "--nickname", "A", "--email", "a@x.test", *db)[0] == 0
    before = datetime.now(UTC).replace(microsecond=0)  # the CLI's clock: whole seconds
    made = {}
    for name, options in {
        "plain": (),
        "wall": ("--scope", "READ", "--expires", "90d"),
        "dated": ("--expires", "2099-06-30T18:00:00+02:00"),
    }.items():
        code, out, err = run(
            capsys, "token", "create", "--email", "a@x.test", "--name", name, *options, *db
        )
        assert code == 0 and err == "" and tokens.parse_token(out.strip()), (name, err)
        made[name] = out.strip()
    # An expiry not in the future: one line, exit 2.
    code, out, err = run(
        capsys,
        "token",
        "create",
        "--email",
        "a@x.test",
        "--expires",
        "2020-01-01T00:00:00+00:00",
        *db,
    )
    assert code == 2 and out == "" and "future" in err and err.count("\n") == 1
    # A malformed expiry or scope: argparse's usage error, exit 2.
    for options, says in [
        (("--expires", "2099-01-01T00:00:00"), "offset"),
        (("--expires", "soon"), "duration"),
        (("--scope", "ADMIN"), "invalid choice"),
    ]:
        with pytest.raises(SystemExit) as exited:
            main(["token", "create", "--email", "a@x.test", *options, *db])
        assert exited.value.code == 2 and says in capsys.readouterr().err, options

    async def check(session: Any) -> None:
        stored = {t.name: t for t in (await session.exec(select(AccessToken))).all()}
        assert set(stored) == {"plain", "wall", "dated"}
        assert (stored["plain"].scope, stored["plain"].expires_at) == ("WRITE", None)
        wall = stored["wall"]
        assert wall.scope == "READ" and wall.expires_at is not None
        assert (
            before + timedelta(days=90) <= wall.expires_at <= datetime.now(UTC) + timedelta(days=90)
        )
        assert stored["dated"].expires_at == datetime(2099, 6, 30, 16, tzinfo=UTC)
        for name in made:
            assert await bearer(session, made[name]) is not None

    on(database_url, check)


def test_an_unmigrated_database_says_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    code, _, err = run(capsys, "token", "create", "--email", "x@x.test", "--database-url", url)
    assert code == 2 and "punchclock migrate" in err and err.count("\n") == 1
    assert run(capsys, "migrate", "--database-url", url)[0] == 0
    assert run(capsys, "migrate", "--database-url", url)[0] == 0  # a second time is a no-op
    code, out, _ = run(
        capsys, "user", "create", "--nickname", "A", "--email", "a@x.test", "--database-url", url
    )
    assert code == 0 and len(out.strip()) == 26


async def _check_demo(session: Any, *, now: datetime) -> None:
    """Everything the demo promises, read back from the database."""
    [team] = (await session.exec(select(Team))).all()
    assert team.name == "Punchclock Demo" and team.time_zone == "Europe/Berlin"
    users = {u.id: u for u in (await session.exec(select(User))).all()}
    members = {m.user_id: m for m in (await session.exec(select(Membership))).all()}
    assert sorted(m.role for m in members.values()) == ["ADMIN", "MEMBER", "OWNER"]
    assert set(members) == set(users)
    categories = list((await session.exec(select(Category))).all())
    assert sum(c.archived for c in categories) == 1
    assert any(c.parent_id for c in categories) and any(c.billable is False for c in categories)
    tasks = list((await session.exec(select(Task))).all())
    assert len(tasks) == 30 and len({t.category_id for t in tasks}) >= 8
    assert all(t.key.startswith("https://") for t in tasks)

    rows = list(
        (
            await session.exec(
                select(TimeEntry).order_by(col(TimeEntry.user_id), col(TimeEntry.started_at))
            )
        ).all()
    )
    assert 1800 <= len(rows) <= 2200
    [running] = [r for r in rows if r.stopped_at is None]
    assert running.duration_seconds is None and running.started_at <= now
    zone = ZoneInfo(team.time_zone)
    for row in rows:
        assert row.started_at.tzinfo is not None and row.started_at.microsecond == 0
        assert row.work_date == row.started_at.astimezone(zone).date()
        assert row.started_at >= now - timedelta(weeks=8, days=1)
        if row is not running:
            assert row.stopped_at is not None and row.duration_seconds is not None
            assert 15 * 60 <= row.duration_seconds <= 4 * 3600
            assert row.stopped_at - row.started_at == timedelta(seconds=row.duration_seconds)
            assert row.stopped_at.astimezone(zone).weekday() < 5
        assert (row.scope_type == ScopeType.TASK.value) == (row.task_id is not None)
        assert (row.scope_type == ScopeType.CATEGORY.value) == (row.category_id is not None)
    for user_id, group in itertools.groupby(rows, key=lambda r: r.user_id):
        for a, b in itertools.pairwise(group):
            assert a.stopped_at is not None and a.stopped_at <= b.started_at, user_id
    statuses = Counter(r.status for r in rows)
    assert statuses["DRAFT"] + statuses["SUBMITTED"] + statuses["APPROVED"] > 0.95 * len(rows)
    assert min(statuses[s] for s in ("DRAFT", "SUBMITTED", "APPROVED")) > 100
    assert set(Counter(r.input_type for r in rows)) == {"REALTIME", "MANUAL", "AUTOMATION"}
    assert min(Counter(r.scope_type for r in rows).values()) > 200

    # Billable and rate as the contract resolves them for entries made through the API.
    task_category = {t.id: t.category_id for t in tasks}
    expected: dict[tuple[str, str | None], tuple[bool, int]] = {}
    for row in rows:
        category_id = task_category[row.task_id] if row.task_id else row.category_id
        key = (row.user_id, category_id)
        if key not in expected:
            member = await session.get(Membership, (team.id, row.user_id))
            decided = rules.billing(
                team=team,
                member_rate=member.rate_cents if member else None,
                chain=await rules.category_chain(session, team_id=team.id, category_id=category_id),
                explicit_billable=None,
            )
            expected[key] = (decided.billable, decided.rate_snapshot_cents)
        assert (row.billable, row.rate_snapshot_cents) == expected[key]
    assert len({rate for _, rate in expected.values()}) >= 4
    assert {billable for billable, _ in expected.values()} == {True, False}

    comments = (await session.exec(select(Comment))).all()
    assert len(comments) >= 5 and all(c.created_at <= now for c in comments)

    # Tags on about three entries in five; each entry's creation in its history.
    tags = {t.id: t for t in (await session.exec(select(Tag))).all()}
    assert len(tags) == 5 and all(t.team_id == team.id for t in tags.values())
    links = list((await session.exec(select(EntryTag))).all())
    tagged = {link.entry_id for link in links}
    assert 0.5 * len(rows) <= len(tagged) <= 0.7 * len(rows)
    assert {link.tag_id for link in links} == set(tags)
    changes = {c.entry_id: c for c in (await session.exec(select(EntryChange))).all()}
    assert set(changes) == {r.id for r in rows}
    for row in rows:
        change = changes[row.id]
        assert (change.action, change.user_id, change.at) == (
            "CREATED",
            row.user_id,
            row.created_at,
        )
        shown = {c["field"]: c["to"] for c in change.changes}
        assert shown["startedAt"] == history.api_value(row.started_at)
        assert ("tagIds" in shown) == (row.id in tagged)


def test_demo_command(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    before = datetime.now(UTC)
    code, out, _ = run(capsys, "demo", "--database-url", database_url)
    assert code == 0
    printed = {
        line.split()[0]: line.split("token: ")[1] for line in out.splitlines() if "token: " in line
    }
    assert set(printed) == {"OWNER", "ADMIN", "MEMBER"}

    async def check(session: Any) -> None:
        await _check_demo(session, now=datetime.now(UTC))
        first = (await session.exec(select(func.min(TimeEntry.started_at)))).one()
        # The demo's first day is eight weeks back, from the morning: a day of slack, as
        # in _check_demo, or this fails when run later in the day than that morning.
        assert first >= before.replace(microsecond=0) - timedelta(weeks=8, days=1)
        roles = {m.user_id: m.role for m in (await session.exec(select(Membership))).all()}
        for role, token in printed.items():
            user = await bearer(session, token)
            assert user is not None and roles[user.id] == role

    on(database_url, check)
    code, out, err = run(capsys, "demo", "--database-url", database_url)
    assert code == 2 and out == "" and "exists already" in err and err.count("\n") == 1


async def test_seed_demo_with_a_session_factory(db: Database) -> None:
    # The eight weeks span the switch to summer time (29 March): work dates are Berlin's.
    now = datetime(2026, 4, 10, 6, 15, 3, 999, tzinfo=UTC)
    async with db.read() as session:
        assert not await demo.has_any_team(session)
    result = await demo.seed_demo(db.write, now=now)
    assert [u.role for u in result.users] == ["OWNER", "ADMIN", "MEMBER"]
    assert len({u.token for u in result.users}) == 3 and 1800 <= result.entries <= 2200
    async with db.read() as session:
        assert await demo.has_any_team(session)
        await _check_demo(session, now=now)
        count = (await session.exec(select(func.count()).select_from(TimeEntry))).one()
        assert count == result.entries
    with pytest.raises(demo.DemoExists, match="exists already"):
        await demo.seed_demo(db, now=now)


def test_serve_migrates_seeds_and_starts_uvicorn(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[uvicorn.Config] = []
    monkeypatch.setattr(shutdown, "serve_forever", calls.append)
    for name in ("PUNCHCLOCK_DATABASE_URL", "PUNCHCLOCK_HOST", "PUNCHCLOCK_PORT"):
        monkeypatch.delenv(name, raising=False)  # restored after the test
    monkeypatch.setenv("PUNCHCLOCK_LOG_LEVEL", "WARNING")
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    argv = ["serve", "--demo", "--port", "8123", "--workers", "3", "--database-url", url]

    code, out, _ = run(capsys, *argv)
    assert code == 0 and out.count("token: pc_") == 3
    assert "http://127.0.0.1:8123/graphql" in out
    [config] = calls
    assert config.app == "gql.server.app:create_app" and config.factory is True
    assert (config.host, config.port, config.workers) == ("127.0.0.1", 8123, 3)
    assert config.log_level == "warning"
    assert config.log_config is None  # the app's factory configures logging (gql.server.logs)
    assert config.timeout_graceful_shutdown == 10
    assert os.environ["PUNCHCLOCK_DATABASE_URL"] == url
    assert (os.environ["PUNCHCLOCK_HOST"], os.environ["PUNCHCLOCK_PORT"]) == ("127.0.0.1", "8123")

    first_tokens = {line.split("token: ")[1] for line in out.splitlines() if "token: " in line}
    code, out, _ = run(capsys, *argv)  # the demo is there: no second one, new tokens
    assert code == 0 and "is there already" in out and len(calls) == 2
    new = {line.split("token: ")[1] for line in out.splitlines() if "token: " in line}
    assert len(new) == 3 and not new & first_tokens

    async def viewers() -> list[str]:
        db = Database(url)
        try:
            found = [await tokens.authenticate_member(db, token=token) for token in sorted(new)]
        finally:
            await db.dispose()
        return sorted(viewer.user.email for viewer in filter(None, found))

    assert asyncio.run(viewers()) == sorted(email for _n, email, _r, _c in demo.PEOPLE)

    async def teams(session: Any) -> int:
        count: int = (await session.exec(select(func.count()).select_from(Team))).one()
        return count

    assert on(url, teams) == 1

    with pytest.raises(SystemExit) as exited:
        main(["serve", "--workers", "0"])
    assert exited.value.code == 2


def test_token_revoke(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    db = ("--database-url", database_url)
    assert run(capsys, "user", "create", "--nickname", "Ida", "--email", "ida@x.test", *db)[0] == 0
    kept = run(capsys, "token", "create", "--email", "ida@x.test", *db)[1].strip()
    gone = run(capsys, "token", "create", "--email", "ida@x.test", *db)[1].strip()
    public = gone[: len("pc_") + 12]  # what a log line or a person may hold
    code, out, err = run(capsys, "token", "revoke", public, *db)
    assert (code, out, err) == (0, f"Revoked {public}.\n", "")

    async def check(session: Any) -> None:
        assert await bearer(session, gone) is None
        assert await bearer(session, kept) is not None

    on(database_url, check)
    for argv, says in (
        ((gone,), "revoked already"),  # the whole token works too, once
        (("pc_short",), "Not a token"),
        (("pc_" + "Z" * 12,), "No active token"),
    ):
        code, out, err = run(capsys, "token", "revoke", *argv, *db)
        assert code == 2 and out == "" and err.count("\n") == 1 and says in err, err
        assert kept not in err

"""The ``punchclock`` command, run in-process on both databases."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from sqlmodel import col, func, select

from gql.cli import main
from gql.schema import export_sdl
from store import tokens
from store.db import Database
from store.models import Task, TimeEntry, User


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out.strip(), err.strip()


def test_help_documents_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for name in ("serve", "migrate", "demo", "user", "team", "member", "token", "export-schema"):
        assert name in out
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    out = capsys.readouterr().out
    assert "--demo" in out and "--host" in out and "--port" in out and "--workers" in out


def test_export_schema_is_schema_graphql(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export-schema"]) == 0
    assert capsys.readouterr().out == export_sdl()


def test_user_team_member_token(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    db = ("--database-url", database_url)
    code, owner_id, _ = run(
        capsys, "user", "create", "--nickname", "Owner", "--email", "o@x.test", *db
    )
    assert code == 0 and len(owner_id) == 26
    code, _, _ = run(capsys, "user", "create", "--nickname", "Mia", "--email", "m@x.test", *db)
    code, team_id, _ = run(
        capsys,
        "team",
        "create",
        "--name",
        "Ops",
        "--owner-email",
        "o@x.test",
        "--time-zone",
        "Europe/Berlin",
        *db,
    )
    assert code == 0 and len(team_id) == 26
    code, out, _ = run(
        capsys,
        "member",
        "add",
        "--team-id",
        team_id,
        "--email",
        "m@x.test",
        "--role",
        "ADMIN",
        "--rate-cents",
        "9000",
        *db,
    )
    assert code == 0 and "ADMIN" in out
    code, token, _ = run(capsys, "token", "create", "--email", "m@x.test", "--name", "laptop", *db)
    assert code == 0 and tokens.parse_token(token) is not None and "\n" not in token

    async def who(t: str) -> User | None:
        database = Database(database_url)
        try:
            async with database.read() as s:
                return await tokens.authenticate(s, token=t)
        finally:
            await database.dispose()

    user = asyncio.run(who(token))
    assert user is not None and user.email == "m@x.test"


def test_errors_are_one_line_and_exit_2(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    db = ("--database-url", database_url)
    code, _, err = run(capsys, "user", "create", "--nickname", "X", "--email", "not-an-email", *db)
    assert code == 2 and err.startswith("punchclock: ") and "\n" not in err
    code, _, err = run(capsys, "token", "create", "--email", "nobody@x.test", *db)
    assert code == 2 and "nobody@x.test" in err
    code, _, err = run(
        capsys, "team", "create", "--name", "T", "--owner-email", "nobody@x.test", *db
    )
    assert code == 2
    code, _, err = run(capsys, "migrate", "--database-url", "mysql://x/y")
    assert code == 2 and "unsupported" in err


def test_demo_data(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "demo", "--database-url", database_url)
    assert code == 0 and out.count("token: pc_") == 3

    async def check() -> None:
        database = Database(database_url)
        try:
            async with database.read() as s:
                assert (await s.exec(select(func.count()).select_from(User))).one() == 3
                assert (await s.exec(select(func.count()).select_from(Task))).one() == 30
                rows = list(
                    (
                        await s.exec(
                            select(TimeEntry).order_by(
                                col(TimeEntry.user_id), col(TimeEntry.started_at)
                            )
                        )
                    ).all()
                )
        finally:
            await database.dispose()
        assert 1800 <= len(rows) <= 2200
        assert sum(r.stopped_at is None for r in rows) == 1
        for user_id, group in itertools.groupby(rows, key=lambda r: r.user_id):
            spans = list(group)
            for a, b in itertools.pairwise(spans):
                assert a.stopped_at is not None and a.stopped_at <= b.started_at, user_id
        assert all(r.started_at.microsecond == 0 for r in rows)

    asyncio.run(check())
    code, _, err = run(capsys, "demo", "--database-url", database_url)
    assert code == 2 and "exists" in err

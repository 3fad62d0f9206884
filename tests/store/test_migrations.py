"""Migrations: an empty database upgraded to head has exactly the schema of the models."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import asyncpg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from store import migrate
from store.db import Database, create_engine
from store.ids import new_id
from store.migrate import current_revision, head_revision, upgrade
from store.models import Membership, Team, TimeEntry, User, metadata
from tests.services import POSTGRES_URL, require

RUNNING_INDEX_SQL = {
    "sqlite": "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = :name",
    "postgresql": "SELECT indexdef FROM pg_indexes WHERE indexname = :name",
}
RUNNING_INDEX_DDL = {
    "sqlite": (
        "CREATE UNIQUE INDEX uq_time_entries_running_user"
        " ON time_entries (user_id) WHERE stopped_at IS NULL"
    ),
    "postgresql": (
        "CREATE UNIQUE INDEX uq_time_entries_running_user"
        " ON public.time_entries USING btree (user_id) WHERE (stopped_at IS NULL)"
    ),
}
DUPLICATE_RUNNING_ERROR = {
    "sqlite": r"UNIQUE constraint failed: time_entries\.user_id",
    "postgresql": "uq_time_entries_running_user",
}


@pytest.fixture
async def empty_url(dialect: str, tmp_path: Path) -> AsyncIterator[str]:
    """A new database without any table (not even Alembic's), dropped afterwards."""
    if dialect == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    require(POSTGRES_URL, "postgres")
    name = f"pc_migrate_{uuid4().hex[:12]}"
    admin_dsn = (
        make_url(POSTGRES_URL).set(drivername="postgresql").render_as_string(hide_password=False)
    )
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        admin = await asyncpg.connect(admin_dsn)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": True}
    )
    return list(compare_metadata(context, metadata))


async def schema_diff(url: str) -> list[Any]:
    """What autogenerate would change to make the database match the models."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_diff)
    finally:
        await engine.dispose()


def new_entry(team: Team, user: User, *, running: bool) -> TimeEntry:
    started = datetime(2025, 3, 1, 9, tzinfo=UTC)
    return TimeEntry(
        id=new_id(),
        team_id=team.id,
        user_id=user.id,
        scope_type="TASK",
        started_at=started,
        stopped_at=None if running else started + timedelta(hours=1),
        work_date=date(2025, 3, 1),
        billable=True,
    )


async def test_upgrade_creates_exactly_the_models_schema(empty_url: str) -> None:
    assert await current_revision(empty_url) is None

    await upgrade(empty_url)

    # Nothing is excluded: every table, column type, nullability, default, constraint and
    # index must match (Alembic does not compare an index's WHERE clause; the next test does).
    assert await schema_diff(empty_url) == []
    assert await current_revision(empty_url) == head_revision()


async def test_running_entry_index_is_partial_and_unique(dialect: str, empty_url: str) -> None:
    await upgrade(empty_url)
    db = Database(empty_url)
    try:
        async with db.engine.connect() as connection:
            result = await connection.execute(
                text(RUNNING_INDEX_SQL[dialect]), {"name": "uq_time_entries_running_user"}
            )
            ddl = result.scalar_one()
        assert ddl == RUNNING_INDEX_DDL[dialect]

        team = Team(id=new_id(), name="Acme")
        ada = User(id=new_id(), nickname="Ada", email="ada@example.test")
        bob = User(id=new_id(), nickname="Bob", email="bob@example.test")
        async with db.write() as s:
            s.add_all([team, ada, bob])
            await s.flush()
            # Stopped entries do not count; each user may have one running entry.
            s.add_all(
                [
                    new_entry(team, ada, running=False),
                    new_entry(team, ada, running=False),
                    new_entry(team, ada, running=True),
                    new_entry(team, bob, running=True),
                ]
            )
            await s.commit()

        with pytest.raises(IntegrityError, match=DUPLICATE_RUNNING_ERROR[dialect]):
            async with db.write() as s:
                s.add(new_entry(team, ada, running=True))
                await s.commit()

        async with db.read() as s:
            running = await s.exec(
                select(TimeEntry.user_id).where(col(TimeEntry.stopped_at).is_(None))
            )
            assert sorted(running.all()) == sorted([ada.id, bob.id])
    finally:
        await db.dispose()


async def test_upgrade_again_changes_nothing(empty_url: str) -> None:
    await upgrade(empty_url)
    db = Database(empty_url)
    try:
        async with db.write() as s:
            s.add(User(id=new_id(), nickname="Ada", email="ada@example.test"))
            await s.commit()

        await upgrade(empty_url)
        await upgrade(empty_url, head_revision())

        async with db.read() as s:
            emails = (await s.exec(select(User.email))).all()
        assert emails == ["ada@example.test"]
    finally:
        await db.dispose()
    assert await current_revision(empty_url) == head_revision()
    assert await schema_diff(empty_url) == []


async def test_concurrent_upgrades_in_one_process(empty_url: str, tmp_path: Path) -> None:
    # Alembic keeps its current migration in module globals: upgrades of two databases
    # running at once in one event loop must not mix them up.
    other_url = f"sqlite:///{tmp_path / 'other.db'}"

    await asyncio.gather(upgrade(empty_url), upgrade(other_url), upgrade(empty_url))

    for url in (empty_url, other_url):
        assert await current_revision(url) == head_revision()
        assert await schema_diff(url) == []


def add_revision_after_head(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *upgrade_lines: str
) -> str:
    """Point store.migrate at a copy of the migrations plus one more revision, "9999",
    whose ``upgrade()`` runs ``upgrade_lines``; returns the real head."""
    real_head = head_revision()
    root = tmp_path / "migrations"
    shutil.copytree(migrate.MIGRATIONS, root, ignore=shutil.ignore_patterns("__pycache__"))
    source = [
        "import sqlalchemy as sa",
        "from alembic import op",
        "revision = '9999'",
        f"down_revision = {real_head!r}",
        "branch_labels = depends_on = None",
        "def upgrade():",
        *(f"    {line}" for line in upgrade_lines),
        "def downgrade():",
        "    pass",
    ]
    (root / "versions" / "9999_test.py").write_text("\n".join(source) + "\n")
    monkeypatch.setattr(migrate, "MIGRATIONS", root)
    return real_head


async def test_sqlite_table_rebuild_keeps_the_rows_that_reference_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Batch mode drops and recreates the table; with foreign keys on, the drop would
    # delete every membership of every user through ON DELETE CASCADE.
    url = f"sqlite:///{tmp_path / 'rebuild.db'}"
    real_head = add_revision_after_head(
        tmp_path,
        monkeypatch,
        "with op.batch_alter_table('users', recreate='always') as batch:",
        "    batch.alter_column('locale', existing_type=sa.String(35), nullable=True)",
    )
    await upgrade(url, real_head)
    db = Database(url)
    try:
        team = Team(id=new_id(), name="Acme")
        ada = User(id=new_id(), nickname="Ada", email="ada@example.test")
        async with db.write() as s:
            s.add_all([team, ada])
            await s.flush()
            s.add(Membership(team_id=team.id, user_id=ada.id))
            await s.commit()

        await upgrade(url)

        async with db.read() as s:
            members = (await s.exec(select(Membership.user_id))).all()
        assert members == [ada.id]
    finally:
        await db.dispose()
    assert await current_revision(url) == "9999"


async def test_sqlite_upgrade_leaving_broken_foreign_keys_is_rolled_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'broken.db'}"
    real_head = add_revision_after_head(
        tmp_path,
        monkeypatch,
        "op.create_table('scratch', sa.Column('id', sa.Integer(), primary_key=True))",
        "op.execute(\"INSERT INTO memberships VALUES ('no', 'no', 'MEMBER', NULL, '2000-01-01')\")",
    )
    await upgrade(url, real_head)

    with pytest.raises(RuntimeError, match="broken foreign keys"):
        await upgrade(url)

    # One transaction: the DDL is undone along with the rows and the version bump.
    assert await current_revision(url) == real_head
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            tables = (
                await connection.execute(
                    text("SELECT name FROM sqlite_master WHERE type = 'table'")
                )
            ).scalars()
            assert "scratch" not in set(tables)
            assert (
                await connection.execute(text("SELECT count(*) FROM memberships"))
            ).scalar() == 0
    finally:
        await engine.dispose()

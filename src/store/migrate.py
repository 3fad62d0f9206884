"""Schema migrations (Alembic), run from code: no ``alembic.ini``, safe inside an event loop.

Alembic itself is synchronous; it runs here on an async engine's connection through
``run_sync``, so callers such as the CLI and the server's lifespan simply ``await`` it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, event, text

from store.db import create_engine, is_sqlite

MIGRATIONS = Path(__file__).with_name("migrations")

# Any fixed number: the PostgreSQL advisory lock that makes servers starting at the same
# time upgrade one after the other (the later ones then find the database at head).
_PG_LOCK_KEY = 0x70C1_0C4D

# Alembic's ``context`` and ``op`` are module-level proxies, and ``run_sync`` yields to
# the event loop at every statement: two upgrades interleaved in one process would mix
# up their databases.
_lock = asyncio.Lock()


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision in the package's migrations."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations in {MIGRATIONS}")
    return head


async def upgrade(url: str, revision: str = "head") -> None:
    """Upgrade the database at ``url`` to ``revision``, in one transaction."""
    # Write lock up front on SQLite, so concurrent upgrades wait for each other.
    engine = create_engine(url, pool_size=1, immediate=True)
    if is_sqlite(url):
        event.listen(engine.sync_engine, "connect", _sqlite_foreign_keys_off)
    try:
        async with _lock, engine.begin() as connection:
            await connection.run_sync(_upgrade, revision)
    finally:
        await engine.dispose()


async def current_revision(url: str) -> str | None:
    """The revision the database at ``url`` is at; None before the first upgrade."""
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )
    finally:
        await engine.dispose()


def _sqlite_foreign_keys_off(dbapi_connection: Any, _record: Any) -> None:
    # Runs after store.db's own connect hook, which turns foreign keys on. Batch mode
    # rebuilds a table by copy, drop and rename; with foreign keys on, the drop would
    # first delete every row, cascading to the rows that reference them. (The pragma is
    # ignored inside a transaction, hence here.) _upgrade checks the keys at the end.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=OFF")
    cursor.close()


def _upgrade(connection: Connection, revision: str) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    command.upgrade(_config(connection), revision)
    if connection.dialect.name == "sqlite":
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
        if broken:
            raise RuntimeError(f"migration left rows with broken foreign keys: {broken[:10]}")

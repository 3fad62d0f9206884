"""The Alembic environment of the store's tables.

:mod:`store.migrate` runs it with an open connection, already inside a transaction, in
``config.attributes["connection"]``; that lets Alembic run under an async engine (through
``AsyncConnection.run_sync``) and leaves the commit to the caller.
"""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection
from sqlmodel.sql.sqltypes import AutoString

from store.models import metadata
from store.types import UTCDateTime


def render_item(type_: str, obj: Any, _autogen_context: AutogenContext) -> str | Literal[False]:
    """Write the tables' own column types as plain SQLAlchemy types (same DDL), so that
    revisions stay frozen snapshots that never import model code."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and isinstance(obj, AutoString):
        return f"sa.String(length={obj.length})" if obj.length is not None else "sa.String()"
    return False


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # Every revision runs on SQLite and PostgreSQL, whichever database autogenerate
        # compared against. Batch operations rebuild the table on SQLite (which alters
        # little in place) and are plain ALTER TABLE on PostgreSQL.
        render_as_batch=True,
        render_item=render_item,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if context.is_offline_mode() or not isinstance(connection, Connection):
    raise RuntimeError("run migrations through store.migrate, which passes an open connection")
run_migrations(connection)

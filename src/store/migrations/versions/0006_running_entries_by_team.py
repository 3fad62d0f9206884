"""A team's running entries by an index of running entries only.

A dashboard's ``runningEntries`` (``team_id = ? AND stopped_at IS NULL``, newest first)
walked the team's whole ``(team_id, started_at, id)`` index on SQLite (316 ms over a
team's 100,000 entries); this partial index holds running entries only.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 13:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_time_entries_running_team",
        "time_entries",
        ["team_id", "started_at", "id"],
        unique=False,
        sqlite_where=sa.text("stopped_at IS NULL"),
        postgresql_where=sa.text("stopped_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_time_entries_running_team", table_name="time_entries")

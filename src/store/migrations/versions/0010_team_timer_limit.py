"""Teams' timer limit: ``teams.max_timer_hours``, 1 to 24 hours.

A timer of the team runs at most this long; the server's sweep stops it at exactly its
start + the limit (``store.timers.stop_overdue``). Not null with a server default of 24,
the limit every timer had before, so existing teams keep their behaviour.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 23:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "teams",
        sa.Column("max_timer_hours", sa.Integer(), nullable=False, server_default="24"),
    )


def downgrade() -> None:
    with op.batch_alter_table("teams") as batch:
        batch.drop_column("max_timer_hours")

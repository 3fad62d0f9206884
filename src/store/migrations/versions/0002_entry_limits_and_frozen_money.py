"""Timers stopped at their limit, money frozen when an entry is locked.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 09:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("time_entries") as batch:
        batch.add_column(
            sa.Column("auto_stopped", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("frozen_rounded_seconds", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("frozen_amount_cents", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("time_entries") as batch:
        batch.drop_column("frozen_amount_cents")
        batch.drop_column("frozen_rounded_seconds")
        batch.drop_column("auto_stopped")

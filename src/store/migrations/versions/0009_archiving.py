"""Archived tasks and teams: the instant each was archived (null: active).

A task or a team is archived rather than deleted: its entries, reports and history stay.
A timestamp (as ``time_entries.deleted_at``) says when as well as whether; the API shows
both (``archived``, ``archivedAt``). Nullable, so existing rows stay active and the
upgrade rewrites no table.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 22:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("tasks", sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("teams", sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("teams") as batch:
        batch.drop_column("archived_at")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("archived_at")

"""Persisted queries: GraphQL documents by SHA-256, shared by every instance.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "persisted_queries",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_persisted_queries")),
    )
    with op.batch_alter_table("persisted_queries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_persisted_queries_created_at"), ["created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("persisted_queries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_persisted_queries_created_at"))
    op.drop_table("persisted_queries")

"""Self-service tokens: a scope (READ or WRITE), an expiry, and an index on the user.

Tokens made before this migration could do everything, so they become WRITE tokens (the
column's server default), and none of them expires. ``viewer.accessTokens`` and the limit
of live tokens per user read a user's tokens; without an index on ``user_id`` that was a
scan of every token (noted in earlier reviews).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 22:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("access_tokens") as batch:
        batch.add_column(
            sa.Column(
                "scope", sa.String(length=8), nullable=False, server_default=sa.text("'WRITE'")
            )
        )
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(op.f("ix_access_tokens_user_id"), "access_tokens", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_access_tokens_user_id"), table_name="access_tokens")
    with op.batch_alter_table("access_tokens") as batch:
        batch.drop_column("expires_at")
        batch.drop_column("scope")

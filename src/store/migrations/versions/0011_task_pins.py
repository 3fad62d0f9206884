"""Favourite tasks: ``task_pins``, a user's pinned tasks (``pinTask`` / ``unpinTask``).

Personal settings, one row per (user, task); the task's team is kept on the row so a
user's pins of one team (``User.pinnedTasks``, and the per-team limit counted under the
user's lock) are read by one index, newest first. Rows go with their user, task or team
(ON DELETE CASCADE).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 23:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "task_pins",
        sa.Column("user_id", sa.String(length=26), nullable=False),
        sa.Column("task_id", sa.String(length=26), nullable=False),
        sa.Column("team_id", sa.String(length=26), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_task_pins_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name=op.f("fk_task_pins_task_id_tasks"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_task_pins_team_id_teams"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "task_id", name=op.f("pk_task_pins")),
    )
    op.create_index(
        op.f("ix_task_pins_user_id_team_id_created_at"),
        "task_pins",
        ["user_id", "team_id", "created_at"],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_task_pins_user_id_team_id_created_at"), table_name="task_pins")
    op.drop_table("task_pins")

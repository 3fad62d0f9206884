"""Change history of time entries: ``entry_changes`` (``TimeEntry.history``, store.history).

One row per committed change of an entry, written in the change's own transaction: the
actor (null: the server's own stop at the team's limit), the write's instant, the kind of
change (a CHECK names the kinds) and the changed API fields as a JSON list of
``{field, from, to}``. Read per entry, oldest first, by one index ``(entry_id, at, id)``.
Rows go with their entry and its team (ON DELETE CASCADE); users are never deleted.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-08 01:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIONS = (
    "CREATED",
    "UPDATED",
    "STOPPED",
    "AUTO_STOPPED",
    "TRANSITIONED",
    "DELETED",
    "RESTORED",
)


def upgrade() -> None:
    op.create_table(
        "entry_changes",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("entry_id", sa.String(length=26), nullable=False),
        sa.Column("team_id", sa.String(length=26), nullable=False),
        sa.Column("user_id", sa.String(length=26), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["time_entries.id"],
            name=op.f("fk_entry_changes_entry_id_time_entries"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["teams.id"],
            name=op.f("fk_entry_changes_team_id_teams"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_entry_changes_user_id_users")
        ),
        sa.CheckConstraint(
            "action IN (" + ", ".join(f"'{a}'" for a in ACTIONS) + ")",
            name=op.f("ck_entry_changes_action"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entry_changes")),
    )
    op.create_index(
        op.f("ix_entry_changes_entry_id_at_id"), "entry_changes", ["entry_id", "at", "id"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_entry_changes_entry_id_at_id"), table_name="entry_changes")
    op.drop_table("entry_changes")

"""Tags (issue 20): ``tags``, a team's labels, and ``entry_tags``, the tags of each entry.

A tag's name is unique per team in any case among the live tags only: a partial unique
index on ``name_key``, the name's ``casefold()`` written by ``store.tags`` (SQLite's
``lower`` folds ASCII only, so an expression index would be two rules); archiving a tag
frees its name, and the tag stays on its entries. ``entry_tags`` keeps the team of its
rows; the filters (``store.tag_rules``) read it by ``(tag_id, entry_id)`` and
``TimeEntry.tags`` by its primary key ``(entry_id, tag_id)``.
Rows go with their entry, tag or team (ON DELETE CASCADE).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08 01:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tags",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("team_id", sa.String(length=26), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("name_key", sa.String(length=400), nullable=False),
        sa.Column("color", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_tags_team_id_teams"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tags")),
    )
    op.create_index(op.f("ix_tags_team_id_name_key_id"), "tags", ["team_id", "name_key", "id"])
    op.create_index(
        "uq_tags_team_live_name",
        "tags",
        ["team_id", "name_key"],
        unique=True,
        sqlite_where=sa.text("archived_at IS NULL"),
        postgresql_where=sa.text("archived_at IS NULL"),
    )
    op.create_table(
        "entry_tags",
        sa.Column("entry_id", sa.String(length=26), nullable=False),
        sa.Column("tag_id", sa.String(length=26), nullable=False),
        sa.Column("team_id", sa.String(length=26), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["time_entries.id"],
            name=op.f("fk_entry_tags_entry_id_time_entries"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tag_id"], ["tags.id"], name=op.f("fk_entry_tags_tag_id_tags"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_entry_tags_team_id_teams"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("entry_id", "tag_id", name=op.f("pk_entry_tags")),
    )
    op.create_index(op.f("ix_entry_tags_tag_id_entry_id"), "entry_tags", ["tag_id", "entry_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_entry_tags_tag_id_entry_id"), table_name="entry_tags")
    op.drop_table("entry_tags")
    op.drop_index("uq_tags_team_live_name", table_name="tags")
    op.drop_index(op.f("ix_tags_team_id_name_key_id"), table_name="tags")
    op.drop_table("tags")

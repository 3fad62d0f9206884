"""A user's latest stop by an index, not by reading all their entries.

Every ``startTimer`` asks for the latest instant of the user's entries after "now"
(``store.timers``: a start never goes back before it). As one ``max(coalesce(stopped_at,
started_at))`` PostgreSQL answered it by reading every entry of the user: 34 ms and some
4,800 pages for a user with 5,000 entries, inside the transaction that holds the user's
lock. It is now asked as the latest stop (this index, from its end) and the start of the
running entry (the unique index of running entries).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 16:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_time_entries_user_id_stopped_at",
        "time_entries",
        ["user_id", "stopped_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_time_entries_user_id_stopped_at", table_name="time_entries")

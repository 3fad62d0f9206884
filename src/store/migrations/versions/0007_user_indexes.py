"""A user's latest stop, and a user's page, by indexes, not by reading all their entries.

Every ``startTimer`` asks for the latest instant of the user's entries after "now"
(``store.timers``: a start never goes back before it). As one ``max(coalesce(stopped_at,
started_at))`` PostgreSQL answered it by reading every entry of the user: 34 ms and some
4,800 pages for a user with 5,000 entries, inside the transaction that holds the user's
lock. It is now asked as the latest stop (this index, from its end) and the start of the
running entry (the unique index of running entries).

A user's page (``user.timeEntries``, the viewer's, newest first with ties by id) read and
sorted every entry of the user, as ``(user_id, started_at)`` does not hold the order's
``id``; ``(user_id, started_at, id)`` replaces it, as ``(team_id, started_at, id)`` serves
a team's page. On PostgreSQL the planner also needs to know that a user's entries lie in
their few teams: estimating ``user_id = ? AND team_id IN (…)`` as independent, it
expected a few hundred rows and chose to read and sort all of them (70 ms cold for a user
with 5,000 entries) over walking this index (0.1 ms). ``CREATE STATISTICS …
(dependencies)`` on the pair tells it.

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
    op.drop_index("ix_time_entries_user_id_started_at", table_name="time_entries")
    op.create_index(
        "ix_time_entries_user_id_started_at_id",
        "time_entries",
        ["user_id", "started_at", "id"],
        unique=False,
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE STATISTICS IF NOT EXISTS time_entries_user_team (dependencies) "
            "ON user_id, team_id FROM time_entries"
        )
        op.execute("ANALYZE time_entries")
    op.create_index(
        "ix_time_entries_user_id_stopped_at",
        "time_entries",
        ["user_id", "stopped_at"],
        unique=False,
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP STATISTICS IF EXISTS time_entries_user_team")
    op.drop_index("ix_time_entries_user_id_stopped_at", table_name="time_entries")
    op.drop_index("ix_time_entries_user_id_started_at_id", table_name="time_entries")
    op.create_index(
        "ix_time_entries_user_id_started_at",
        "time_entries",
        ["user_id", "started_at"],
        unique=False,
    )

"""Teams' overlap policy: ``teams.overlap_policy``, ALLOW, WARN or REFUSE.

What a write meets when it makes two live entries of one user in the team overlap
(``store.overlap``). Not null with a server default of ALLOW, what every write did before,
so existing teams keep their behaviour; a CHECK constraint keeps out any other value
(the store checks first and answers VALIDATION; the constraint guards every other writer).
The values are written out here, not imported from the models: a migration stays as it
was when it ran.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08 01:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Batch: SQLite adds a CHECK constraint only by copying the table (foreign keys are
    # off while migrations run, store.migrate); PostgreSQL gets two ALTERs.
    with op.batch_alter_table("teams") as batch:
        batch.add_column(
            sa.Column("overlap_policy", sa.String(8), nullable=False, server_default="ALLOW")
        )
        batch.create_check_constraint(
            op.f("ck_teams_overlap_policy"), "overlap_policy IN ('ALLOW', 'WARN', 'REFUSE')"
        )


def downgrade() -> None:
    with op.batch_alter_table("teams") as batch:
        batch.drop_constraint(op.f("ck_teams_overlap_policy"), type_="check")
        batch.drop_column("overlap_policy")

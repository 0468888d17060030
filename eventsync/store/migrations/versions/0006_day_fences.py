"""day fences: a fencing token per sync-day

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05

`day_fences` holds one generation per (sync, day). Every writer of a day (export,
re-export, erasure rewrite) takes the next generation before it writes, and publishes
(manifest, ledger row, subject index, deletion of stale parts) only while it is still
the current one: a writer that lost its lock to a dropped connection can no longer
publish over the writer that came after it (eventsync/store/fencing.py).

The revision id is not a bare number so that it cannot clash with another 0006 made on
a parallel branch; whoever merges both chains one after the other.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "day_fences",
        sa.Column("sync_id", sa.String(length=64), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.Column("writer", sa.String(length=160), nullable=False),
        sa.Column("taken_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("sync_id", "day", name=op.f("pk_day_fences")),
    )


def downgrade() -> None:
    op.drop_table("day_fences")

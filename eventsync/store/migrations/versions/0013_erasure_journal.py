"""erasure journal: the entries of the journal a store has applied

Revision ID: 0013_erasure_journal
Revises: 0012_sync_deletion
Create Date: 2026-12-07

The erasure journal (eventsync/privacy/journal.py) is kept outside the store's backup;
`erasure_journal_applied` names the entries this store holds. A store restored from a
backup taken before an erasure lacks the entry, and the journal re-applies it (the
suppressions, and the purge of the subjects' rows) before any export.

The revision id is not a bare number so that it cannot clash with another 0013 made on
a parallel branch; whoever merges both chains one after the other.
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_erasure_journal"
down_revision = "0012_sync_deletion"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "erasure_journal_applied",
        sa.Column("entry_id", sa.String(length=64), nullable=False),
        sa.Column("workspace_id", sa.String(length=64), nullable=False),
        sa.Column("operation", sa.String(length=8), nullable=False),
        sa.Column("recorded_at", sa.String(length=32), nullable=False),
        sa.Column("applied_at", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("entry_id", name=op.f("pk_erasure_journal_applied")),
    )


def downgrade() -> None:
    op.drop_table("erasure_journal_applied")

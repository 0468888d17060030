"""sync deletion: syncs.deleted_at

Revision ID: 0012_sync_deletion
Revises: 0011_hashed_request_subjects
Create Date: 2026-12-07

A deleted sync keeps its row (its exported files stay the customer's, and erasures
still rewrite them through its subject index and export ledger); `deleted_at` marks
it so that nothing exports for it again and every operation on it is refused.
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_sync_deletion"
down_revision = "0011_hashed_request_subjects"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("syncs", sa.Column("deleted_at", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("syncs") as batch:
        batch.drop_column("deleted_at")

"""index of a day's subjects

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28

Every export reads and replaces one day's rows of export_subjects (`sync_id`, `day`).
The primary key is (sync_id, subject_type, subject_id, day), so those statements
scanned all of the sync's rows: in a 365-day backfill at 20k events a day the scan
grew to ~7.7M rows per statement, two per day (measured: 0.57 s each at 3.8M rows),
which made the backfill quadratic in its length. With this index they read the day's
rows alone. It covers the subject columns: otherwise SQLite keeps answering the read
from the covering primary key (sync_id=? only), measured 0.43 s against 0.01 s at 7.7M
rows.
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_export_subjects_sync_day",
        "export_subjects",
        ["sync_id", "day", "subject_type", "subject_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_export_subjects_sync_day", table_name="export_subjects")

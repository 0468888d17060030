"""syncs.frequency, syncs.event_names; export_ledger.source_filter, partial_through

Revision ID: 0010_sync_frequency
Revises: 0009_totp_sealed
Create Date: 2026-12-07

`frequency` is `daily` (the 03:00 UTC export of the closed day) or `hourly` (also the
current UTC day so far, replaced at least hourly); existing syncs stay `daily`.
`event_names` is a JSON list of event names and `*` globs (NULL: every name), a filter
beside `event_types`. `export_ledger.source_filter` records the filters a day was
exported with (NULL for earlier rows: the re-sync compares those under the current
filters, as before); `export_ledger.partial_through` is the cut-off of an intraday
export (NULL: the complete day). All are plain added columns: no table rewrite on
PostgreSQL (a constant default), a batch copy on SQLite only for the downgrade.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_sync_frequency"
down_revision = "0009_totp_sealed"
branch_labels = None
depends_on = None


def upgrade() -> None:
    frequency = sa.Column("frequency", sa.String(length=16), nullable=False, server_default="daily")
    op.add_column("syncs", frequency)
    op.add_column("syncs", sa.Column("event_names", sa.Text(), nullable=True))
    op.add_column("export_ledger", sa.Column("source_filter", sa.Text(), nullable=True))
    op.add_column("export_ledger", sa.Column("partial_through", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("export_ledger") as batch:
        batch.drop_column("partial_through")
        batch.drop_column("source_filter")
    with op.batch_alter_table("syncs") as batch:
        batch.drop_column("event_names")
        batch.drop_column("frequency")

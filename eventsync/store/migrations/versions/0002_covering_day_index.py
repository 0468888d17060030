"""covering index for day fingerprints

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24

The weekly re-sync fingerprints every day of a sync's window in one aggregate query
(count, max(received_at), sums over received_at and event_id). With received_at in
the (workspace_id, occurred_at, event_id) index the query reads the index alone.
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_events_ws_occurred", table_name="events")
    op.create_index(
        "ix_events_ws_occurred",
        "events",
        ["workspace_id", "occurred_at", "event_id", "received_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_events_ws_occurred", table_name="events")
    op.create_index(
        "ix_events_ws_occurred", "events", ["workspace_id", "occurred_at", "event_id"], unique=False
    )

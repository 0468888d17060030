"""alert incidents: each incident notified once

Revision ID: 0014_alert_incidents
Revises: 0013_erasure_journal
Create Date: 2026-12-07

`alert_incidents` keeps one row per incident (a sync stale past its deadline, a failed
day, a privacy request not completed in time): the alert evaluator notifies an incident
when it claims the row's `notified_at`, so two evaluators never send it twice, and a
resolved incident that comes back is a new one (eventsync/ops/alerts.py).
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_alert_incidents"
down_revision = "0013_erasure_journal"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_incidents",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("opened_at", sa.String(length=32), nullable=False),
        sa.Column("notified_at", sa.String(length=32), nullable=True),
        sa.Column("resolved_at", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_alert_incidents")),
    )


def downgrade() -> None:
    op.drop_table("alert_incidents")

"""store meta: the subject key fingerprint of the store's keyed hashes

Revision ID: 0015_store_meta
Revises: 0014_alert_incidents
Create Date: 2026-12-07

`store_meta` holds `subject_key_id`, the fingerprint of the key the suppressions and
the erasure journal were hashed with (eventsync/store/subject_key.py). A store that
already has suppressions all made with one key records that key's id; a process with
another key is then refused instead of silently matching nothing. Nothing is re-hashed.
"""

import sqlalchemy as sa
from alembic import op

revision = "0015_store_meta"
down_revision = "0014_alert_incidents"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "store_meta",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_store_meta")),
    )
    keys = op.get_bind().execute(sa.text("SELECT DISTINCT key_id FROM suppressions")).scalars()
    found = sorted(set(keys))
    if len(found) == 1:
        from eventsync.clock import now_iso

        op.bulk_insert(
            table, [{"name": "subject_key_id", "value": found[0], "updated_at": now_iso()}]
        )


def downgrade() -> None:
    op.drop_table("store_meta")

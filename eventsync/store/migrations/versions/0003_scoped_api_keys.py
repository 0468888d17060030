"""scoped API keys: scopes, name, expiry, last use

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25

Keys created before this revision keep full scope (the server default).
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ALL_SCOPES = "events:write privacy:write privacy:read syncs:read"


def upgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name", sa.String(length=200), nullable=True))
        batch_op.add_column(
            sa.Column("scopes", sa.Text(), nullable=False, server_default=ALL_SCOPES)
        )
        batch_op.add_column(sa.Column("expires_at", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("last_used_at", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_column("last_used_at")
        batch_op.drop_column("expires_at")
        batch_op.drop_column("scopes")
        batch_op.drop_column("name")

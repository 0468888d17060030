"""console_accounts.totp_secret sealed at rest

Revision ID: 0009_totp_sealed
Revises: 0008
Create Date: 2026-12-07

TOTP secrets were stored as they are; from now on they are encrypted with the
installation's TOTP key (eventsync/store/totp_sealing.py: EVENTSYNC_TOTP_KEY, else
<data dir>/keys/totp.key, created on first use). The column widens to hold the sealed
form (`fernet:<token>`, about 150 characters) and every stored secret is sealed. The
downgrade unseals them (the key must still be there) and narrows the column again.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_totp_sealed"
down_revision = "0008"
branch_labels = None
depends_on = None

PREFIX = "fernet:"


def _rewrite(convert) -> None:  # type: ignore[no-untyped-def]
    conn = op.get_bind()
    rows = conn.execute(
        sa.text("SELECT id, totp_secret FROM console_accounts WHERE totp_secret IS NOT NULL")
    ).all()
    for account_id, stored in rows:
        new = convert(stored)
        if new != stored:
            conn.execute(
                sa.text("UPDATE console_accounts SET totp_secret = :s WHERE id = :i"),
                {"s": new, "i": account_id},
            )


def _secret_width(old: int, new: int) -> None:
    with op.batch_alter_table("console_accounts") as batch:
        batch.alter_column(
            "totp_secret",
            existing_type=sa.String(old),
            type_=sa.String(new),
            existing_nullable=True,
        )


def upgrade() -> None:
    _secret_width(64, 255)
    from eventsync.store.totp_sealing import seal

    _rewrite(lambda stored: stored if stored.startswith(PREFIX) else seal(stored))


def downgrade() -> None:
    from eventsync.store.totp_sealing import unseal

    _rewrite(unseal)
    _secret_width(255, 64)

"""privacy: runner leases, result notes, suppression list as keyed hashes

Revision ID: 0004
Revises: 0003 (chained to 0002 on the privacy branch until 0003 lands)
Create Date: 2026-12-01

- privacy_requests gains `lease_owner` / `lease_expires_at` (a running request whose
  owner stopped renewing its lease becomes retryable) and `result_note` (why a result
  is empty or was removed).
- suppressions keeps an HMAC of each id instead of the id (eventsync/pseudonyms.py):
  existing rows are hashed with the installation's key on upgrade. A downgrade recovers
  the plain ids from the erasure requests that suppressed them.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

from eventsync.clock import now_iso

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# What tells the two tables apart: the subject's plain id before, its keyed hash (and
# the key's id) after.
_PLAIN = (sa.Column("subject_id", sa.String(length=256), nullable=False),)
_HASHED = (
    sa.Column("subject_hash", sa.String(length=64), nullable=False),
    sa.Column("key_id", sa.String(length=16), nullable=False),
)


def _recreate(subject: tuple[sa.Column, ...]) -> sa.Table:
    """Drop the suppressions table and create it again around `subject`'s columns, the
    first of which joins the primary key."""
    op.drop_table("suppressions")
    return op.create_table(
        "suppressions",
        sa.Column("workspace_id", sa.String(length=64), nullable=False),
        sa.Column("subject_type", sa.String(length=8), nullable=False),
        *[c.copy() for c in subject],
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint(
            "workspace_id", "subject_type", subject[0].name, name=op.f("pk_suppressions")
        ),
    )


def upgrade() -> None:
    from eventsync.pseudonyms import key_id, subject_hash

    with op.batch_alter_table("privacy_requests") as batch:
        batch.add_column(sa.Column("lease_owner", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("lease_expires_at", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("result_note", sa.Text(), nullable=True))
    conn = op.get_bind()
    old = conn.execute(
        sa.text(
            "SELECT workspace_id, subject_type, subject_id, request_id, created_at "
            "FROM suppressions"
        )
    ).all()
    table = _recreate(_HASHED)
    if old:
        kid = key_id()
        op.bulk_insert(
            table,
            [
                {
                    "workspace_id": ws,
                    "subject_type": kind,
                    "subject_hash": subject_hash(ws, kind, subject),
                    "key_id": kid,
                    "request_id": rid,
                    "created_at": at or now_iso(),
                }
                for ws, kind, subject, rid, at in old
            ],
        )


def downgrade() -> None:
    from eventsync.pseudonyms import subject_hash

    conn = op.get_bind()
    rows = conn.execute(
        sa.text(
            "SELECT s.workspace_id, s.subject_type, s.subject_hash, s.request_id, s.created_at,"
            " r.user_ids, r.company_ids FROM suppressions s"
            " LEFT JOIN privacy_requests r ON r.id = s.request_id"
        )
    ).all()
    plain = []
    for ws, kind, digest, rid, at, users, companies in rows:
        ids = json.loads((users if kind == "user" else companies) or "[]")
        match = [i for i in ids if subject_hash(ws, kind, i) == digest]
        if match:
            plain.append(
                {
                    "workspace_id": ws,
                    "subject_type": kind,
                    "subject_id": match[0],
                    "request_id": rid,
                    "created_at": at,
                }
            )
    table = _recreate(_PLAIN)
    if plain:
        op.bulk_insert(table, plain)
    with op.batch_alter_table("privacy_requests") as batch:
        batch.drop_column("result_note")
        batch.drop_column("lease_expires_at")
        batch.drop_column("lease_owner")

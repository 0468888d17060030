"""privacy requests keep their subjects' ids only while in flight

Revision ID: 0011_hashed_request_subjects
Revises: 0010_sync_frequency
Create Date: 2026-12-07

- privacy_requests gains `subject_hashes`: the keyed hashes of the request's subjects
  (eventsync/pseudonyms.py), JSON {"user": [...], "company": [...]}. Every existing
  request gets them.
- A completed (or `erased`) request keeps no plain id: its `user_ids` / `company_ids`
  become `[]`. Requests still in flight (received, queued, running, failed: a failed
  one can be retried) keep theirs until they complete.
- Ids are compared after NFC now (eventsync/subjects.py), and the suppression list's
  hashes are of the NFC form: an erasure completed before that whose ids were not in
  NFC gets the NFC form's hash on the list beside the old one (only where the old one
  is still there: a lifted suppression stays lifted), while the ids are here to hash.

The downgrade drops the column; the ids of completed requests are gone for good (that
is the point).
"""

from __future__ import annotations

import hashlib
import json
import unicodedata

import sqlalchemy as sa
from alembic import op

from eventsync.clock import now_iso

revision = "0011_hashed_request_subjects"
down_revision = "0010_sync_frequency"
branch_labels = None
depends_on = None

DONE = ("completed", "erased")
KINDS = (("user", "user_ids"), ("company", "company_ids"))


def upgrade() -> None:
    from eventsync.pseudonyms import key_id, subject_hash

    with op.batch_alter_table("privacy_requests") as batch:
        batch.add_column(sa.Column("subject_hashes", sa.Text(), nullable=True))
    conn = op.get_bind()
    requests = sa.table(
        "privacy_requests",
        sa.column("id"),
        sa.column("workspace_id"),
        sa.column("kind"),
        sa.column("status"),
        sa.column("user_ids"),
        sa.column("company_ids"),
        sa.column("subject_hashes"),
    )
    suppressions = sa.table(
        "suppressions",
        sa.column("workspace_id"),
        sa.column("subject_type"),
        sa.column("subject_hash"),
        sa.column("key_id"),
        sa.column("request_id"),
        sa.column("created_at"),
    )
    rows = conn.execute(
        sa.select(
            requests.c.id,
            requests.c.workspace_id,
            requests.c.kind,
            requests.c.status,
            requests.c.user_ids,
            requests.c.company_ids,
        )
    ).all()
    for row in rows:
        ids = {kind: json.loads(getattr(row, column) or "[]") for kind, column in KINDS}
        hashes = {
            kind: [subject_hash(row.workspace_id, kind, i) for i in values]
            for kind, values in ids.items()
        }
        values: dict[str, str] = {"subject_hashes": json.dumps(hashes, sort_keys=True)}
        if row.status in DONE:
            values.update(user_ids="[]", company_ids="[]")
            if row.kind == "erasure":
                _suppress_nfc_forms(conn, suppressions, row, ids, key_id())
        conn.execute(sa.update(requests).where(requests.c.id == row.id).values(**values))


def _old_hash(workspace_id: str, kind: str, subject_id: str) -> str:
    """The suppression hash as 0004-0008 computed it (of the id as given, no NFC)."""
    from eventsync.pseudonyms import _SEP, secret

    message = f"{workspace_id}{_SEP}{kind}{_SEP}{subject_id}".encode("utf-8", "surrogatepass")
    return hashlib.blake2b(message, key=secret(), digest_size=32).hexdigest()


def _on_list(conn: sa.Connection, table: sa.TableClause, ws: str, kind: str, digest: str) -> bool:
    return (
        conn.execute(
            sa.select(table.c.subject_hash).where(
                table.c.workspace_id == ws,
                table.c.subject_type == kind,
                table.c.subject_hash == digest,
            )
        ).first()
        is not None
    )


def _suppress_nfc_forms(
    conn: sa.Connection, table: sa.TableClause, row: sa.Row, ids: dict, kid: str
) -> None:
    """Put the NFC hash of a completed erasure's non-NFC ids on the suppression list
    where the old hash still is (ids hashed before the NFC rule)."""
    from eventsync.pseudonyms import subject_hash

    ws = row.workspace_id
    for kind, values in ids.items():
        for subject in values:
            if unicodedata.normalize("NFC", subject) == subject:
                continue  # its hash did not change
            digest = subject_hash(ws, kind, subject)
            if _on_list(conn, table, ws, kind, _old_hash(ws, kind, subject)) and not _on_list(
                conn, table, ws, kind, digest
            ):
                conn.execute(
                    sa.insert(table).values(
                        workspace_id=row.workspace_id,
                        subject_type=kind,
                        subject_hash=digest,
                        key_id=kid,
                        request_id=row.id,
                        created_at=now_iso(),
                    )
                )


def downgrade() -> None:
    with op.batch_alter_table("privacy_requests") as batch:
        batch.drop_column("subject_hashes")

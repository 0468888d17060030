"""events.pathname and events.user_agent as wide as their limits

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02

Every string column of `events` now has the width of its event limit
(eventsync/event_limits.py); `pathname` (2,048 characters) and `user_agent` (1,024)
were unbounded text: other writers of the store could put in values that ingestion
refuses (the export quarantines them).

On PostgreSQL a change from text to varchar(n) checks every stored value, so it
rewrites the table once (both columns in one statement) and holds its lock meanwhile:
ingestion waits until the migration commits. A value longer than its
new width is never cut: the migration then stops, changes nothing, and names the
column and the number of rows to fix. SQLite does not enforce widths; its table is
copied with the new declared types. The downgrade (varchar to text) rewrites nothing.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# Frozen here (a later change of a limit is a later migration).
WIDTHS = {"pathname": 2048, "user_agent": 1024}


class ValuesTooLong(RuntimeError):
    """Stored values exceed the new widths; nothing was changed."""


def _too_long(conn: sa.Connection) -> dict[str, int]:
    """{column: rows whose value is longer than its new width}, for the columns that
    have such rows."""
    counts = {}
    for column, width in WIDTHS.items():
        n = conn.execute(
            sa.text(f"SELECT count(*) FROM events WHERE char_length({column}) > :w"), {"w": width}
        ).scalar_one()
        if n:
            counts[column] = n
    return counts


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        with op.batch_alter_table("events") as batch:
            for column, width in WIDTHS.items():
                batch.alter_column(
                    column, existing_type=sa.Text(), type_=sa.String(width), existing_nullable=True
                )
        return
    alter = ", ".join(f"ALTER COLUMN {c} TYPE varchar({w})" for c, w in WIDTHS.items())
    savepoint = conn.begin_nested()
    try:
        conn.execute(sa.text(f"ALTER TABLE events {alter}"))
    except sa.exc.DataError:
        savepoint.rollback()
        found = ", ".join(
            f"{n} rows of events.{c} are longer than {WIDTHS[c]} characters"
            for c, n in _too_long(conn).items()
        )
        raise ValuesTooLong(
            f"migration 0008 changed nothing: {found or 'values are too long'}. The export "
            "quarantines these rows; shorten or delete them, then upgrade again."
        ) from None
    savepoint.commit()


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        for column, width in WIDTHS.items():
            batch.alter_column(
                column, existing_type=sa.String(width), type_=sa.Text(), existing_nullable=True
            )

"""The export ledger (one row per exported day: status, files, numbers, source
fingerprint) and the subject -> days index erasure uses to find the exported days
that hold a user or company."""

from __future__ import annotations

import io
import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.csv as pacsv
from sqlalchemy import Connection, Engine, and_, delete, insert, or_, select, update

from eventsync.clock import now_iso, to_us
from eventsync.engine.duck import duck
from eventsync.engine.formats.text import sql_path
from eventsync.store.schema import export_ledger, export_subjects

if TYPE_CHECKING:
    from eventsync.engine.day_export import ExportResult
    from eventsync.engine.staging import StageResult

_CHUNK = 500
# The ledger status of a day whose re-export is replacing its files (its manifest says
# so too, eventsync/engine/manifest.py); exported | failed otherwise.
REWRITING = "rewriting"


def _chunks(ids: list[str]) -> list[list[str]]:
    return [ids[i : i + _CHUNK] for i in range(0, len(ids), _CHUNK)]


def _day(table: Any, sync_id: str, day: str) -> Any:
    return and_(table.c.sync_id == sync_id, table.c.day == day)


def subjects_of(staged: Path) -> list[tuple[str, str]]:
    """(subject type, id) of every user and company in a staged file."""
    table = _subjects_table(staged)
    return list(zip(table.column(0).to_pylist(), table.column(1).to_pylist(), strict=True))


def _subjects_table(staged: Path) -> pa.Table:
    src = f"read_parquet({sql_path(staged)})"
    return (
        duck()
        .sql(
            f"SELECT DISTINCT 'user' AS t, user_id AS id FROM {src}"
            f" UNION SELECT DISTINCT 'company', company_id FROM {src} WHERE company_id IS NOT NULL"
        )
        .arrow()
        .read_all()
    )


def _copy_rows(sync_id: str, day: str, subjects: list[tuple[str, str]]) -> bytes:
    """The index rows as CSV for PostgreSQL's COPY (every value quoted: an empty id
    stays an empty string, not NULL)."""
    n = len(subjects)
    table = pa.table(
        {
            "sync_id": pa.array([sync_id] * n, pa.string()),
            "day": pa.array([day] * n, pa.string()),
            "subject_type": pa.array([t for t, _ in subjects], pa.string()),
            "subject_id": pa.array([i for _, i in subjects], pa.string()),
        }
    )
    buf = io.BytesIO()
    pacsv.write_csv(table, buf, pacsv.WriteOptions(include_header=False, quoting_style="all_valid"))
    return buf.getvalue()


def _insert_subjects(
    conn: Connection, sync_id: str, day: str, subjects: list[tuple[str, str]], union: bool
) -> None:
    """Add the day's subjects to its index inside the caller's transaction; `union`:
    some may be there already (kept). PostgreSQL: one COPY (into a temporary table
    first for a union), ~20x faster than an executemany of 50k rows; SQLite: one
    executemany of plain tuples."""
    if not subjects:
        return
    cols = "sync_id, day, subject_type, subject_id"
    raw = conn.connection.driver_connection
    if conn.dialect.driver in ("psycopg2", "psycopg"):
        data = _copy_rows(sync_id, day, subjects)
        target = "export_subjects"
        if union:
            conn.exec_driver_sql(
                "CREATE TEMPORARY TABLE IF NOT EXISTS _eventsync_subjects"
                " (LIKE export_subjects) ON COMMIT DROP"
            )
            target = "_eventsync_subjects"
        copy = f"COPY {target} ({cols}) FROM STDIN WITH (FORMAT csv)"
        with raw.cursor() as cur:
            if hasattr(cur, "copy_expert"):  # psycopg2
                cur.copy_expert(copy, io.BytesIO(data))
            else:  # psycopg 3
                with cur.copy(copy) as pipe:
                    pipe.write(data)
        if union:
            conn.exec_driver_sql(
                f"INSERT INTO export_subjects ({cols}) SELECT {cols} FROM _eventsync_subjects"
                " ON CONFLICT DO NOTHING"
            )
        return
    verb = "INSERT OR IGNORE" if union and conn.dialect.name == "sqlite" else "INSERT"
    if union and conn.dialect.name != "sqlite":
        known = set(
            conn.execute(
                select(export_subjects.c.subject_type, export_subjects.c.subject_id).where(
                    _day(export_subjects, sync_id, day)
                )
            ).all()
        )
        subjects = [s for s in subjects if tuple(s) not in known]
    conn.exec_driver_sql(
        f"{verb} INTO export_subjects ({cols}) VALUES (?, ?, ?, ?)"
        if conn.dialect.paramstyle == "qmark"
        else f"{verb} INTO export_subjects ({cols}) VALUES (%s, %s, %s, %s)",
        [(sync_id, day, t, i) for t, i in subjects],
    )


def index_subjects_ahead(engine: Engine, stage: StageResult) -> list[tuple[str, str]]:
    """Write-ahead: add the staged day's subjects to the day's index before any of its
    files is uploaded (a union: files of an earlier export may still be there). An
    export killed after this point leaves a day an erasure will visit."""
    subjects = subjects_of(Path(stage.staged_path))
    with engine.begin() as conn:
        write_subjects_ahead(conn, stage.sync_id, stage.day, subjects)
    return subjects


def write_subjects_ahead(
    conn: Connection, sync_id: str, day: str, subjects: list[tuple[str, str]]
) -> None:
    """`index_subjects_ahead` inside the caller's transaction (a fenced one)."""
    _insert_subjects(conn, sync_id, day, subjects, union=True)


def previously_exported(engine: Engine, sync_id: str, day: str) -> bool:
    """True when a manifest of the day may be at the destination: the ledger lists
    files of it, or an export of it was being rewritten (a re-export then marks the day
    before it replaces any file)."""
    with engine.connect() as conn:
        row = conn.execute(
            select(export_ledger.c.status, export_ledger.c.files).where(
                _day(export_ledger, sync_id, day)
            )
        ).first()
    return row is not None and (row.status == REWRITING or row.files not in ("", "[]"))


def has_complete_export(engine: Engine, sync_id: str, day: str) -> bool:
    """True when the day's last export is of the complete (closed) day: an intraday
    export never replaces it."""
    with engine.connect() as conn:
        row = conn.execute(
            select(export_ledger.c.status, export_ledger.c.partial_through).where(
                _day(export_ledger, sync_id, day)
            )
        ).first()
    return row is not None and row.status == "exported" and row.partial_through is None


def mark_rewriting(conn: Connection, stage: StageResult, writer: str) -> None:
    """The day's ledger row while a re-export replaces its files: no files, no rows
    (what its manifest, marked `rewriting`, says too), and who rewrites it."""
    values = {
        "workspace_id": stage.workspace_id,
        "export_id": "",
        "status": REWRITING,
        "rows": 0,
        "bytes": 0,
        "files": "[]",
        "error": f"being rewritten by {writer}; the next run of the day completes it"[:2000],
        "exported_at": now_iso(),
    }
    updated = conn.execute(
        update(export_ledger).where(_day(export_ledger, stage.sync_id, stage.day)).values(**values)
    ).rowcount
    if not updated:
        conn.execute(
            insert(export_ledger).values(
                sync_id=stage.sync_id,
                day=stage.day,
                quarantined=stage.quarantined,
                source_rows=0,
                **values,
            )
        )


def record_export(
    engine: Engine,
    stage: StageResult,
    result: ExportResult,
    subjects: list[tuple[str, str]] | None = None,
) -> None:
    """The day's ledger row (from its manifest) and its subject index narrowed to the
    staged file that was exported (`subjects`, when the caller read them already), in
    one transaction."""
    subjects = subjects if subjects is not None else subjects_of(Path(stage.staged_path))
    with engine.begin() as conn:
        write_export(conn, result.manifest, subjects)


def write_export(
    conn: Connection, manifest: dict[str, Any], subjects: list[tuple[str, str]]
) -> None:
    """`record_export` inside the caller's transaction (a fenced one: day_export.py)."""
    sync_id, day = manifest["sync_id"], manifest["date"]
    fp = manifest["source_fingerprint"]
    conn.execute(delete(export_ledger).where(_day(export_ledger, sync_id, day)))
    conn.execute(
        insert(export_ledger).values(
            sync_id=sync_id,
            day=day,
            workspace_id=manifest["workspace_id"],
            export_id=manifest["export_id"],
            status="exported",
            rows=manifest["rows"],
            quarantined=manifest["quarantined"],
            bytes=sum(f["bytes"] for f in manifest["files"]),
            files=json.dumps(manifest["files"]),
            source_rows=fp["rows"],
            source_max_received_at=fp["max_received_at"],
            source_checksum=fp["checksum"],
            error=None,
            exported_at=now_iso(),
            source_filter=filter_key(manifest.get("filters")),
            partial_through=manifest_partial_through(manifest),
        )
    )
    _narrow_subjects(conn, sync_id, day, subjects)


NO_FILTER = {"event_names": None, "event_types": None}


def filter_key(filters: dict[str, Any] | None) -> str:
    """The ledger's form of a day's filters (canonical JSON; no filter is all None)."""
    return json.dumps({**NO_FILTER, **(filters or {})}, sort_keys=True)


def manifest_partial_through(manifest: dict[str, Any]) -> int | None:
    """The cut-off (µs) of a partial manifest, None for a complete day."""
    if manifest.get("status") != "partial":
        return None
    return to_us(datetime.fromisoformat(manifest["complete_through"].replace("Z", "+00:00")))


def _narrow_subjects(
    conn: Connection, sync_id: str, day: str, subjects: list[tuple[str, str]]
) -> None:
    """Make the day's index exactly `subjects`. It holds them already (the write-ahead
    union) plus, at most, subjects of an earlier export of the day that are gone now:
    only those are deleted (usually none), instead of deleting and re-inserting the
    day's ~20k rows (0.8 s a day of a 365-day backfill on SQLite)."""
    indexed = conn.execute(
        select(export_subjects.c.subject_type, export_subjects.c.subject_id).where(
            _day(export_subjects, sync_id, day)
        )
    ).all()
    present = {(t, i) for t, i in subjects}
    stale: dict[str, list[str]] = {}
    for t, i in indexed:
        if (t, i) not in present:
            stale.setdefault(t, []).append(i)
    _delete_subjects(conn, sync_id, day, stale)
    missing = present - {(t, i) for t, i in indexed}
    if missing:  # a caller that skipped the write-ahead (record_export alone)
        _insert_subjects(conn, sync_id, day, sorted(missing), union=False)


def record_rewrite(engine: Engine, manifest: dict[str, Any]) -> None:
    """A day rewritten by an erasure: its new export id, numbers and files. A day whose
    export was killed between its manifest and its ledger row gets the row now: the
    manifest (written last) says the export was complete."""
    with engine.begin() as conn:
        write_rewrite(conn, manifest)


def write_rewrite(conn: Connection, manifest: dict[str, Any]) -> None:
    """`record_rewrite` inside the caller's transaction (a fenced one: rewrite.py)."""
    values = {
        "export_id": manifest["export_id"],
        "rows": manifest["rows"],
        "bytes": sum(f["bytes"] for f in manifest["files"]),
        "files": json.dumps(manifest["files"]),
        "exported_at": now_iso(),
    }
    sync_id, day = manifest["sync_id"], manifest["date"]
    updated = conn.execute(
        update(export_ledger).where(_day(export_ledger, sync_id, day)).values(**values)
    ).rowcount
    if not updated:
        fp = manifest.get("source_fingerprint") or {}
        conn.execute(
            insert(export_ledger).values(
                sync_id=sync_id,
                day=day,
                workspace_id=manifest.get("workspace_id", ""),
                status="exported",
                quarantined=manifest.get("quarantined", 0),
                source_rows=fp.get("rows", 0),
                source_max_received_at=fp.get("max_received_at"),
                source_checksum=fp.get("checksum"),
                error=None,
                **values,
            )
        )


def record_failure(engine: Engine, stage: StageResult, error: str) -> None:
    """Mark the day failed, keeping the last good export's numbers (its files are
    still what the manifest at the destination lists; none, when a failed re-export
    marked the day `rewriting`)."""
    sync_id, day = stage.sync_id, stage.day
    with engine.begin() as conn:
        updated = conn.execute(
            update(export_ledger)
            .where(_day(export_ledger, sync_id, day))
            .values(status="failed", error=error[:2000])
        ).rowcount
        if not updated:
            conn.execute(
                insert(export_ledger).values(
                    sync_id=sync_id,
                    day=day,
                    workspace_id=stage.workspace_id,
                    export_id="",
                    status="failed",
                    rows=0,
                    quarantined=stage.quarantined,
                    bytes=0,
                    files="[]",
                    source_rows=0,
                    error=error[:2000],
                    exported_at=now_iso(),
                )
            )


def exported_files(engine: Engine, sync_id: str, day: str) -> list[dict[str, Any]]:
    """The files the ledger lists for a day (empty: none exported)."""
    with engine.connect() as conn:
        row = conn.execute(
            select(export_ledger.c.files).where(_day(export_ledger, sync_id, day))
        ).first()
    return json.loads(row.files) if row is not None else []


def _subject_clause(users: list[str], companies: list[str]) -> Any:
    return or_(
        *[
            and_(export_subjects.c.subject_type == kind, export_subjects.c.subject_id.in_(chunk))
            for kind, ids in (("user", users), ("company", companies))
            for chunk in _chunks(ids)
        ]
    )


def days_for_subjects(
    engine: Engine, sync_ids: list[str], users: list[str], companies: list[str]
) -> dict[str, list[str]]:
    """{sync_id: [days]} whose exported files hold any of the subjects."""
    if not sync_ids or not (users or companies):
        return {}
    with engine.connect() as conn:
        rows = conn.execute(
            select(export_subjects.c.sync_id, export_subjects.c.day)
            .where(export_subjects.c.sync_id.in_(sync_ids), _subject_clause(users, companies))
            .distinct()
            .order_by(export_subjects.c.sync_id, export_subjects.c.day)
        ).all()
    out: dict[str, list[str]] = {}
    for sync_id, day in rows:
        out.setdefault(sync_id, []).append(day)
    return out


def drop_subjects(
    conn: Connection, sync_id: str, day: str, users: list[str], companies: list[str]
) -> None:
    """The day no longer holds these subjects: remove them from its index (inside the
    caller's transaction)."""
    _delete_subjects(conn, sync_id, day, {"user": users, "company": companies})


def _delete_subjects(
    conn: Connection, sync_id: str, day: str, ids_by_type: dict[str, list[str]]
) -> None:
    for kind, ids in ids_by_type.items():
        for chunk in _chunks(ids):
            conn.execute(
                delete(export_subjects).where(
                    _day(export_subjects, sync_id, day),
                    export_subjects.c.subject_type == kind,
                    export_subjects.c.subject_id.in_(chunk),
                )
            )

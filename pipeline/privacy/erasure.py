"""The file side of an erasure: staging, quarantine, earlier access exports and the
exported days (pipeline/privacy/steps.py lists every step in order).

- `staging` / `quarantine`: filter the subjects out of the local Parquet partitions.
- `access_exports`: delete earlier access-export files of the subjects; their requests
  become `erased` (no location, a note why).
- `exports`: rewrite only the exported days the subject -> days index lists
  (manifest-listed files filtered in their format, same keys, new manifest written
  last); a destination that refuses read/list/delete gets a tombstone instead. A day is
  journaled before it is touched, so a crash at any point (say between a file and its
  manifest) resumes with exact counts, and the manifest and ledger row are rewritten
  whenever they no longer match the files.
- `verify_files`: re-read every rewritten day and the local partitions.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from sqlalchemy import Engine, and_, delete, or_, select, update

from assets.event_schema import SCHEMA_VERSION
from assets.export import MANIFEST, day_prefix
from assets.staging import QUARANTINE_FILE, STAGED_FILE, SUMMARY_FILE
from pipeline.privacy import ledger
from pipeline.privacy.files import (
    CONTENT_TYPE,
    count_in_export,
    count_subject_rows,
    filter_export_bytes,
    filter_parquet_file,
)
from pipeline.privacy.opener import Opener
from pipeline.privacy.purge import chunks as _chunks
from pipeline.privacy.tombstones import tombstoned_syncs as _tombstoned_syncs
from pipeline.privacy.tombstones import write_tombstone
from pipeline.syncs.config import Sync, get_sync, list_syncs
from resources.clock import now_iso
from resources.destinations.base import Destination, DestinationError
from resources.schema import export_ledger, export_subjects
from resources.settings import data_root


# --- steps ----------------------------------------------------------------------------
def _local_partitions(kind: str, sync_ids: list[str], filename: str) -> list[Path]:
    out: list[Path] = []
    for sync_id in sync_ids:
        base = data_root() / kind / sync_id
        if base.exists():
            out.extend(sorted(base.glob(f"date=*/{filename}")))
    return out


def _adjust_summary(staging_file: Path, field: str, removed: int) -> None:
    summary = staging_file.parent / SUMMARY_FILE
    if not summary.exists():
        return
    doc = json.loads(summary.read_text())
    doc[field] = max(0, int(doc.get(field, 0)) - removed)
    doc.setdefault("extra", {})["erased_rows"] = doc["extra"].get("erased_rows", 0) + removed
    tmp = summary.with_suffix(".erase-tmp")
    tmp.write_text(json.dumps(doc, sort_keys=True, indent=1))
    tmp.replace(summary)


def _workspace_sync_ids(engine: Engine, workspace_id: str) -> list[str]:
    return [s.id for s in list_syncs(engine, workspace_id)]


def step_staging(engine: Engine, req: ledger.PrivacyRequest) -> dict[str, Any]:
    users, companies = set(req.user_ids), set(req.company_ids)
    files, rows = 0, 0
    for path in _local_partitions(
        "staging", _workspace_sync_ids(engine, req.workspace_id), STAGED_FILE
    ):
        removed = filter_parquet_file(path, users, companies)
        if removed:
            _adjust_summary(path, "valid", removed)
            files += 1
            rows += removed
    return {"files_rewritten": files, "rows_removed": rows}


def step_quarantine(engine: Engine, req: ledger.PrivacyRequest) -> dict[str, Any]:
    users, companies = set(req.user_ids), set(req.company_ids)
    files, rows = 0, 0
    sync_ids = _workspace_sync_ids(engine, req.workspace_id)
    for path in _local_partitions("quarantine", sync_ids, QUARANTINE_FILE):
        removed = filter_parquet_file(path, users, companies)
        if removed:
            staged = data_root() / "staging" / path.parent.parent.name / path.parent.name
            _adjust_summary(staged / STAGED_FILE, "quarantined", removed)
            files += 1
            rows += removed
    return {"files_rewritten": files, "rows_removed": rows}


# --- earlier access exports -----------------------------------------------------------
def step_access_exports(engine: Engine, req: ledger.PrivacyRequest, opener: Opener) -> dict:
    """Delete the files of earlier access exports of the subjects (a tombstone where the
    destination refuses). `requests_removed` lists those requests: the runner marks
    them `erased`."""
    users, companies = set(req.user_ids), set(req.company_ids)
    deleted: list[str] = []
    tombstoned: list[str] = []
    removed: list[str] = []
    for other in ledger.list_requests(engine, req.workspace_id, kind="access_export", limit=10_000):
        if not (users & set(other.user_ids) or companies & set(other.company_ids)):
            continue
        output = other.progress.get("output") or {}
        if output.get("local_path"):
            path = Path(output["local_path"])
            if path.exists():
                path.unlink()
                deleted.append(str(path))
        elif output.get("sync_id") and output.get("key"):
            try:
                sync = get_sync(engine, output["sync_id"])
            except LookupError:
                continue
            dest = opener(sync)
            try:
                dest.delete([output["key"]])
                deleted.append(dest.describe(output["key"]))
            except PermissionError:
                write_tombstone(engine, req, dest, {"access_exports": [output["key"]]})
                tombstoned.append(dest.describe(output["key"]))
        else:
            continue
        removed.append(other.id)
    return {"files_deleted": deleted, "files_tombstoned": tombstoned, "requests_removed": removed}


# --- exported days --------------------------------------------------------------------
def indexed_days(engine: Engine, req: ledger.PrivacyRequest) -> dict[str, list[str]]:
    """{sync_id: [days]} the subject -> days index lists for this request's subjects."""
    syncs = _workspace_sync_ids(engine, req.workspace_id)
    if not syncs:
        return {}
    clauses = [
        and_(export_subjects.c.subject_type == "user", export_subjects.c.subject_id.in_(chunk))
        for chunk in _chunks(req.user_ids)
    ] + [
        and_(export_subjects.c.subject_type == "company", export_subjects.c.subject_id.in_(chunk))
        for chunk in _chunks(req.company_ids)
    ]
    with engine.connect() as conn:
        rows = conn.execute(
            select(export_subjects.c.sync_id, export_subjects.c.day)
            .where(export_subjects.c.sync_id.in_(syncs), or_(*clauses))
            .distinct()
            .order_by(export_subjects.c.sync_id, export_subjects.c.day)
        ).all()
    out: dict[str, list[str]] = {}
    for sync_id, day in rows:
        out.setdefault(sync_id, []).append(day)
    return out


def _read_manifest(engine: Engine, dest: Destination, sync_id: str, day: str) -> dict | None:
    key = day_prefix(sync_id, day) + MANIFEST
    try:
        return json.loads(dest.get_bytes(key))
    except FileNotFoundError:
        with engine.connect() as conn:
            row = conn.execute(
                select(export_ledger.c.files).where(
                    export_ledger.c.sync_id == sync_id, export_ledger.c.day == day
                )
            ).first()
        if row is None or not json.loads(row.files):
            return None
        return {"files": json.loads(row.files), "sync_id": sync_id, "date": day}


def _ledger_files(engine: Engine, sync_id: str, day: str) -> list[dict] | None:
    with engine.connect() as conn:
        files = conn.execute(
            select(export_ledger.c.files).where(
                export_ledger.c.sync_id == sync_id, export_ledger.c.day == day
            )
        ).scalar()
    return json.loads(files) if files is not None else None


def rewrite_day(
    engine: Engine, req: ledger.PrivacyRequest, dest: Destination, sync: Sync, day: str
) -> dict[str, Any]:
    """Filter the subjects out of every manifest-listed file of the day, upload them
    under the same keys, then the new manifest; update the ledger and the index.
    Raises PermissionError when the destination refuses to be read."""
    users, companies = set(req.user_ids), set(req.company_ids)
    manifest = _read_manifest(engine, dest, sync.id, day)
    result = {"day": day, "rows_removed": 0, "files_written": 0, "keys": []}
    if manifest is not None:
        new_files = []
        kept_rows = None
        with tempfile.TemporaryDirectory(prefix="eventsync-erase-") as tmp:
            for f in manifest.get("files", []):
                try:
                    data = dest.get_bytes(f["key"])
                except FileNotFoundError:
                    continue
                kept, removed, out = filter_export_bytes(
                    data, f["format"], f["key"], users, companies, Path(tmp)
                )
                kept_rows = kept if kept_rows is None else kept_rows
                result["rows_removed"] = max(result["rows_removed"], removed)
                if removed:
                    dest.put_file(f["key"], out, content_type=CONTENT_TYPE.get(f["format"]))
                    result["files_written"] += 1
                    result["keys"].append(f["key"])
                body = out.read_bytes() if removed else data
                new_files.append(
                    {
                        **f,
                        "rows": kept,
                        "bytes": len(body),
                        "sha256": hashlib.sha256(body).hexdigest(),
                    }
                )
        # A file filtered by an attempt that died before the manifest (or the ledger row)
        # was written leaves them stale: rewrite them too, so they match the files.
        stale = new_files != manifest.get("files") or new_files != _ledger_files(
            engine, sync.id, day
        )
        if result["files_written"] or stale:
            export_id = hashlib.sha256(
                json.dumps([SCHEMA_VERSION, new_files], sort_keys=True).encode()
            ).hexdigest()[:32]
            manifest.update(files=new_files, rows=kept_rows or 0, export_id=export_id)
            erasures = manifest.setdefault("erasures", [])
            if not any(e.get("request_id") == req.id for e in erasures):
                erasures.append(
                    {"request_id": req.id, "rows_removed": result["rows_removed"], "at": now_iso()}
                )
            dest.put_bytes(
                day_prefix(sync.id, day) + MANIFEST,
                (json.dumps(manifest, sort_keys=True, indent=2) + "\n").encode(),
                content_type="application/json",
            )
            result["files_written"] += 1
            with engine.begin() as conn:
                conn.execute(
                    update(export_ledger)
                    .where(export_ledger.c.sync_id == sync.id, export_ledger.c.day == day)
                    .values(
                        export_id=export_id,
                        rows=kept_rows or 0,
                        bytes=sum(f["bytes"] for f in new_files),
                        files=json.dumps(new_files),
                        exported_at=now_iso(),
                    )
                )
    # The day no longer holds the subjects: drop them from the index.
    with engine.begin() as conn:
        for kind, ids in (("user", req.user_ids), ("company", req.company_ids)):
            for chunk in _chunks(ids):
                conn.execute(
                    delete(export_subjects).where(
                        export_subjects.c.sync_id == sync.id,
                        export_subjects.c.day == day,
                        export_subjects.c.subject_type == kind,
                        export_subjects.c.subject_id.in_(chunk),
                    )
                )
    return result


def _erase_sync_days(
    engine: Engine,
    req: ledger.PrivacyRequest,
    opener: Opener,
    sync_id: str,
    days: list[str],
    tombstoned: set[str],
) -> None:
    """Rewrite one sync's indexed days, or tombstone a destination that refuses it."""
    sync = get_sync(engine, sync_id)
    dest = opener(sync)
    where = dest.describe()

    def init(progress: dict[str, Any]) -> None:
        progress.setdefault("destinations", {}).setdefault(sync_id, {}).update(
            {"destination": where, "status": "running"}
        )
        entry = progress["destinations"][sync_id]
        for key, empty in (("days_rewritten", []), ("rows_removed", 0), ("files_written", 0)):
            entry.setdefault(key, empty)

    ledger.update_progress(engine, req.id, init)
    if sync_id in tombstoned:
        write_tombstone(engine, req, dest, {"syncs": {sync_id: days}})
        return
    for day in days:
        try:
            before = _journal(engine, req, dest, sync_id, day)
            done = rewrite_day(engine, req, dest, sync, day)
            after = _manifest_rows(engine, dest, sync_id, day)
        except PermissionError as exc:
            write_tombstone(engine, req, dest, {"syncs": {sync_id: days}})

            def tomb(p: dict[str, Any], exc: Exception = exc) -> None:
                p["destinations"][sync_id].update(
                    status="tombstone",
                    reason=f"destination refused read/delete: {exc}"[:500],
                    owner_action="the owner must clean the days listed in the tombstone",
                )

            ledger.update_progress(engine, req.id, tomb)
            return
        # Rows removed from the day by this request, over every attempt: the journal
        # holds the count from before the first attempt touched the day.
        removed = done["rows_removed"]
        if before is not None and after is not None:
            removed = max(0, before - after)

        def record(p: dict[str, Any], done: dict = done, removed: int = removed) -> None:
            d = p["destinations"][sync_id]
            rewritten = done["files_written"] or removed
            bucket = "days_rewritten" if rewritten else "days_without_rows"
            if done["day"] not in d.setdefault(bucket, []):
                d[bucket].append(done["day"])
            d["rows_removed"] += removed
            d["files_written"] += done["files_written"]
            p.get("in_flight", {}).get(sync_id, {}).pop(done["day"], None)

        ledger.update_progress(
            engine,
            req.id,
            record,
            "job",
            "day_rewritten",
            {"sync_id": sync_id, "day": day, "rows_removed": removed},
        )
    ledger.update_progress(
        engine, req.id, lambda p: p["destinations"][sync_id].update(status="done", error=None)
    )


def _manifest_rows(engine: Engine, dest: Destination, sync_id: str, day: str) -> int | None:
    manifest = _read_manifest(engine, dest, sync_id, day)
    rows = (manifest or {}).get("rows")
    return int(rows) if rows is not None else None


def _journal(
    engine: Engine, req: ledger.PrivacyRequest, dest: Destination, sync_id: str, day: str
) -> int | None:
    """Before a day is touched: record its manifest's row count once (a resumed attempt
    keeps the first count) in progress.in_flight; returns it."""
    current = req.progress.get("in_flight", {}).get(sync_id, {})
    fresh = ledger.get_request(engine, req.id).progress.get("in_flight", {}).get(sync_id, {})
    if day in fresh or day in current:
        return fresh.get(day, current.get(day))
    rows = _manifest_rows(engine, dest, sync_id, day)
    ledger.update_progress(
        engine,
        req.id,
        lambda p: p.setdefault("in_flight", {}).setdefault(sync_id, {}).setdefault(day, rows),
    )
    return rows


def days_to_rewrite(engine: Engine, req: ledger.PrivacyRequest) -> dict[str, list[str]]:
    """The indexed days, plus days an earlier attempt started but did not record (it may
    have dropped them from the index already)."""
    days = indexed_days(engine, req)
    journal = ledger.get_request(engine, req.id).progress.get("in_flight", {})
    for sync_id, pending in journal.items():
        if pending:
            days[sync_id] = sorted(set(days.get(sync_id, [])) | set(pending))
    return dict(sorted(days.items()))


def step_exports(engine: Engine, req: ledger.PrivacyRequest, opener: Opener) -> dict[str, Any]:
    """Rewrite the indexed days, sync by sync; per-destination progress after each day.
    One destination failing does not stop the others: every reachable destination is
    cleaned, then the step fails naming the ones that were not."""
    tombstoned = set(_tombstoned_syncs(ledger.get_request(engine, req.id)))
    failures: dict[str, str] = {}
    for sync_id, days in days_to_rewrite(engine, req).items():
        try:
            _erase_sync_days(engine, req, opener, sync_id, days, tombstoned)
        except Exception as exc:
            failures[sync_id] = f"{type(exc).__name__}: {exc}"

            def failed(
                p: dict[str, Any], sync_id: str = sync_id, err: str = failures[sync_id]
            ) -> None:
                p.setdefault("destinations", {}).setdefault(sync_id, {}).update(
                    status="failed", error=err[:1000]
                )

            ledger.update_progress(engine, req.id, failed)
    if failures:
        raise DestinationError(
            "erasure could not rewrite the exports of "
            + "; ".join(f"sync {s}: {e}" for s, e in sorted(failures.items()))
        )
    progress = ledger.get_request(engine, req.id).progress
    dests = progress.get("destinations", {})
    return {
        "days_rewritten": sum(len(d["days_rewritten"]) for d in dests.values()),
        "rows_removed": sum(d["rows_removed"] for d in dests.values()),
        "files_written": sum(d["files_written"] for d in dests.values()),
        "tombstones": sorted(progress.get("tombstones", {})),
    }


def verify_files(
    engine: Engine, req: ledger.PrivacyRequest, opener: Opener
) -> tuple[int, list[str]]:
    """(files read, problems): re-read the local partitions and every rewritten day --
    no row of the subjects, every file as its manifest says, the ledger row as the
    manifest says."""
    users, companies = set(req.user_ids), set(req.company_ids)
    problems: list[str] = []
    files_read = 0
    sync_ids = _workspace_sync_ids(engine, req.workspace_id)
    for kind, name in (("staging", STAGED_FILE), ("quarantine", QUARANTINE_FILE)):
        for path in _local_partitions(kind, sync_ids, name):
            table = pq.read_table(path, columns=["user_id", "company_id"])
            files_read += 1
            if count_subject_rows(table, users, companies):
                problems.append(f"{kind}: {path}")
    with tempfile.TemporaryDirectory(prefix="eventsync-verify-") as tmp:
        for sync_id, info in req.progress.get("destinations", {}).items():
            if info.get("status") == "tombstone":
                continue
            sync = get_sync(engine, sync_id)
            dest = opener(sync)
            for day in info.get("days_rewritten", []):
                manifest = json.loads(dest.get_bytes(day_prefix(sync_id, day) + MANIFEST))
                files_read += 1
                if _ledger_files(engine, sync_id, day) != manifest["files"]:
                    problems.append(f"ledger row of {sync_id} {day}: does not match its manifest")
                for f in manifest["files"]:
                    data = dest.get_bytes(f["key"])
                    files_read += 1
                    rows, hits = count_in_export(
                        data, f["format"], f["key"], users, companies, Path(tmp)
                    )
                    if hits:
                        problems.append(f"{dest.describe(f['key'])}: {hits} rows")
                    if hashlib.sha256(data).hexdigest() != f["sha256"] or rows != f["rows"]:
                        problems.append(f"{dest.describe(f['key'])}: does not match its manifest")
    return files_read, problems

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

from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from assets import ledger as export_ledger
from assets import manifest, rewrite, staging
from pipeline.privacy import ledger
from pipeline.privacy.opener import Opener
from pipeline.privacy.tombstones import tombstoned_syncs as _tombstoned_syncs
from pipeline.privacy.tombstones import write_tombstone
from pipeline.syncs.config import get_sync, list_syncs
from resources.destinations.base import Destination, DestinationError


def _workspace_sync_ids(engine: Engine, workspace_id: str) -> list[str]:
    return [s.id for s in list_syncs(engine, workspace_id)]


def _clean_area(engine: Engine, req: ledger.PrivacyRequest, area: staging.Area) -> dict:
    files, rows = staging.remove_subjects(
        area,
        _workspace_sync_ids(engine, req.workspace_id),
        set(req.user_ids),
        set(req.company_ids),
    )
    return {"files_rewritten": files, "rows_removed": rows}


def step_staging(engine: Engine, req: ledger.PrivacyRequest) -> dict[str, Any]:
    return _clean_area(engine, req, "staging")


def step_quarantine(engine: Engine, req: ledger.PrivacyRequest) -> dict[str, Any]:
    return _clean_area(engine, req, "quarantine")


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
    return export_ledger.days_for_subjects(
        engine, _workspace_sync_ids(engine, req.workspace_id), req.user_ids, req.company_ids
    )


def _erase_sync_days(
    engine: Engine,
    req: ledger.PrivacyRequest,
    opener: Opener,
    sync_id: str,
    days: list[str],
    tombstoned: set[str],
) -> None:
    """Rewrite one sync's indexed days, or tombstone a destination that refuses it."""
    dest = opener(get_sync(engine, sync_id))
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
    users, companies = set(req.user_ids), set(req.company_ids)
    for day in days:
        try:
            before = _journal(engine, req, dest, sync_id, day)
            done = rewrite.rewrite_day(engine, dest, sync_id, day, users, companies, req.id)
            after = rewrite.day_rows(engine, dest, sync_id, day)
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
        removed = done.rows_removed
        if before is not None and after is not None:
            removed = max(0, before - after)

        def record(
            p: dict[str, Any], done: rewrite.DayRewrite = done, removed: int = removed
        ) -> None:
            d = p["destinations"][sync_id]
            rewritten = done.files_written or removed
            bucket = "days_rewritten" if rewritten else "days_without_rows"
            if done.day not in d.setdefault(bucket, []):
                d[bucket].append(done.day)
            d["rows_removed"] += removed
            d["files_written"] += done.files_written
            p.get("in_flight", {}).get(sync_id, {}).pop(done.day, None)

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


def _journal(
    engine: Engine, req: ledger.PrivacyRequest, dest: Destination, sync_id: str, day: str
) -> int | None:
    """Before a day is touched: record its manifest's row count once (a resumed attempt
    keeps the first count) in progress.in_flight; returns it."""
    current = req.progress.get("in_flight", {}).get(sync_id, {})
    fresh = ledger.get_request(engine, req.id).progress.get("in_flight", {}).get(sync_id, {})
    if day in fresh or day in current:
        return fresh.get(day, current.get(day))
    rows = rewrite.day_rows(engine, dest, sync_id, day)
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
    area: staging.Area
    for area in ("staging", "quarantine"):
        read, hits = staging.files_with_subjects(area, sync_ids, users, companies)
        files_read += read
        problems += [f"{area}: {path}" for path in hits]
    for sync_id, info in req.progress.get("destinations", {}).items():
        if info.get("status") == "tombstone":
            continue
        dest = opener(get_sync(engine, sync_id))
        for day in info.get("days_rewritten", []):
            read, found = rewrite.verify_day(dest, sync_id, day, users, companies)
            files_read += read
            problems += found
            listed = manifest.read(dest, sync_id, day)
            if listed is not None and export_ledger.exported_files(engine, sync_id, day) != listed[
                1
            ].get("files"):
                problems.append(f"ledger row of {sync_id} {day}: does not match its manifest")
    return files_read, problems

"""The file side of an erasure: staging, quarantine, earlier access exports and the
exported days (eventsync/privacy/steps.py lists every step in order).

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

from eventsync.destinations.interface import Destination, DestinationError
from eventsync.engine import export_records, manifest, rewrite, staging
from eventsync.privacy import journal, request_store
from eventsync.privacy.progress import DestinationProgress
from eventsync.privacy.request_store import PrivacyRequest
from eventsync.privacy.states import DestinationStatus, LeaseLost, RequestKind
from eventsync.privacy.step_context import StepContext
from eventsync.privacy.tombstones import write_tombstone
from eventsync.pseudonyms import subject_hash
from eventsync.syncs.config import get_sync, list_syncs


def _workspace_sync_ids(engine: Engine, workspace_id: str) -> list[str]:
    return [s.id for s in list_syncs(engine, workspace_id)]


def _clean_area(engine: Engine, req: PrivacyRequest, area: staging.Area) -> dict:
    files, rows = staging.remove_subjects(
        area,
        _workspace_sync_ids(engine, req.workspace_id),
        set(req.user_ids),
        set(req.company_ids),
    )
    return {"files_rewritten": files, "rows_removed": rows}


def step_staging(engine: Engine, req: PrivacyRequest) -> dict[str, Any]:
    return _clean_area(engine, req, "staging")


def step_quarantine(engine: Engine, req: PrivacyRequest) -> dict[str, Any]:
    return _clean_area(engine, req, "quarantine")


# --- earlier access exports -----------------------------------------------------------
def step_access_exports(ctx: StepContext) -> dict:
    """Delete the files of earlier access exports of the subjects (a tombstone where the
    destination refuses). `requests_removed` lists those requests: the runner marks
    them `erased`."""
    req, engine = ctx.request, ctx.engine
    # By keyed hash: a completed access export keeps no plain id.
    wanted = req.hashes()
    deleted: list[str] = []
    tombstoned: list[str] = []
    removed: list[str] = []
    for other in request_store.list_requests(
        engine, req.workspace_id, kind=RequestKind.ACCESS_EXPORT, limit=10_000
    ):
        if not wanted & other.hashes():
            continue
        output = other.progress.output
        if output is None:
            continue
        if output.local_path:
            path = Path(output.local_path)
            if path.exists():
                path.unlink()
                deleted.append(str(path))
        elif output.sync_id and output.key:
            try:
                sync = get_sync(engine, output.sync_id)
            except LookupError:
                continue
            dest = ctx.opener(sync)
            ctx.check_lease()
            try:
                dest.delete([output.key])
                deleted.append(dest.describe(output.key))
            except PermissionError:
                write_tombstone(ctx, dest, access_exports=[output.key])
                tombstoned.append(dest.describe(output.key))
        else:
            continue
        removed.append(other.id)
    return {"files_deleted": deleted, "files_tombstoned": tombstoned, "requests_removed": removed}


# --- exported days --------------------------------------------------------------------
def indexed_days(engine: Engine, req: PrivacyRequest) -> dict[str, list[str]]:
    """{sync_id: [days]} the subject -> days index lists for this request's subjects."""
    return export_records.days_for_subjects(
        engine, _workspace_sync_ids(engine, req.workspace_id), req.user_ids, req.company_ids
    )


def _erase_sync_days(ctx: StepContext, sync_id: str, days: list[str], tombstoned: set[str]) -> None:
    """Rewrite one sync's indexed days, or tombstone a destination that refuses it."""
    req, engine, progress = ctx.request, ctx.engine, ctx.progress
    dest = ctx.opener(get_sync(engine, sync_id))
    entry = progress.destination(sync_id, dest.describe())
    entry.status = DestinationStatus.RUNNING
    ctx.save()
    if sync_id in tombstoned:
        write_tombstone(ctx, dest, syncs={sync_id: days})
        return
    users, companies = set(req.user_ids), set(req.company_ids)
    for day in days:
        try:
            before = _journal(ctx, dest, sync_id, day)  # stops here if the lease was lost
            done = rewrite.rewrite_day(engine, dest, sync_id, day, users, companies, req.id)
            after = rewrite.day_rows(engine, dest, sync_id, day)
        except PermissionError as exc:
            write_tombstone(ctx, dest, syncs={sync_id: days})
            entry.status = DestinationStatus.TOMBSTONE
            entry.reason = f"destination refused read/delete: {exc}"[:500]
            entry.owner_action = "the owner must clean the days listed in the tombstone"
            ctx.save()
            return
        # Rows removed from the day by this request, over every attempt: the journal
        # holds the count from before the first attempt touched the day.
        removed = done.rows_removed
        if before is not None and after is not None:
            removed = max(0, before - after)
        bucket = entry.days_rewritten if done.files_written or removed else entry.days_without_rows
        if done.day not in bucket:
            bucket.append(done.day)
        entry.rows_removed += removed
        entry.files_written += done.files_written
        progress.in_flight.get(sync_id, {}).pop(done.day, None)
        ctx.save("day_rewritten", {"sync_id": sync_id, "day": day, "rows_removed": removed})
    entry.status, entry.error = DestinationStatus.DONE, None
    ctx.save()


def _journal(ctx: StepContext, dest: Destination, sync_id: str, day: str) -> int | None:
    """Before a day is touched: record its manifest's row count once (a resumed attempt
    keeps the first count) in progress.in_flight; returns it."""
    journal = ctx.progress.in_flight.setdefault(sync_id, {})
    if day in journal:
        ctx.check_lease()
        return journal[day]
    journal[day] = rewrite.day_rows(ctx.engine, dest, sync_id, day)
    ctx.save()
    return journal[day]


def days_to_rewrite(ctx: StepContext) -> dict[str, list[str]]:
    """The indexed days, plus days an earlier attempt started but did not record (it may
    have dropped them from the index already)."""
    days = indexed_days(ctx.engine, ctx.request)
    for sync_id, pending in ctx.progress.in_flight.items():
        if pending:
            days[sync_id] = sorted(set(days.get(sync_id, [])) | set(pending))
    return dict(sorted(days.items()))


def step_exports(ctx: StepContext) -> dict[str, Any]:
    """Rewrite the indexed days, sync by sync; per-destination progress after each day.
    One destination failing does not stop the others: every reachable destination is
    cleaned, then the step fails naming the ones that were not. Losing the lease stops
    it at once."""
    tombstoned = set(ctx.progress.tombstoned_syncs())
    failures: dict[str, str] = {}
    copies = publish_journal(ctx)
    for sync_id, days in days_to_rewrite(ctx).items():
        try:
            _erase_sync_days(ctx, sync_id, days, tombstoned)
        except LeaseLost:
            raise
        except Exception as exc:
            failures[sync_id] = f"{type(exc).__name__}: {exc}"
            entry = ctx.progress.destinations.setdefault(sync_id, DestinationProgress())
            entry.status, entry.error = DestinationStatus.FAILED, failures[sync_id][:1000]
            ctx.save()
    if failures:
        raise DestinationError(
            "erasure could not rewrite the exports of "
            + "; ".join(f"sync {s}: {e}" for s, e in sorted(failures.items()))
        )
    dests = ctx.progress.destinations.values()
    return {
        "days_rewritten": sum(len(d.days_rewritten) for d in dests),
        "rows_removed": sum(d.rows_removed for d in dests),
        "files_written": sum(d.files_written for d in dests),
        "tombstones": sorted(ctx.progress.tombstones),
        "journal_copies": copies,
    }


def publish_journal(ctx: StepContext) -> dict[str, int]:
    """Copy the request's journal entry to every destination of the workspace
    (`_eventsync/erasures/`), so a restore that also lost the journal file still knows
    the erasure. A destination that refuses is counted, not fatal: the journal file
    holds the entry, and the rewrite below reports the destination's own problem."""
    req = ctx.request
    entry = journal.entry_of_request(req.workspace_id, req.id)
    if entry is None:  # the journal file was lost since the suppress step
        hashed = [(k, subject_hash(req.workspace_id, k, s)) for k, s in req.subjects]
        entry = journal.new_entry(journal.ERASE, req.workspace_id, req.id, hashed)
        journal.append(entry)
    written = failed = 0
    for sync_id in _workspace_sync_ids(ctx.engine, req.workspace_id):
        ctx.check_lease()
        try:
            journal.publish(ctx.opener(get_sync(ctx.engine, sync_id)), entry)
            written += 1
        except Exception:
            failed += 1
    return {"written": written, "failed": failed}


def verify_files(ctx: StepContext) -> tuple[int, list[str]]:
    """(files read, problems): re-read the local partitions and every rewritten day --
    no row of the subjects, every file as its manifest says, the ledger row as the
    manifest says."""
    req, engine = ctx.request, ctx.engine
    users, companies = set(req.user_ids), set(req.company_ids)
    problems: list[str] = []
    files_read = 0
    sync_ids = _workspace_sync_ids(engine, req.workspace_id)
    area: staging.Area
    for area in ("staging", "quarantine"):
        read, hits = staging.files_with_subjects(area, sync_ids, users, companies)
        files_read += read
        problems += [f"{area}: {path}" for path in hits]
    for sync_id, info in ctx.progress.destinations.items():
        if info.status == DestinationStatus.TOMBSTONE:
            continue
        dest = ctx.opener(get_sync(engine, sync_id))
        for day in info.days_rewritten:
            read, found = rewrite.verify_day(dest, sync_id, day, users, companies)
            files_read += read
            problems += found
            listed = manifest.read(dest, sync_id, day)
            if listed is not None and export_records.exported_files(engine, sync_id, day) != listed[
                1
            ].get("files"):
                problems.append(f"ledger row of {sync_id} {day}: does not match its manifest")
    return files_read, problems

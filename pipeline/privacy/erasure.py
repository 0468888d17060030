"""Erasure: remove subjects (user ids, company ids and the events that carry them)
from everything eventsync holds or wrote, then prove it.

Steps, in order, each idempotent and recorded in the request's progress (a retried
request skips the steps that finished and, within `exports`, the days already
rewritten):

1. `suppress`      subjects into `suppressions` FIRST: every export from now on
                   (DayQuery) excludes them, so late events and a racing export cannot
                   bring rows back.
2. `store`         delete their events and profiles.
3. `staging`       filter staged partitions of every sync of the workspace.
4. `quarantine`    filter quarantined rows likewise.
5. `access_exports` delete earlier access-export files of these subjects.
6. `exports`       rewrite only the exported days the subject -> days index lists
                   (manifest-listed files filtered in their format, same keys, new
                   manifest written last); a destination that refuses read/list/delete
                   gets a tombstone `_deletions/<request id>.json` instead.
7. `verify`        re-read every rewritten file, the store, staging and quarantine;
                   only then `completed` with `verified_at`. Events of the subjects
                   that arrived while the erasure ran are purged here too (later ones
                   stay in the store, suppressed, never exported).

`staging`, `quarantine`, `exports` and `verify` hold the workspace's export lock
exclusively (resources/locks.py): staging a day and exporting a staged day hold it
shared, so no export that read the subjects before the suppression is in flight
while these steps clean, and none can write them back afterwards.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, or_, select, update

from assets import layout, rewrite, staging
from assets import ledger as export_ledger
from pipeline.privacy import ledger
from pipeline.privacy.opener import Opener
from pipeline.syncs.config import get_sync, list_syncs
from resources.clock import now_iso
from resources.destinations.base import Destination, DestinationError
from resources.errors import EventsyncError
from resources.schema import company_profiles, events, suppressions, user_profiles

# The erasure's steps in order, with what each does (the Dagster ops are built from this).
STEPS: dict[str, str] = {
    "suppress": "Add the subjects to the suppression list (before anything else).",
    "store": "Delete the subjects' events and profiles from the store.",
    "staging": "Filter the subjects out of staged partitions.",
    "quarantine": "Filter the subjects out of quarantine files.",
    "access_exports": "Delete earlier access-export files of the subjects.",
    "exports": "Rewrite the exported days that held the subjects (or write tombstones).",
    "verify": "Re-read rewritten files, the store, staging and quarantine: no row may remain.",
}
# Steps that clean what exports write: they hold the workspace's export lock alone, so no
# export that read the subjects before the suppression is in flight (resources/locks.py).
LOCKED_STEPS = frozenset({"staging", "quarantine", "exports", "verify"})
_BATCH = 500


class VerificationFailed(EventsyncError):
    """Re-reading found rows of an erased subject (message says where)."""


def _chunks(ids: list[str]) -> list[list[str]]:
    return [ids[i : i + _BATCH] for i in range(0, len(ids), _BATCH)]


def _subject_filter(table: Any, users: list[str], companies: list[str]) -> Any:
    clauses = [table.c.user_id.in_(chunk) for chunk in _chunks(users)]
    if "company_id" in table.c:
        clauses += [table.c.company_id.in_(chunk) for chunk in _chunks(companies)]
    return or_(*clauses) if clauses else None


# --- steps ----------------------------------------------------------------------------
def step_suppress(engine: Engine, req: ledger.PrivacyRequest) -> dict[str, Any]:
    added = 0
    with engine.begin() as conn:
        for kind, ids in (("user", req.user_ids), ("company", req.company_ids)):
            for chunk in _chunks(ids):
                present = set(
                    conn.execute(
                        select(suppressions.c.subject_id).where(
                            suppressions.c.workspace_id == req.workspace_id,
                            suppressions.c.subject_type == kind,
                            suppressions.c.subject_id.in_(chunk),
                        )
                    ).scalars()
                )
                rows = [
                    {
                        "workspace_id": req.workspace_id,
                        "subject_type": kind,
                        "subject_id": s,
                        "request_id": req.id,
                        "created_at": now_iso(),
                    }
                    for s in chunk
                    if s not in present
                ]
                if rows:
                    conn.execute(insert(suppressions), rows)
                    added += len(rows)
    return {"subjects_suppressed": added}


def step_store(engine: Engine, req: ledger.PrivacyRequest) -> dict[str, Any]:
    with engine.begin() as conn:
        return _purge_store(conn, req)


def _purge_store(conn: Connection, req: ledger.PrivacyRequest) -> dict[str, int]:
    ws = req.workspace_id
    ev = conn.execute(
        delete(events).where(
            events.c.workspace_id == ws, _subject_filter(events, req.user_ids, req.company_ids)
        )
    ).rowcount
    up = 0
    for chunk in _chunks(req.user_ids):
        up += conn.execute(
            delete(user_profiles).where(
                user_profiles.c.workspace_id == ws, user_profiles.c.user_id.in_(chunk)
            )
        ).rowcount
    cp = 0
    unlinked = 0
    for chunk in _chunks(req.company_ids):
        cp += conn.execute(
            delete(company_profiles).where(
                company_profiles.c.workspace_id == ws, company_profiles.c.company_id.in_(chunk)
            )
        ).rowcount
        # Other users' profiles keep no reference to an erased company.
        unlinked += conn.execute(
            update(user_profiles)
            .where(user_profiles.c.workspace_id == ws, user_profiles.c.company_id.in_(chunk))
            .values(company_id=None)
        ).rowcount
    return {
        "events_removed": ev,
        "user_profiles_removed": up,
        "company_profiles_removed": cp,
        "user_profiles_unlinked_from_company": unlinked,
    }


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


# --- tombstones -----------------------------------------------------------------------
def write_tombstone(
    engine: Engine, req: ledger.PrivacyRequest, dest: Destination, entry: dict[str, Any]
) -> str:
    """Write (or extend) `_deletions/<request id>.json` at a destination we may not read
    or delete from. `entry` is merged under progress.tombstones[<destination>]."""
    where = dest.describe()
    holder: dict[str, Any] = {}

    def merge(progress: dict[str, Any]) -> None:
        current = progress.setdefault("tombstones", {}).setdefault(
            where, {"syncs": {}, "access_exports": []}
        )
        for sync_id, days in entry.get("syncs", {}).items():
            current["syncs"][sync_id] = sorted(set(current["syncs"].get(sync_id, [])) | set(days))
        for key in entry.get("access_exports", []):
            if key not in current["access_exports"]:
                current["access_exports"].append(key)
        holder.update(current)

    ledger.update_progress(engine, req.id, merge)
    key = layout.tombstone_key(req.id)
    doc = {
        "request_id": req.id,
        "workspace_id": req.workspace_id,
        "user_ids": req.user_ids,
        "company_ids": req.company_ids,
        "days_by_sync": holder["syncs"],
        "access_export_files": holder["access_exports"],
        "written_at": now_iso(),
        "instructions": (
            "eventsync may not read, list or delete at this destination. Delete the rows of "
            "these user/company ids from the files of the listed days (the files each day's "
            "manifest <sync_id>/_manifests/date=<day>.json lists; days exported before that "
            "layout: <sync_id>/events/date=<day>/) and the listed access-export files."
        ),
    }
    dest.put_bytes(
        key, (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode(), "application/json"
    )
    ledger.update_progress(
        engine,
        req.id,
        lambda p: p.setdefault("owner_action_required", {}).__setitem__(
            where,
            f"write-only destination: the owner must clean the files listed in "
            f"{dest.describe(key)}",
        ),
        "job",
        "tombstone_written",
        {"destination": where, "key": key},
    )
    return dest.describe(key)


# --- earlier access exports -----------------------------------------------------------
def step_access_exports(engine: Engine, req: ledger.PrivacyRequest, opener: Opener) -> dict:
    users, companies = set(req.user_ids), set(req.company_ids)
    deleted: list[str] = []
    tombstoned: list[str] = []
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
    return {"files_deleted": deleted, "files_tombstoned": tombstoned}


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
    users, companies = set(req.user_ids), set(req.company_ids)
    for day in days:
        try:
            done = rewrite.rewrite_day(engine, dest, sync_id, day, users, companies, req.id)
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

        def record(p: dict[str, Any], done: rewrite.DayRewrite = done) -> None:
            d = p["destinations"][sync_id]
            bucket = "days_rewritten" if done.files_written else "days_without_rows"
            if done.day not in d.setdefault(bucket, []):
                d[bucket].append(done.day)
            d["rows_removed"] += done.rows_removed
            d["files_written"] += done.files_written

        ledger.update_progress(
            engine,
            req.id,
            record,
            "job",
            "day_rewritten",
            {"sync_id": sync_id, "day": day, "rows_removed": done.rows_removed},
        )
    ledger.update_progress(
        engine, req.id, lambda p: p["destinations"][sync_id].update(status="done", error=None)
    )


def step_exports(engine: Engine, req: ledger.PrivacyRequest, opener: Opener) -> dict[str, Any]:
    """Rewrite the indexed days, sync by sync; per-destination progress after each day.
    One destination failing does not stop the others: every reachable destination is
    cleaned, then the step fails naming the ones that were not."""
    tombstoned = set(_tombstoned_syncs(ledger.get_request(engine, req.id)))
    failures: dict[str, str] = {}
    for sync_id, days in indexed_days(engine, req).items():
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


def _tombstoned_syncs(req: ledger.PrivacyRequest) -> list[str]:
    return [
        s for s, d in req.progress.get("destinations", {}).items() if d.get("status") == "tombstone"
    ]


# --- verification ---------------------------------------------------------------------
def store_counts(conn: Connection, req: ledger.PrivacyRequest) -> dict[str, int]:
    ws = req.workspace_id

    def count(table: Any, cond: Any) -> int:
        if cond is None:
            return 0
        return int(
            conn.execute(
                select(func.count()).select_from(table).where(table.c.workspace_id == ws, cond)
            ).scalar_one()
        )

    return {
        "events": count(events, _subject_filter(events, req.user_ids, req.company_ids)),
        "user_profiles": count(
            user_profiles, _subject_filter(user_profiles, req.user_ids, req.company_ids)
        ),
        "company_profiles": count(
            company_profiles,
            or_(*[company_profiles.c.company_id.in_(c) for c in _chunks(req.company_ids)])
            if req.company_ids
            else None,
        ),
    }


def _purge_and_count(engine: Engine, req: ledger.PrivacyRequest) -> tuple[dict, dict]:
    """Delete the subjects' store rows again, then count them in the same transaction.

    Events of the subjects may arrive while the erasure runs (ingest accepts them; the
    suppression keeps them out of every export). Those that arrived before this point
    are erased with the request; later ones stay suppressed. A row committed between
    the DELETE and the count makes the count non-zero: purge again (a few times)."""
    purged: dict[str, int] = {}
    counts: dict[str, int] = {}
    for _ in range(20):  # a steady ingest of the subjects can need more than a few
        with engine.begin() as conn:
            for name, n in _purge_store(conn, req).items():
                purged[name] = purged.get(name, 0) + n
            counts = store_counts(conn, req)
        if not any(counts.values()):
            break
    return purged, counts


def step_verify(engine: Engine, req: ledger.PrivacyRequest, opener: Opener) -> dict[str, Any]:
    users, companies = set(req.user_ids), set(req.company_ids)
    req = ledger.get_request(engine, req.id)
    # An export that staged before the suppression and finished after the rewrite would
    # have put the subjects back into the index: rewrite those days again first.
    for _ in range(3):
        pending = {
            s: d for s, d in indexed_days(engine, req).items() if s not in _tombstoned_syncs(req)
        }
        if not pending:
            break
        step_exports(engine, req, opener)
        req = ledger.get_request(engine, req.id)
    else:
        raise VerificationFailed(f"exported days still index the subjects: {pending}")
    problems: list[str] = []
    purged, counts = _purge_and_count(engine, req)
    problems += [f"store: {n} {t} rows" for t, n in counts.items() if n]
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
    if problems:
        raise VerificationFailed("rows of erased subjects remain: " + "; ".join(problems[:20]))
    return {
        "files_read": files_read,
        "store": counts,
        "store_events_purged": purged["events_removed"],
        "store_profiles_purged": purged["user_profiles_removed"]
        + purged["company_profiles_removed"],
        "verified_at": now_iso(),
    }


def step_function(
    step: str, engine: Engine, opener: Opener
) -> Callable[[ledger.PrivacyRequest], dict[str, Any]]:
    """The function that runs `step` of an erasure."""
    fns: dict[str, Callable[[ledger.PrivacyRequest], dict[str, Any]]] = {
        "suppress": lambda r: step_suppress(engine, r),
        "store": lambda r: step_store(engine, r),
        "staging": lambda r: step_staging(engine, r),
        "quarantine": lambda r: step_quarantine(engine, r),
        "access_exports": lambda r: step_access_exports(engine, r, opener),
        "exports": lambda r: step_exports(engine, r, opener),
        "verify": lambda r: step_verify(engine, r, opener),
    }
    if step not in fns:
        raise ValueError(f"unknown erasure step {step!r}")
    return fns[step]

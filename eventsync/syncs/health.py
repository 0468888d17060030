"""Operating syncs: pause (by hand or after consecutive failed exports), resume,
freshness, and the status the API and CLI show (last exported day, lag, per-day status).

The export asset calls `record_run_failure` / `record_run_success` once per run and
sync (a run with any day the destination refused counts as one failure); a success
resets the count. At EVENTSYNC_PAUSE_AFTER_FAILURES failures in a row the sync gets a
`paused_reason`: the daily schedule and the re-sync skip it, and the Dagster wiring
cancels its queued work (pipeline/runs/pause.py), until `resume_sync`
(``eventsync sync resume S``) clears it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Engine, func, select, update

from eventsync.clock import from_us, now_iso, parse_day, utcnow
from eventsync.engine.manifest import instant
from eventsync.errors import ConfigError
from eventsync.settings import load
from eventsync.store.schema import export_ledger, syncs
from eventsync.syncs.config import (
    MAX_BACKFILL_DAYS,
    Frequency,
    Sync,
    get_sync,
    list_syncs,
    require_enabled,
    require_not_deleted,
)

FRESHNESS_DEADLINE = time(6, 0)  # yesterday must be exported by 06:00 UTC
# An hourly sync's newest intraday export must hold the events received up to this long ago.
INTRADAY_MAX_AGE = timedelta(minutes=70)


def record_run_failure(
    engine: Engine, sync_id: str, error: str, threshold: int | None = None
) -> Sync:
    """Count one failed export run; pause the sync at the threshold, with the reason."""
    threshold = threshold or load().pause_after_failures
    with engine.begin() as conn:
        # Increment in SQL: two runs failing at once both count (no read-modify-write).
        counted = conn.execute(
            update(syncs)
            .where(syncs.c.id == sync_id)
            .values(
                consecutive_failures=func.coalesce(syncs.c.consecutive_failures, 0) + 1,
                updated_at=now_iso(),
            )
        ).rowcount
        if not counted:
            return get_sync(engine, sync_id)  # raises NotFound
        failures = conn.execute(
            select(syncs.c.consecutive_failures).where(syncs.c.id == sync_id)
        ).scalar_one()
        if failures >= threshold:
            conn.execute(
                update(syncs)
                .where(syncs.c.id == sync_id, syncs.c.paused_reason.is_(None))
                .values(
                    paused_reason=f"paused after {failures} consecutive failed export runs at "
                    f"{now_iso()}; last error: {error[:1500]}"
                )
            )
    return get_sync(engine, sync_id)


def record_run_success(engine: Engine, sync_id: str) -> None:
    """A successful export run resets the failure count (a paused sync stays paused
    until resumed: a run queued before the pause may still succeed)."""
    with engine.begin() as conn:
        conn.execute(
            update(syncs)
            .where(syncs.c.id == sync_id, syncs.c.consecutive_failures != 0)
            .values(consecutive_failures=0)
        )


def pause_sync(engine: Engine, sync_id: str, reason: str, actor: str) -> tuple[Sync, bool]:
    """Pause a sync by hand; (sync, False) when it was already paused (reason kept)."""
    if not reason.strip():
        raise ConfigError("reason", "must not be empty")
    require_not_deleted(get_sync(engine, sync_id))
    with engine.begin() as conn:
        changed = conn.execute(
            update(syncs)
            .where(syncs.c.id == sync_id, syncs.c.paused_reason.is_(None))
            .values(
                paused_reason=f"paused by {actor} at {now_iso()}: {reason.strip()[:1500]}",
                updated_at=now_iso(),
            )
        ).rowcount
    return get_sync(engine, sync_id), bool(changed)


def resume_sync(engine: Engine, sync_id: str, workspace_id: str | None = None) -> tuple[Sync, bool]:
    """Clear the pause and the failure count; (sync, False) when it was not paused.
    Re-requesting the work the pause canceled is the Dagster wiring's job
    (pipeline.runs.pause.rerequest_paused_work)."""
    require_not_deleted(get_sync(engine, sync_id, workspace_id))
    with engine.begin() as conn:
        changed = conn.execute(
            update(syncs)
            .where(syncs.c.id == sync_id, syncs.c.paused_reason.is_not(None))
            .values(paused_reason=None, consecutive_failures=0, updated_at=now_iso())
        ).rowcount
    return get_sync(engine, sync_id), bool(changed)


def require_unpaused(sync: Sync) -> Sync:
    """Refuse to queue work for a deleted, disabled or paused sync (its runs would stop
    at once), with the reason."""
    require_enabled(sync)
    if sync.paused_reason:
        raise ConfigError(
            "sync",
            f"{sync.id} is paused ({sync.paused_reason[:300]}); "
            f"resume it first: eventsync sync resume {sync.id}",
        )
    return sync


# --- status ----------------------------------------------------------------------------
def expected_day(now: datetime) -> date:
    """The newest day that must be exported at `now`: yesterday from 06:00 UTC on,
    the day before until then."""
    back = 1 if now.time() >= FRESHNESS_DEADLINE else 2
    return now.date() - timedelta(days=back)


@dataclass
class SyncStatus:
    sync_id: str
    workspace_id: str
    title: str
    destination: str
    enabled: bool
    paused: bool
    paused_reason: str | None
    consecutive_failures: int
    last_exported_day: str | None
    last_exported_at: str | None
    lag_days: int | None  # days between the last exported day and yesterday
    expected_day: str
    fresh: bool
    failed_days: int  # days whose last export attempt failed
    state: str  # deleted | paused | disabled | never exported | fresh | stale
    frequency: str = "daily"
    # Hourly syncs: the newest intraday export (its day, cut-off, rows) and whether its
    # cut-off is at most INTRADAY_MAX_AGE old (None for daily syncs).
    intraday_day: str | None = None
    intraday_through: str | None = None
    intraday_rows: int | None = None
    intraday_fresh: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def sync_status(engine: Engine, sync: Sync, now: datetime | None = None) -> SyncStatus:
    now = now or utcnow()
    cols = export_ledger.c

    def newest_export(partial: bool, *columns: Any) -> Any:
        """The sync's newest complete day (an intraday export of today is not one), or
        its newest intraday export."""
        newest = cols.partial_through if partial else cols.day
        return conn.execute(
            select(*columns)
            .where(
                cols.sync_id == sync.id,
                cols.status == "exported",
                cols.partial_through.is_not(None) if partial else cols.partial_through.is_(None),
            )
            .order_by(newest.desc())
            .limit(1)
        ).first()

    with engine.connect() as conn:
        last = newest_export(False, cols.day, cols.exported_at)
        intraday = newest_export(True, cols.day, cols.partial_through, cols.rows)
        failed = conn.execute(
            select(cols.day).where(cols.sync_id == sync.id, cols.status == "failed")
        ).all()
    expected = expected_day(now)
    yesterday = now.date() - timedelta(days=1)
    last_day = last.day if last else None
    fresh = bool(last_day) and parse_day(last_day) >= expected
    intraday_fresh = None
    if sync.frequency == Frequency.HOURLY:
        intraday_fresh = (
            intraday is not None
            and now - from_us(intraday.partial_through).replace(tzinfo=now.tzinfo)
            <= INTRADAY_MAX_AGE
        )
        fresh = fresh and intraday_fresh
    if sync.deleted_at is not None:
        state = "deleted"
    elif sync.paused_reason is not None:
        state = "paused"
    elif not sync.enabled:
        state = "disabled"
    elif last_day is None:
        state = "never exported"
    else:
        state = "fresh" if fresh else "stale"
    return SyncStatus(
        sync_id=sync.id,
        workspace_id=sync.workspace_id,
        title=sync.title,
        destination=sync.destination,
        enabled=sync.enabled,
        paused=sync.paused_reason is not None,
        paused_reason=sync.paused_reason,
        consecutive_failures=sync.consecutive_failures,
        last_exported_day=last_day,
        last_exported_at=last.exported_at if last else None,
        lag_days=(yesterday - parse_day(last_day)).days if last_day else None,
        expected_day=expected.isoformat(),
        fresh=fresh,
        failed_days=len(failed),
        state=state,
        frequency=sync.frequency,
        intraday_day=intraday.day if intraday else None,
        intraday_through=instant(intraday.partial_through) if intraday else None,
        intraday_rows=intraday.rows if intraday else None,
        intraday_fresh=intraday_fresh,
    )


def workspace_status(
    engine: Engine, workspace_id: str | None = None, now: datetime | None = None
) -> list[SyncStatus]:
    return [sync_status(engine, s, now) for s in list_syncs(engine, workspace_id)]


@dataclass
class DayStatus:
    day: str
    status: str  # exported | partial | failed | rewriting | not exported
    rows: int | None
    quarantined: int | None
    bytes: int | None
    export_id: str | None
    exported_at: str | None
    error: str | None
    # A partial (intraday) export: the cut-off instant on received_at it holds.
    complete_through: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _day_status(r: Any) -> DayStatus:
    """A ledger row as a day's status; a day so far (an hourly sync's partial export)
    says so, with the cut-off it holds."""
    partial = r.partial_through is not None
    return DayStatus(
        r.day,
        "partial" if partial and r.status == "exported" else r.status,
        r.rows,
        r.quarantined,
        r.bytes,
        r.export_id or None,
        r.exported_at,
        r.error,
        instant(r.partial_through) if partial else None,
    )


MAX_DAYS = MAX_BACKFILL_DAYS + 1  # days of one day_statuses answer


def day_statuses(engine: Engine, sync: Sync, first: str, last: str) -> list[DayStatus]:
    """Every day of [first, last] (at most 366 days), newest first. A failed day keeps
    the numbers of its last good export (its files are what the destination lists)."""
    try:
        d0, d1 = parse_day(first), parse_day(last)
    except ValueError as exc:
        raise ConfigError("from/to", str(exc)) from None
    if d1 < d0:
        raise ConfigError("from/to", f"from ({first}) is after to ({last})")
    if (d1 - d0).days >= MAX_DAYS:
        raise ConfigError("from/to", f"at most {MAX_DAYS} days per request")
    cols = export_ledger.c
    with engine.connect() as conn:
        rows = {
            r.day: r
            for r in conn.execute(
                select(export_ledger).where(
                    cols.sync_id == sync.id, cols.day >= d0.isoformat(), cols.day <= d1.isoformat()
                )
            )
        }
    out = []
    day = d1
    while day >= d0:
        key = day.isoformat()
        r = rows.get(key)
        if r is None:
            out.append(DayStatus(key, "not exported", None, None, None, None, None, None))
        else:
            out.append(_day_status(r))
        day -= timedelta(days=1)
    return out


def freshness(engine: Engine, now: datetime | None = None) -> tuple[bool, dict[str, Any]]:
    """(all enabled syncs fresh, per-sync detail) -- the freshness check's verdict."""
    detail: dict[str, Any] = {}
    for s in workspace_status(engine, None, now):
        if not s.enabled:
            continue
        detail[s.sync_id] = {
            "fresh": s.fresh,
            "expected_day": s.expected_day,
            "last_exported_day": s.last_exported_day,
            "lag_days": s.lag_days,
            "paused_reason": s.paused_reason,
            "intraday_fresh": s.intraday_fresh,
        }
    return all(d["fresh"] for d in detail.values()), detail


def failing_days(engine: Engine, sync_id: str, limit: int = 5) -> list[DayStatus]:
    """The sync's days whose last export attempt failed, newest first, with the error."""
    cols = export_ledger.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(export_ledger)
            .where(cols.sync_id == sync_id, cols.status == "failed")
            .order_by(cols.day.desc())
            .limit(limit)
        ).all()
    return [_day_status(r) for r in rows]

"""Re-sync of late data: find the days of a sync whose source changed since their export.

One aggregate query per sync fingerprints every day of the window
(`eventsync.engine.extract.day_fingerprints`: row count, max received_at, checksum -- the same
function `stage_day` records in the export ledger), and one query reads the ledger.
A day is re-exported when, and only when:

- it was exported and its fingerprint differs now, and the reason says how: ``N late
  events`` (more rows, received after the export's newest), ``N rows added`` (more
  rows, none newer), ``N rows deleted`` (fewer rows), ``rows changed`` (as many rows,
  other content);
- ``never exported``: it has rows in the sync's coverage but no export (never ran,
  or created before the sync's backfill reached it);
- ``last export failed: ...``: its last export attempt failed (validation-blocked days
  too), with the error;
- ``emptied``: it was exported with rows and the source now has none for it;
- ``only a partial (intraday) export``: an hourly sync's day whose complete export
  has not run since the day closed.

Each exported day is compared under the filters it was exported with (the ledger's
`source_filter`): a changed event-type or event-name filter re-exports nothing by
itself; it applies from the next export of a day, and `eventsync sync resync --day D`
re-exports chosen days with it.

Re-exporting a day replaces its files (docs/architecture.md): keys are deterministic and stale
parts are removed after the new manifest lands, so a re-synced day never duplicates.
The weekly re-sync job, the CLI and the benchmark all call `plan_resync`; queuing the
backfill is Dagster wiring (pipeline/runs/resync.py).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select

from eventsync.clock import utc_today
from eventsync.engine.export_records import filter_key
from eventsync.engine.extract import Fingerprint, day_fingerprints
from eventsync.errors import ConfigError
from eventsync.store.schema import export_ledger
from eventsync.syncs.config import MAX_BACKFILL_DAYS, Sync

DEFAULT_WINDOW_DAYS = MAX_BACKFILL_DAYS
RESYNC_REASON = "re-sync"


@dataclass
class ResyncPlan:
    """What the re-sync of one sync found: the days to re-export and why."""

    sync_id: str
    window: tuple[str, str]  # first and last day compared (inclusive)
    days_compared: int
    days_with_rows: int
    reasons: dict[str, str] = field(default_factory=dict)  # day -> why it is re-exported
    seconds: float = 0.0

    @property
    def days(self) -> list[str]:
        return sorted(self.reasons)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "days": self.days}


CHOSEN = "chosen: re-exported with the sync's current settings"


def plan_chosen_days(sync: Sync, days: list[str], today: date | None = None) -> ResyncPlan:
    """A re-sync of days named by hand (`eventsync sync resync --day D`), e.g. to apply a
    changed filter to past days. Each must be a closed UTC day (YYYY-MM-DD) at most
    MAX_BACKFILL_DAYS back; ConfigError names the first that is not."""
    today = today or utc_today()
    first = today - timedelta(days=MAX_BACKFILL_DAYS)
    chosen: set[str] = set()
    for value in days:
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise ConfigError("day", f"not a UTC day (YYYY-MM-DD): {value[:40]!a}") from None
        if not first <= day < today:
            raise ConfigError(
                "day", f"{day} is not a closed day of the last {MAX_BACKFILL_DAYS} days"
            )
        chosen.add(day.isoformat())
    if not chosen:
        raise ConfigError("day", "name at least one day")
    window = (min(chosen), max(chosen))
    return ResyncPlan(
        sync.id, window, len(chosen), len(chosen), dict.fromkeys(sorted(chosen), CHOSEN)
    )


def _window(sync: Sync, window_days: int, today: date) -> tuple[date, date]:
    """Closed days only (yesterday is the last); never before the sync's coverage, which
    starts `backfill_days` before the day it was created."""
    if not 1 <= window_days <= MAX_BACKFILL_DAYS:
        raise ConfigError("days", f"must be from 1 to {MAX_BACKFILL_DAYS}, got {window_days}")
    last = today - timedelta(days=1)
    first = today - timedelta(days=window_days)
    if sync.created_at:
        created = datetime.fromisoformat(sync.created_at).date()
        first = max(first, created - timedelta(days=sync.backfill_days))
    return first, last


def _ledger(engine: Engine, sync_id: str, first: str, last: str) -> dict[str, Any]:
    cols = export_ledger.c
    query = select(
        cols.day,
        cols.status,
        cols.error,
        cols.source_rows,
        cols.source_max_received_at,
        cols.source_checksum,
        cols.source_filter,
        cols.partial_through,
    ).where(cols.sync_id == sync_id, cols.day >= first, cols.day <= last)
    with engine.connect() as conn:
        return {row.day: row for row in conn.execute(query)}


def _under_recorded_filters(
    engine: Engine, sync: Sync, ledger: dict[str, Any], fingerprints: dict[str, Fingerprint]
) -> None:
    """Replace, in `fingerprints`, the days exported under other filters than the sync's
    current ones by their fingerprints under those filters (one query per distinct
    filter, usually none): the re-sync then sees late data, not a filter change."""
    current = filter_key({"event_types": sync.event_types, "event_names": sync.event_names})
    others: dict[str, list[str]] = {}
    for day, row in ledger.items():
        if row.source_filter and row.source_filter != current:
            others.setdefault(row.source_filter, []).append(day)
    for key, days in others.items():
        f = json.loads(key)
        prints = day_fingerprints(
            engine, sync.workspace_id, min(days), max(days), f["event_types"], f["event_names"]
        )
        for day in days:
            if day in prints:
                fingerprints[day] = prints[day]
            else:
                fingerprints.pop(day, None)


def _same(fp: Fingerprint, row: Any) -> bool:
    return (
        fp.rows == row.source_rows
        and fp.max_received_at == row.source_max_received_at
        and fp.checksum == row.source_checksum
    )


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def what_changed(fp: Fingerprint, row: Any) -> str:
    """How the source of an exported day differs from what was exported."""
    delta = fp.rows - (row.source_rows or 0)
    newer = fp.max_received_at is not None and (
        row.source_max_received_at is None or fp.max_received_at > row.source_max_received_at
    )
    if delta > 0:
        return _n(delta, "late event") if newer else _n(delta, "row") + " added"
    if delta < 0:
        extra = ", and rows received after the export" if newer else ""
        return f"{_n(-delta, 'row')} deleted{extra}"
    return (
        "rows changed (as many rows, received after the export)"
        if newer
        else ("rows changed (as many rows, other content)")
    )


def plan_resync(
    engine: Engine,
    sync: Sync,
    window_days: int = DEFAULT_WINDOW_DAYS,
    today: date | None = None,
) -> ResyncPlan:
    """Compare the source's fingerprints with the export ledger over the window."""
    started = time.perf_counter()
    first, last = _window(sync, window_days, today or utc_today())
    if first > last:
        return ResyncPlan(sync.id, (first.isoformat(), last.isoformat()), 0, 0)
    first_s, last_s = first.isoformat(), last.isoformat()
    fingerprints = day_fingerprints(
        engine, sync.workspace_id, first_s, last_s, sync.event_types, sync.event_names
    )
    ledger = _ledger(engine, sync.id, first_s, last_s)
    _under_recorded_filters(engine, sync, ledger, fingerprints)
    reasons: dict[str, str] = {}
    for day, row in ledger.items():
        if row.partial_through is not None and row.status == "exported":
            reasons[day] = "only a partial (intraday) export"
    for day, fp in fingerprints.items():
        row = ledger.get(day)
        if day in reasons:
            continue
        if row is None:
            reasons[day] = "never exported"
        elif row.status != "exported":
            reasons[day] = f"last export {row.status}: {(row.error or 'no error recorded')[:300]}"
        elif not _same(fp, row):
            reasons[day] = what_changed(fp, row)
    for day, row in ledger.items():
        if day not in fingerprints and row.status == "exported" and row.source_rows:
            reasons[day] = "emptied"
    return ResyncPlan(
        sync_id=sync.id,
        window=(first_s, last_s),
        days_compared=(last - first).days + 1,
        days_with_rows=len(fingerprints),
        reasons=dict(sorted(reasons.items())),
        seconds=time.perf_counter() - started,
    )

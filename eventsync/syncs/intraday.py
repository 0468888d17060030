"""Intraday (partial) exports of hourly syncs: the current UTC day so far.

An intraday run has one cut-off instant on `received_at` (the run's start minus
SETTLE, so that events stamped just before it and still being written are not
claimed). Each hourly sync's day is staged with exactly the events received at or
before it (`stage_day(received_through=...)`: the sync's filters, suppressions,
validation and quarantine as for any day) and exported by `export_days(partial_until=
...)`: the same fenced, write-ahead-indexed export as the daily run's, at the same
deterministic keys. The day's manifest says `partial` with `complete_through` (the
cut-off) and `high_water_mark` (the newest `received_at` exported). Each intraday
export of a day replaces the previous one as any re-export does (the manifest is
marked `rewriting`, the files are overwritten, then the new manifest is published),
so a reader never sees two copies of a row. The 03:00 run's export of the closed day
marks it `complete`; an intraday export never replaces a complete one.

`plan_intraday` is the schedule's decision as a plain function of (now, syncs): which
hourly syncs run for which days with which cut-off. Frequency is read from the store
at every tick, so a change from daily to hourly (or back) applies at the next tick.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine

from eventsync.clock import to_us, utcnow
from eventsync.destinations.interface import Destination
from eventsync.engine.export_records import has_complete_export
from eventsync.engine.formats import staging_codec
from eventsync.engine.staging import stage_day
from eventsync.privacy import journal
from eventsync.store.locks import PartitionBusy
from eventsync.syncs.config import Frequency, Sync, get_sync, list_syncs
from eventsync.syncs.export_days import DayOutcome, Outcome, export_days

# Events are stamped `received_at` before their insert commits: a cut-off this far back
# is past every insert in flight (ingestion commits within seconds or fails).
SETTLE = timedelta(seconds=60)


@dataclass(frozen=True)
class IntradayRun:
    """One day of an intraday tick: the syncs to export and the cut-off (µs)."""

    day: str
    cutoff_us: int
    sync_ids: tuple[str, ...]


def cutoff_of(now: datetime, settle: timedelta = SETTLE) -> int:
    return to_us(now - settle)


def plan_intraday(
    now: datetime, syncs: Iterable[Sync], settle: timedelta = SETTLE
) -> list[IntradayRun]:
    """What an hourly tick at `now` runs: every enabled, unpaused hourly sync's current
    UTC day so far; in the first hour of a day also the day before, so its last hour
    is delivered within the hour too (the 03:00 run then marks it complete). Daily
    syncs are not in it. Days are those of the cut-off, not of `now`."""
    hourly = tuple(
        s.id for s in syncs if s.frequency == Frequency.HOURLY and s.enabled and not s.paused_reason
    )
    if not hourly:
        return []
    cutoff = now - settle
    days = [cutoff.date()]
    if cutoff.hour == 0:
        days.insert(0, cutoff.date() - timedelta(days=1))
    return [IntradayRun(d.isoformat(), cutoff_of(now, settle), hourly) for d in days]


def plan_intraday_from_store(engine: Engine, now: datetime | None = None) -> list[IntradayRun]:
    """`plan_intraday` over the syncs as stored now (one query)."""
    return plan_intraday(now or utcnow(), list_syncs(engine, enabled_only=True))


def export_intraday(
    engine: Engine,
    url: str,
    run: IntradayRun,
    open_destination: Callable[[Sync], Destination],
    *,
    holder: str,
    paused: Mapping[str, str] | None = None,
    batch_rows: int | None = None,
    max_invalid_share: float | None = None,
) -> Iterator[DayOutcome]:
    """Stage and export `run.day` so far for each of `run.sync_ids`; yield each day's
    outcome once recorded (as `export_days` does). A sync that is no longer hourly
    (changed since the plan) is NOT_HOURLY; one whose day another run holds is BUSY;
    one whose complete day is already exported is SUPERSEDED."""
    paused = dict(paused or {})
    # A restored store gets back the erasures it lacks before the day so far is staged
    # (export_days re-applies too; a day superseded or busy is staged by no one here).
    journal.reconcile(engine)
    staged: list[tuple[str, str]] = []
    for sync_id in run.sync_ids:
        sync = get_sync(engine, sync_id)
        if sync.frequency != Frequency.HOURLY:
            yield DayOutcome(run.day, sync_id, Outcome.NOT_HOURLY, "the sync is daily now")
            continue
        if sync_id in paused or sync.paused_reason:
            reason = paused.get(sync_id) or sync.paused_reason or ""
            yield DayOutcome(run.day, sync_id, Outcome.PAUSED, f"the sync is paused ({reason})")
            continue
        if has_complete_export(engine, sync_id, run.day):
            reason = "the complete day is exported; an intraday export does not replace it"
            yield DayOutcome(run.day, sync_id, Outcome.SUPERSEDED, reason)
            continue
        try:
            stage_day(
                url,
                engine,
                sync.id,
                sync.workspace_id,
                run.day,
                event_types=sync.event_types,
                event_names=sync.event_names,
                codec=staging_codec(sync.formats, sync.compression),
                max_invalid_share=max_invalid_share,
                batch_rows=batch_rows,
                holder=holder,
                received_through=run.cutoff_us,
            )
        except PartitionBusy as exc:
            yield DayOutcome(run.day, sync_id, Outcome.BUSY, str(exc))
            continue
        staged.append((run.day, sync_id))
    yield from export_days(
        engine, staged, open_destination, holder=holder, partial_until=run.cutoff_us
    )

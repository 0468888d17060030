"""Each day's export outcome, decided and recorded in one place.

`export_days` takes the days of one run (a partition or a backfill batch of many
syncs' days) and yields one `DayOutcome` per day, in order, after recording it in the
export ledger (eventsync/engine/export_records.py): the day was exported, or why not.
The Dagster asset (assets/events.py) only reports the outcomes (a materialization per
exported day, an observation per failed day, one failure naming every failed day);
nothing here knows Dagster.

A destination that fails for good (no such bucket, access denied, bad credentials, KMS
key refused) or for two days in a row is not tried for the remaining days of the
batch: they fail with "not attempted" and the reason, instead of waiting out the
retries of every day. One failing day between good ones fails alone.

It lives with the syncs (not in eventsync/engine/) because it reads each sync's
configuration and classifies destination errors the way `eventsync sync test` does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from eventsync.destinations.interface import Destination
from eventsync.destinations.probe import advice, provider_of
from eventsync.engine.day_export import (
    CompleteDayExported,
    ExportResult,
    export_partition,
    write_schema_doc,
)
from eventsync.engine.export_records import record_failure
from eventsync.engine.staging import StageResult
from eventsync.errors import StoreUnavailable
from eventsync.privacy import journal
from eventsync.store.faults import is_store_fault
from eventsync.store.fencing import Fenced
from eventsync.store.locks import LockLost, PartitionBusy
from eventsync.syncs.config import Sync, get_sync
from eventsync.syncs.destination_check import classify

log = logging.getLogger(__name__)

# Destination problems (DestinationError.reason) that no retry within the batch can fix.
PERMANENT_REASONS = frozenset(
    {"no_such_bucket", "access_denied", "bad_credentials", "kms_key_refused"}
)
MAX_CONSECUTIVE_FAILURES = 2


class Outcome(StrEnum):
    """What became of one day of an export run."""

    EXPORTED = "exported"
    PAUSED = "paused"  # the sync is paused: not attempted
    NOT_STAGED = "not_staged"  # events_daily has not staged the day
    BLOCKED = "blocked"  # the day's blocking checks refused it
    GIVEN_UP = "given_up"  # the destination failed earlier in this batch: not attempted
    BUSY = "busy"  # another run holds the partition: its outcome counts
    SUPERSEDED = "superseded"  # intraday run of a day whose complete export is published
    NOT_HOURLY = "not_hourly"  # intraday run of a sync that is daily now: not attempted
    FAILED = "failed"  # the export itself failed (destination, store, disk, lease lost)


# Outcomes recorded in the ledger as a failed day (the others leave it as it is: a
# paused or unstaged day was not attempted, a busy one is another run's).
RECORDED = frozenset({Outcome.BLOCKED, Outcome.GIVEN_UP, Outcome.FAILED})


@dataclass(frozen=True)
class DayOutcome:
    """One day's outcome: `reason` says why it was not exported; `result` and `stage`
    are the export's numbers when it was."""

    day: str
    sync_id: str
    kind: Outcome
    reason: str = ""
    result: ExportResult | None = None
    stage: StageResult | None = None
    # A failure of the system (store down or dropped, a lock or fence lost to another
    # writer), not of the sync or its destination: shown in health, never counted
    # toward the sync's auto-pause.
    infrastructure: bool = False
    # The reason without any error's own text, for Dagster (its storage is a copy that
    # erasure cannot reach, and an error's text may quote data): "" when `reason` is
    # built by eventsync from counts, kinds and names alone.
    public: str = ""

    @property
    def public_reason(self) -> str:
        return self.public or self.reason

    @property
    def exported(self) -> bool:
        return self.kind is Outcome.EXPORTED


def error_text(exc: BaseException) -> str:
    """One line: the classified problem and its fix when the destination layer (or the
    probe's classification) knows it, e.g. `access_denied: DestinationError: ...; fix: ...`."""
    message = " ".join(f"{type(exc).__name__}: {exc}".split())
    problem = classify(exc)
    fix = advice(problem, provider_of(message))
    return f"{problem}: {message}; fix: {fix}" if fix else message


def public_error(exc: BaseException) -> str:
    """The error's class and classified problem with its fix, without its text (the
    full text is in the export ledger: `eventsync sync status`, `GET /v1/syncs/{id}/days`)."""
    problem = classify(exc)
    text = f"{type(exc).__name__} (its message: eventsync sync status)"
    fix = advice(problem, provider_of(f"{type(exc).__name__}: {exc}"))
    return f"{problem}: {text}; fix: {fix}" if fix else text


def is_destination_wide(exc: BaseException) -> bool:
    """True when the error says the destination as a whole refuses writes."""
    return classify(exc) in PERMANENT_REASONS


@dataclass
class _Streaks:
    """Per sync: consecutive failed days, and why the rest of the batch is given up."""

    failures: dict[str, int] = field(default_factory=dict)
    given_up: dict[str, str] = field(default_factory=dict)

    def failed(self, sync_id: str, day: str, exc: BaseException) -> None:
        self.failures[sync_id] = self.failures.get(sync_id, 0) + 1
        if is_destination_wide(exc) or self.failures[sync_id] >= MAX_CONSECUTIVE_FAILURES:
            self.given_up[sync_id] = (
                f"not attempted: the destination failed on {day} ({public_error(exc)})"
            )

    def succeeded(self, sync_id: str) -> None:
        self.failures[sync_id] = 0


def export_days(
    engine: Engine,
    days: Iterable[tuple[str, str]],
    open_destination: Callable[[Sync], Destination],
    *,
    holder: str,
    paused: Mapping[str, str] | None = None,
    partial_until: int | None = None,
) -> Iterator[DayOutcome]:
    """Export each (day, sync_id) in order; yield its outcome once it is recorded.

    `paused` maps a paused sync to its reason (its days are not attempted). A sync is
    read and its destination opened (and its schema documents written) once per run,
    not once per day: a backfill run holds 61 days of the same sync.

    `partial_until` (µs) makes it an intraday run (eventsync/syncs/intraday.py): each
    day must be staged with exactly that cut-off, and its manifest says `partial`. A
    run without it exports complete stages only: an intraday stage is NOT_STAGED."""
    # Not `paused or {}`: a LivePauses that holds nothing yet is empty but live.
    paused = {} if paused is None else paused
    # A store restored from a backup gets back the erasures it lacks before anything of
    # this run is published (eventsync/privacy/journal.py).
    journal.reconcile(engine)
    syncs: dict[str, Sync] = {}
    opened: dict[str, Destination] = {}
    documented: set[str] = set()
    streaks = _Streaks()
    for day, sync_id in days:
        if sync_id in paused:
            reason = f"not attempted: the sync is paused ({paused[sync_id][:500]})"
            public = "not attempted: the sync is paused (its reason: eventsync sync status)"
            yield DayOutcome(day, sync_id, Outcome.PAUSED, reason, public=public)
            continue
        if sync_id not in syncs:
            syncs[sync_id] = get_sync(engine, sync_id)
            _merge_journal(engine, syncs[sync_id], open_destination, opened)
        sync = syncs[sync_id]
        try:
            stage = StageResult.load(sync_id, day)
        except FileNotFoundError as exc:
            public = "not staged: events_daily has not staged this day"
            yield DayOutcome(day, sync_id, Outcome.NOT_STAGED, str(exc), public=public)
            continue
        if stage.received_through != partial_until:
            want = "the complete day" if partial_until is None else "this intraday run's cut-off"
            reason = f"partition {day}|{sync_id} is not staged with {want}: stage it again"
            yield DayOutcome(day, sync_id, Outcome.NOT_STAGED, reason)
            continue
        if stage.blocked_reason:
            yield _recorded(engine, stage, Outcome.BLOCKED, f"blocked: {stage.blocked_reason}")
            continue
        if sync_id in streaks.given_up:
            yield _recorded(engine, stage, Outcome.GIVEN_UP, streaks.given_up[sync_id])
            continue
        try:
            # Opening the destination and the first write count as the export's too.
            if sync_id not in opened:
                opened[sync_id] = open_destination(sync)
            if sync_id not in documented:
                write_schema_doc(opened[sync_id], sync_id, sync.formats)
                documented.add(sync_id)
            result = export_partition(
                engine, stage, sync.formats, sync.compression, opened[sync_id], holder=holder
            )
        except PartitionBusy as exc:
            yield DayOutcome(day, sync_id, Outcome.BUSY, str(exc), stage=stage)
            continue
        except CompleteDayExported as exc:
            yield DayOutcome(day, sync_id, Outcome.SUPERSEDED, str(exc), stage=stage)
            continue
        except Exception as exc:
            reason = error_text(exc)
            if is_infrastructure(exc):
                yield _recorded(
                    engine, stage, Outcome.FAILED, reason, public_error(exc), infrastructure=True
                )
                continue
            streaks.failed(sync_id, day, exc)
            yield _recorded(engine, stage, Outcome.FAILED, reason, public_error(exc))
            continue
        streaks.succeeded(sync_id)
        yield DayOutcome(day, sync_id, Outcome.EXPORTED, result=result, stage=stage)


def _merge_journal(
    engine: Engine,
    sync: Sync,
    open_destination: Callable[[Sync], Destination],
    opened: dict[str, Destination],
) -> None:
    """Before the sync's first day is read: the erasure journal copies its destination
    holds complete a lost or restored journal file, and are re-applied. A destination
    that cannot be opened now is the export's to report (it opens it again)."""
    try:
        opened[sync.id] = open_destination(sync)
        merged = journal.merge_from_destination(opened[sync.id])
    except Exception as exc:  # the journal file stays the reference; the export goes on
        log.warning("sync %s: erasure journal copies not read (%s)", sync.id, type(exc).__name__)
        return
    if merged:
        journal.reconcile(engine)


def is_infrastructure(exc: BaseException) -> bool:
    """The store failed, or the day's lock or fence was lost: the system's fault."""
    return isinstance(exc, (SQLAlchemyError, StoreUnavailable, Fenced, LockLost)) or (
        is_store_fault(exc)
    )


def _recorded(
    engine: Engine,
    stage: StageResult,
    kind: Outcome,
    reason: str,
    public: str = "",
    *,
    infrastructure: bool = False,
) -> DayOutcome:
    """A failed day, marked failed in the ledger with its reason (a store that is down
    may refuse that too: the outcome still says why the day failed)."""
    try:
        record_failure(engine, stage, reason)
    except Exception:
        if not infrastructure:
            raise
    return DayOutcome(
        stage.day,
        stage.sync_id,
        kind,
        reason,
        stage=stage,
        public=public,
        infrastructure=infrastructure,
    )


def destination_errors(outcomes: Iterable[DayOutcome]) -> dict[str, str]:
    """{sync_id: the last export failure} of a run: what counts toward auto-pause (a
    blocked, busy, unstaged or given-up day is no failure of the destination)."""
    return {
        o.sync_id: o.reason for o in outcomes if o.kind is Outcome.FAILED and not o.infrastructure
    }


def infrastructure_failed(outcomes: Iterable[DayOutcome]) -> set[str]:
    """Syncs with a day failed by the system in this run: such a run is neither a
    failure of the sync (auto-pause) nor a success that resets its failure count."""
    return {o.sync_id for o in outcomes if o.infrastructure}


def attempted_syncs(outcomes: Iterable[DayOutcome]) -> set[str]:
    """The syncs a run worked for (a paused sync's days were not attempted)."""
    return {o.sync_id for o in outcomes if o.kind is not Outcome.PAUSED}

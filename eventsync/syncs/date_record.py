"""Every sync's outcome of one UTC date, from eventsync's own record: what Dagster shows
per date now that a partition is a date and a run holds many syncs (design b of issue
24, docs/architecture.md "Many syncs").

The record of a sync's day is its staging summary (`StageResult`, saved next to the
staged file: rows, invalid share, duplicate ids, blocked or not) and its export ledger
row (exported or failed, rows). The date's checks are evaluated over every sync that
has a record of the date, not only over the run that evaluates them: twenty runs of
50 syncs each judge the same date, and the last one's verdict must still name a sync
that failed in the first. Only numbers, flags and sync ids: no free text of a
customer's data (it goes to Dagster's storage).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import Engine, select

from eventsync.engine.staging import StageResult
from eventsync.store.schema import export_ledger


@dataclass(frozen=True)
class SyncDay:
    """One sync's record of one date."""

    sync_id: str
    staged: bool
    rows_extracted: int = 0
    rows_valid: int = 0
    rows_quarantined: int = 0
    invalid_share: float = 0.0
    max_invalid_share: float = 1.0
    duplicate_ids: int = 0
    blocked: bool = False
    export_status: str | None = None  # the ledger's: exported | failed | rewriting | None
    rows_exported: int = 0
    # The export is an hourly sync's day so far (manifest `partial`), not the complete day.
    partial: bool = False

    @property
    def too_invalid(self) -> bool:
        return self.staged and self.invalid_share > self.max_invalid_share

    @property
    def export_failed(self) -> bool:
        return self.export_status == "failed"

    def to_dict(self) -> dict[str, object]:
        return {
            "staged": self.staged,
            "rows_extracted": self.rows_extracted,
            "rows_valid": self.rows_valid,
            "rows_quarantined": self.rows_quarantined,
            "invalid_share": round(self.invalid_share, 6),
            "duplicate_ids": self.duplicate_ids,
            "blocked": self.blocked,
            "export_status": self.export_status,
            "rows_exported": self.rows_exported,
            "partial": self.partial,
        }


def from_stage(stage: StageResult, ledger: tuple[str, int, bool] | None = None) -> SyncDay:
    status, rows, partial = ledger if ledger else (None, 0, False)
    return SyncDay(
        sync_id=stage.sync_id,
        staged=True,
        rows_extracted=stage.extracted,
        rows_valid=stage.valid,
        rows_quarantined=stage.quarantined,
        invalid_share=stage.invalid_share,
        max_invalid_share=stage.max_invalid_share,
        duplicate_ids=len(stage.duplicate_ids),
        blocked=stage.blocked_reason is not None,
        export_status=status,
        rows_exported=rows,
        partial=partial,
    )


def _ledger(engine: Engine, day: str) -> dict[str, tuple[str, int, bool]]:
    cols = export_ledger.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(cols.sync_id, cols.status, cols.rows, cols.partial_through).where(
                cols.day == day
            )
        )
        return {r.sync_id: (r.status, r.rows, r.partial_through is not None) for r in rows}


def date_record(
    engine: Engine,
    day: str,
    sync_ids: Iterable[str],
    fresh: Mapping[str, StageResult] | None = None,
) -> dict[str, SyncDay]:
    """{sync_id: its record of `day`} of every sync among `sync_ids` (the date's
    syncs: the enabled ones and those the run holds) that was staged or exported that
    day; `fresh` are the stages this run made (they win over a summary on disk). One
    ledger query for the date, one summary file read per other sync."""
    fresh = fresh or {}
    ledger = _ledger(engine, day)
    out: dict[str, SyncDay] = {}
    for sync_id in sorted(set(sync_ids) | set(ledger) | set(fresh)):
        stage = fresh.get(sync_id)
        if stage is None:
            try:
                stage = StageResult.load(sync_id, day)
            except FileNotFoundError:
                stage = None
        if stage is not None:
            out[sync_id] = from_stage(stage, ledger.get(sync_id))
        elif sync_id in ledger:
            status, rows, partial = ledger[sync_id]
            out[sync_id] = SyncDay(
                sync_id, staged=False, export_status=status, rows_exported=rows, partial=partial
            )
    return out

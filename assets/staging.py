"""Stage one partition (one sync's one UTC day): stream from the store, validate,
write valid rows to staging and invalid rows to quarantine, with a summary.

Staging holds one Parquet file per partition, written with the sync's Parquet
compression, so exporting Parquet is a copy of bytes already written.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from assets.event_schema import EXPORT_SCHEMA, QUARANTINE_SCHEMA
from assets.extract import DayQuery, FingerprintAccumulator, stream_day
from assets.suppressed import SuppressedSubjects
from assets.validate import DayValidator
from resources.locks import export_lock
from resources.settings import data_root

STAGED_FILE = "events.parquet"
SUMMARY_FILE = "_staged.json"
QUARANTINE_FILE = "quarantine.parquet"
DEFAULT_MAX_INVALID_SHARE = 0.05


def staging_dir(sync_id: str, day: str) -> Path:
    return data_root() / "staging" / sync_id / f"date={day}"


def quarantine_path(sync_id: str, day: str) -> Path:
    return data_root() / "quarantine" / sync_id / f"date={day}" / QUARANTINE_FILE


def parquet_compression(compression: str) -> str:
    return "none" if compression == "none" else compression


@dataclass
class StageResult:
    """What `events_daily` learned about one partition; saved next to the staged file."""

    sync_id: str
    workspace_id: str
    day: str
    extracted: int
    valid: int
    quarantined: int
    by_type: dict[str, int]
    reasons: dict[str, int]
    duplicate_ids: list[str]
    fingerprint: dict
    invalid_share: float
    max_invalid_share: float
    blocked_reason: str | None
    staged_path: str
    quarantine_path: str | None
    compression: str
    seconds: float
    rows_per_second: float
    extra: dict = field(default_factory=dict)

    def save(self) -> None:
        path = Path(self.staged_path).parent / SUMMARY_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), sort_keys=True, indent=1))
        os.replace(tmp, path)

    @classmethod
    def load(cls, sync_id: str, day: str) -> StageResult:
        path = staging_dir(sync_id, day) / SUMMARY_FILE
        if not path.exists():
            raise FileNotFoundError(
                f"partition {day}|{sync_id} has not been staged: materialize events_daily first"
            )
        return cls(**json.loads(path.read_text()))


def stage_day(
    url: str,
    engine,  # type: ignore[no-untyped-def]
    sync_id: str,
    workspace_id: str,
    day: str,
    event_types: list[str] | None = None,
    compression: str = "zstd",
    max_invalid_share: float = DEFAULT_MAX_INVALID_SHARE,
    batch_rows: int = 131_072,
) -> StageResult:
    """Stream, validate and stage one partition. Memory is bounded by `batch_rows`.
    Holds the workspace's export lock (shared) from reading the suppression list to the
    staged file, so an erasure's staging step cleans whatever this read."""
    with export_lock(engine, workspace_id):
        return _stage_day(
            url,
            engine,
            sync_id,
            workspace_id,
            day,
            event_types,
            compression,
            max_invalid_share,
            batch_rows,
        )


def _stage_day(
    url: str,
    engine,  # type: ignore[no-untyped-def]
    sync_id: str,
    workspace_id: str,
    day: str,
    event_types: list[str] | None,
    compression: str,
    max_invalid_share: float,
    batch_rows: int,
) -> StageResult:
    started = time.perf_counter()
    # The fingerprint of exactly the rows read (accumulated while streaming, no second
    # scan): a row that lands after the read changes the source's fingerprint, so the
    # re-sync exports the day again -- it can never miss a change.
    accumulator = FingerprintAccumulator()
    query = DayQuery(workspace_id, day, event_types)
    suppressed = SuppressedSubjects.load(engine, workspace_id)
    out_dir = staging_dir(sync_id, day)
    out_dir.mkdir(parents=True, exist_ok=True)
    q_path = quarantine_path(sync_id, day)
    staged_tmp = out_dir / (STAGED_FILE + ".tmp")
    q_tmp = q_path.with_suffix(".tmp")
    validator = DayValidator(workspace_id, day)
    q_writer: pq.ParquetWriter | None = None
    with pq.ParquetWriter(
        staged_tmp, EXPORT_SCHEMA, compression=parquet_compression(compression)
    ) as writer:
        for batch in stream_day(url, query, batch_rows=batch_rows):
            accumulator.add(batch)
            # Erased subjects never reach staging, quarantine or an export.
            valid, quarantine = validator.validate(suppressed.drop(batch))
            if valid.num_rows:
                writer.write_table(valid)
            if quarantine.num_rows:
                if q_writer is None:
                    q_path.parent.mkdir(parents=True, exist_ok=True)
                    q_writer = pq.ParquetWriter(q_tmp, QUARANTINE_SCHEMA, compression="zstd")
                q_writer.write_table(quarantine)
    if q_writer is not None:
        q_writer.close()
        os.replace(q_tmp, q_path)
    else:
        q_path.unlink(missing_ok=True)
    os.replace(staged_tmp, out_dir / STAGED_FILE)
    summary = validator.finish()
    fp = accumulator.result()

    share = summary.quarantined / summary.extracted if summary.extracted else 0.0
    blocked = None
    if share > max_invalid_share:
        blocked = (
            f"{summary.quarantined} of {summary.extracted} rows invalid ({share:.1%}), "
            f"above the limit of {max_invalid_share:.1%}"
        )
    elif summary.duplicate_ids:
        blocked = f"{len(summary.duplicate_ids)} event ids occur more than once in the day"
    seconds = time.perf_counter() - started
    result = StageResult(
        sync_id=sync_id,
        workspace_id=workspace_id,
        day=day,
        extracted=summary.extracted,
        valid=summary.valid,
        quarantined=summary.quarantined,
        by_type=dict(sorted(summary.by_type.items())),
        reasons=dict(summary.reasons.most_common()),
        duplicate_ids=summary.duplicate_ids,
        fingerprint=fp.to_dict() if fp else {"rows": 0, "max_received_at": None, "checksum": "0:0"},
        invalid_share=share,
        max_invalid_share=max_invalid_share,
        blocked_reason=blocked,
        staged_path=str(out_dir / STAGED_FILE),
        quarantine_path=str(q_path) if summary.quarantined else None,
        compression=compression,
        seconds=seconds,
        rows_per_second=summary.extracted / seconds if seconds > 0 else 0.0,
    )
    result.save()
    return result

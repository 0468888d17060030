"""Stage one partition (one sync's one UTC day): stream from the store, validate,
write valid rows to staging and invalid rows to quarantine, with a summary.

This module alone knows the staging area's folders:

    {data_root}/staging/{sync_id}/date=YYYY-MM-DD/events.parquet     valid rows
    {data_root}/staging/{sync_id}/date=YYYY-MM-DD/_staged.json       the StageResult
    {data_root}/quarantine/{sync_id}/date=YYYY-MM-DD/quarantine.parquet   rows + reason

The staged file is written with the codec of the sync's exported Parquet, so
exporting Parquet is a copy of bytes already written. Erasure filters subjects out
of both areas and retention removes old partitions through the functions below.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import closing
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq

from eventsync import checkpoints
from eventsync.engine.event_schema import EXPORT_SCHEMA, QUARANTINE_SCHEMA
from eventsync.engine.extract import DayQuery, FingerprintAccumulator, stream_day_ranges
from eventsync.engine.formats import handler
from eventsync.engine.suppressed import SuppressedSubjects
from eventsync.settings import data_root, load
from eventsync.store.locks import (
    LockLost,
    default_holder,
    export_lock,
    partition_lock,
    reassert_held,
)

Area = Literal["staging", "quarantine"]
FILES: dict[Area, str] = {"staging": "events.parquet", "quarantine": "quarantine.parquet"}
SUMMARY_FILE = "_staged.json"


def _partition_dir(area: Area, sync_id: str, day: str) -> Path:
    return data_root() / area / sync_id / f"date={day}"


def staging_dir(sync_id: str, day: str) -> Path:
    return _partition_dir("staging", sync_id, day)


def staged_path(sync_id: str, day: str) -> Path:
    return staging_dir(sync_id, day) / FILES["staging"]


def quarantine_path(sync_id: str, day: str) -> Path:
    return _partition_dir("quarantine", sync_id, day) / FILES["quarantine"]


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
    # The sync's filters the rows were read with: {"event_types": ..., "event_names": ...}.
    filters: dict = field(default_factory=dict)
    # An intraday (partial) stage: only rows received at or before this instant (µs).
    received_through: int | None = None

    @property
    def partial(self) -> bool:
        return self.received_through is not None

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


# Bytes of one staged row group at most: the formats render (DuckDB, 256 MB) and
# erasure filters one row group at a time, so a day of the largest legal events
# (32 KiB of properties each) must not make a row group of gigabytes.
ROW_GROUP_BYTES = 16 * 1024 * 1024


def filters_of(query: DayQuery) -> dict:
    """The filters of a read, as the ledger and the manifest record them."""
    return {
        "event_names": list(query.event_names) if query.event_names else None,
        "event_types": list(query.event_types) if query.event_types else None,
    }


def row_group_rows(table: pa.Table) -> int:
    """Rows per row group so that one holds about ROW_GROUP_BYTES of the table."""
    if not table.num_rows or table.nbytes <= ROW_GROUP_BYTES:
        return max(1, table.num_rows)
    return max(1, int(table.num_rows * ROW_GROUP_BYTES / table.nbytes))


def stage_day(
    url: str,
    engine,  # type: ignore[no-untyped-def]
    sync_id: str,
    workspace_id: str,
    day: str,
    event_types: list[str] | None = None,
    codec: str = "zstd",
    max_invalid_share: float | None = None,
    batch_rows: int | None = None,
    holder: str = "",
    event_names: list[str] | None = None,
    received_through: int | None = None,
    read_connections: int | None = None,
) -> StageResult:
    """Stream, validate and stage one partition. Memory is bounded by `batch_rows`
    (unset: EVENTSYNC_BATCH_ROWS; `max_invalid_share` and `read_connections` likewise,
    eventsync/settings.py); the staged files are the same for any `read_connections`.
    Holds the partition alone (a second run of it fails at once, naming `holder`, the
    run that has it) and the workspace's export lock (shared) from reading the
    suppressions to the staged file, so an erasure's staging step cleans whatever
    this read."""
    configured = load()
    with (
        partition_lock(engine, sync_id, day, holder or default_holder()),
        export_lock(engine, workspace_id),
    ):
        return _stage_day(
            url,
            engine,
            sync_id,
            workspace_id,
            day,
            event_types,
            codec,
            configured.max_invalid_share if max_invalid_share is None else max_invalid_share,
            batch_rows or configured.batch_rows,
            event_names,
            received_through,
            read_connections or configured.read_connections,
        )


def _stage_day(
    url: str,
    engine,  # type: ignore[no-untyped-def]
    sync_id: str,
    workspace_id: str,
    day: str,
    event_types: list[str] | None,
    codec: str,
    max_invalid_share: float,
    batch_rows: int,
    event_names: list[str] | None = None,
    received_through: int | None = None,
    read_connections: int = 1,
) -> StageResult:
    started = time.perf_counter()
    # The fingerprint of exactly the rows read (accumulated while streaming, no second
    # scan): a row that lands after the read changes the source's fingerprint, so the
    # re-sync exports the day again -- it can never miss a change.
    accumulator = FingerprintAccumulator()
    query = DayQuery(
        workspace_id, day, event_types, event_names=event_names, received_through=received_through
    )
    suppressed = SuppressedSubjects.load(engine, workspace_id)
    out_dir = staging_dir(sync_id, day)
    out_dir.mkdir(parents=True, exist_ok=True)
    q_path = quarantine_path(sync_id, day)
    staged = staged_path(sync_id, day)
    # Temp names of this run only; leftovers are a killed run's (we hold the partition).
    for leftover in [*out_dir.glob("*.tmp"), *q_path.parent.glob("*.tmp")]:
        leftover.unlink(missing_ok=True)
    run = uuid.uuid4().hex[:12]
    staged_tmp = staged.with_name(f"{staged.name}.{run}.tmp")
    q_tmp = q_path.with_name(f"{q_path.name}.{run}.tmp")
    from eventsync.engine.validate import (
        DayValidator,  # pandas + pandera: not at code-location load
    )

    validator = DayValidator(workspace_id, day)
    try:
        _write_day(
            url,
            query,
            batch_rows,
            read_connections,
            codec,
            accumulator,
            suppressed,
            validator,
            staged_tmp,
            q_tmp,
        )
        checkpoints.reached("staging.written", sync_id=sync_id, day=day)
        # The staged day is published by the renames below: only if the locks held all
        # along. One lost to a dropped connection may have let an erasure clean staging
        # and the store while this read the subjects it erased.
        if reassert_held():
            raise LockLost(
                f"partition {day}|{sync_id}: a store connection holding its locks dropped "
                "while it was staged (an erasure may have run meanwhile): stage it again"
            )
    except BaseException:
        # A failed run (a full disk, a dropped store connection) leaves nothing behind:
        # the staged day stays what the last good run wrote.
        staged_tmp.unlink(missing_ok=True)
        q_tmp.unlink(missing_ok=True)
        raise
    if q_tmp.exists():
        os.replace(q_tmp, q_path)
    else:
        q_path.unlink(missing_ok=True)
    os.replace(staged_tmp, staged)
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
        staged_path=str(staged),
        quarantine_path=str(q_path) if summary.quarantined else None,
        compression=codec,
        seconds=seconds,
        rows_per_second=summary.extracted / seconds if seconds > 0 else 0.0,
        filters=filters_of(query),
        received_through=received_through,
    )
    result.save()
    return result


def _write_day(
    url: str,
    query: DayQuery,
    batch_rows: int,
    read_connections: int,
    codec: str,
    accumulator: FingerprintAccumulator,
    suppressed: SuppressedSubjects,
    validator: Any,
    staged_tmp: Path,
    q_tmp: Path,
) -> None:
    """Stream the day into the staged and quarantine temp files (the quarantine one only
    when a row is invalid). Three stages run at once: the reader threads of
    `stream_day_ranges` fill the next batches, this thread validates one, and a writer
    thread compresses the one before (zstd releases the GIL)."""
    q_writer: pq.ParquetWriter | None = None
    # Closed at once if this run fails (the reader threads end and close their
    # connections).
    batches = stream_day_ranges(url, query, batch_rows, read_connections)
    try:
        with (
            closing(batches),
            pq.ParquetWriter(staged_tmp, EXPORT_SCHEMA, compression=codec) as writer,
            BackgroundWriter(writer) as staged_out,
        ):
            for batch in batches:
                accumulator.add(batch)
                # Erased subjects never reach staging, quarantine or an export.
                valid, quarantine = validator.validate(suppressed.drop(batch))
                del batch
                if valid.num_rows:
                    staged_out.write(valid)
                if quarantine.num_rows:
                    if q_writer is None:
                        q_tmp.parent.mkdir(parents=True, exist_ok=True)
                        q_writer = pq.ParquetWriter(q_tmp, QUARANTINE_SCHEMA, compression="zstd")
                    q_writer.write_table(quarantine)
                del valid, quarantine
    finally:
        if q_writer is not None:
            q_writer.close()


class BackgroundWriter:
    """Writes tables to a ParquetWriter in a thread, in the order given: `write` waits
    until the table before is written, so the caller prepares the next table while one
    is written (one more table in memory, not a queue of them). Each table is its own
    row groups (`row_group_rows`), as a direct write would make them. A write's error
    is raised by the next `write` or at the end of the `with`; leaving it with an
    error discards what is still queued."""

    _END = object()

    def __init__(self, writer: pq.ParquetWriter) -> None:
        self._writer = writer
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._idle = threading.Semaphore(1)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="eventsync-writer", daemon=True)

    def _run(self) -> None:
        while True:
            table = self._queue.get()
            if table is self._END:
                return
            if self._error is None:
                try:
                    self._writer.write_table(table, row_group_size=row_group_rows(table))
                except BaseException as exc:  # raised in the caller's thread
                    self._error = exc
            del table
            self._idle.release()

    def write(self, table: pa.Table) -> None:
        self._idle.acquire()
        if self._error is not None:
            self._idle.release()
            raise self._error
        self._queue.put(table)

    def __enter__(self) -> BackgroundWriter:
        self._thread.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:  # type: ignore[no-untyped-def]
        if exc is not None:
            self._error = self._error or exc  # the thread skips what is queued
        self._queue.put(self._END)
        self._thread.join()
        if exc is None and self._error is not None:
            raise self._error


# --- the areas, for erasure and retention ---------------------------------------------
def partitions(area: Area, sync_ids: list[str]) -> Iterator[tuple[str, str, Path]]:
    """(sync_id, day, file) of every partition file of the syncs in an area."""
    for sync_id in sync_ids:
        base = data_root() / area / sync_id
        if base.exists():
            for path in sorted(base.glob(f"date=*/{FILES[area]}")):
                yield sync_id, path.parent.name.removeprefix("date="), path


def _adjust_summary(sync_id: str, day: str, area: Area, removed: int) -> None:
    """Keep the partition's summary true after an erasure removed rows."""
    summary = staging_dir(sync_id, day) / SUMMARY_FILE
    if not summary.exists():
        return
    doc = json.loads(summary.read_text())
    field_name = "valid" if area == "staging" else "quarantined"
    doc[field_name] = max(0, int(doc.get(field_name, 0)) - removed)
    extra = doc.setdefault("extra", {})
    extra["erased_rows"] = extra.get("erased_rows", 0) + removed
    tmp = summary.with_suffix(".erase-tmp")
    tmp.write_text(json.dumps(doc, sort_keys=True, indent=1))
    os.replace(tmp, summary)


def remove_subjects(
    area: Area, sync_ids: list[str], users: set[str], companies: set[str]
) -> tuple[int, int]:
    """Rewrite (atomically) every partition file of the area that holds the subjects,
    without their rows; (files rewritten, rows removed)."""
    parquet = handler("parquet")
    files = rows = 0
    for sync_id, day, path in partitions(area, sync_ids):
        if not parquet.count(path, users, companies)[1]:
            continue
        tmp = path.with_name(path.name + ".erase-tmp")
        _kept, removed = parquet.filter_subjects(path, users, companies, tmp)
        os.replace(tmp, path)
        _adjust_summary(sync_id, day, area, removed)
        files += 1
        rows += removed
    return files, rows


def files_with_subjects(
    area: Area, sync_ids: list[str], users: set[str], companies: set[str]
) -> tuple[int, list[Path]]:
    """(files read, files that still hold rows of the subjects): verification."""
    parquet = handler("parquet")
    read, hits = 0, []
    for _sync_id, _day, path in partitions(area, sync_ids):
        read += 1
        if parquet.count(path, users, companies)[1]:
            hits.append(path)
    return read, hits


def remove_partitions_before(sync_ids: list[str], keep_from: date) -> int:
    """Delete staged and quarantined partitions of days before `keep_from` (retention);
    returns the folders removed."""
    removed = 0
    for sync_id in sync_ids:
        for area in FILES:
            base = data_root() / area / sync_id
            if not base.exists():
                continue
            for folder in base.glob("date=*"):
                try:
                    day = date.fromisoformat(folder.name.removeprefix("date="))
                except ValueError:
                    continue
                if day < keep_from:
                    shutil.rmtree(folder, ignore_errors=True)
                    removed += 1
    return removed

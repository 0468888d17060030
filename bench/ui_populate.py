"""Writes a history of 03:00 runs into Dagster's storage for `bench.ui --designs`.

For each day (oldest first) and each run the 03:00 schedule makes of a design (up to
`PER_RUN` syncs of one asset pair per run, as pipeline/runs/sync_groups.py cuts them),
this writes what that run leaves in storage: the run (SUCCESS, with its start and end),
its planned events (one ASSET_MATERIALIZATION_PLANNED per asset and one
ASSET_CHECK_EVALUATION_PLANNED per check, with the run's partition subset), one
materialization per staged or exported partition with the product's metadata keys,
an observation for each day that was not exported (the product's `_failed_day`), the
check evaluations and the freshness verdict.

The rows are the ones a run writes: the event_logs row (`_event_to_row`'s columns,
the event serialized by Dagster's serdes), the indexed tags (data version and the
partition dimensions), the asset_keys row of the last event, and the
asset_check_executions row that a planned-then-evaluated check leaves. Two shortcuts
make a year take minutes, not hours: one run's rows go in one executemany, and events
that differ only in run id, partition, timestamp and row count are serialized once
per kind and the values substituted (`Templates`, which compares the first event of
each kind with serdes' own output and refuses to go on if they differ).

1 partition in 200 fails its checks and is not exported, so failures show where the UI
shows them. No personal data: ids are synthetic hashes.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import dagster as dg
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationPlanned,
)
from dagster._core.definitions.data_version import DATA_VERSION_TAG
from dagster._core.events import (
    AssetMaterializationPlannedData,
    AssetObservationData,
    DagsterEvent,
    DagsterEventType,
    StepMaterializationData,
)
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.dagster_run import DagsterRun, DagsterRunStatus
from dagster._core.storage.event_log.schema import (
    AssetCheckExecutionsTable,
    AssetEventTagsTable,
    SqlEventLogStorageTable,
)
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    PARTITION_NAME_TAG,
    SCHEDULE_NAME_TAG,
)
from dagster_shared.serdes import serialize_value

from bench.ui_location import CHECKS, FRESHNESS, Pair, pairs
from eventsync.clock import utc_today

PER_RUN = 50  # EVENTSYNC_SYNCS_PER_RUN's default
FAIL_EVERY = 200  # 1 partition in 200 fails its checks and is not exported

# Stand-ins that serdes writes verbatim; Templates replaces them with the real values.
RUN, DAY, SYNC, VERSION, EXPORT_ID = "@@run@@", "@@day@@", "@@sync@@", "@@dv@@", "@@xid@@"
TS, ROWS = 1000000000.25, 900000001


def sync_ids(n: int) -> list[str]:
    """n sync ids shaped like eventsync's (`sync_` + 12 hex digits), stable across runs."""
    return [f"sync_{hashlib.sha256(str(i).encode()).hexdigest()[:12]}" for i in range(n)]


def shard_syncs(design: str, syncs: Sequence[str]) -> list[tuple[Pair, list[str]]]:
    """Each pair of the design with its syncs (design c: sync i in shard i mod 16)."""
    chosen = pairs(design)
    return [(pair, list(syncs[i :: len(chosen)])) for i, pair in enumerate(chosen)]


def add_sync_partitions(instance: dg.DagsterInstance, design: str, syncs: Sequence[str]) -> None:
    for pair, members in shard_syncs(design, syncs):
        if pair.sync_dimension:
            have = set(instance.get_dynamic_partitions(pair.sync_dimension))
            missing = [s for s in members if s not in have]
            if missing:
                instance.add_dynamic_partitions(pair.sync_dimension, missing)


def _digest(*parts: str) -> int:
    return int(hashlib.sha256("|".join(parts).encode()).hexdigest()[:8], 16)


def fails(day: str, sync: str) -> bool:
    return _digest("fail", day, sync) % FAIL_EVERY == 0


def day_rows(day: str, sync: str) -> int:
    return 15_000 + _digest("rows", day, sync) % 10_000


# --- the events, as the product's assets emit them ----------------------------------------
def _stage_metadata(rows: int, failed: bool) -> dict[str, Any]:
    quarantined = 4_000 if failed else 12
    return {
        "rows_extracted": dg.MetadataValue.int(rows),
        "rows_valid": dg.MetadataValue.int(rows),
        "rows_quarantined": dg.MetadataValue.int(quarantined),
        "invalid_share": dg.MetadataValue.float(0.2 if failed else 0.0006),
        "rows_by_event_type": dg.MetadataValue.json(
            {"track": 9_000, "page_view": 6_000, "identify_user": 2_000, "nps_response": 50}
        ),
        "quarantine_reasons": dg.MetadataValue.json({"nps_score: out of range": quarantined}),
        "quarantine_path": dg.MetadataValue.path("/var/eventsync/quarantine/part-00000.parquet"),
        "staged_path": dg.MetadataValue.path("/var/eventsync/staging/part-00000.parquet"),
        "source_fingerprint": dg.MetadataValue.json(
            {"rows": rows, "max_received_at": "2026-01-01T23:59:59.123456Z", "checksum": "9f1c"}
        ),
        "duration_seconds": dg.MetadataValue.float(0.81),
        "rows_per_second": dg.MetadataValue.float(24_691.4),
    }


PREVIEW = "\n".join(
    ["| occurred_at | event_type | event_name | source | device_type | country_code |"]
    + ["|---|---|---|---|---|---|"]
    + ["| 2026-01-01 00:00:01.123456+00:00 | track | Clicked Button | web-client | desktop | DE |"]
    * 5
)


def _export_metadata(sync: str, day: str, rows: int, export_id: str) -> dict[str, Any]:
    key = f"{sync}/parquet/events/date={day}/part-00000.parquet"
    return {
        "rows": dg.MetadataValue.int(rows),
        "rows_quarantined": dg.MetadataValue.int(12),
        "bytes": dg.MetadataValue.int(1_220_000),
        "files": dg.MetadataValue.int(1),
        "file_list": dg.MetadataValue.json(
            [{"key": key, "rows": rows, "bytes": 1_220_000, "sha256": "ab" * 32}]
        ),
        "manifest": dg.MetadataValue.text(f"s3://bucket/{sync}/_manifests/date={day}.json"),
        "export_id": dg.MetadataValue.text(export_id),
        "rows_by_event_type": dg.MetadataValue.json({"track": 9_000, "page_view": 6_000}),
        "stale_files_removed": dg.MetadataValue.int(0),
        "stale_cleanup": dg.MetadataValue.text("none"),
        "duration_seconds": dg.MetadataValue.float(0.21),
        "rows_per_second": dg.MetadataValue.float(95_238.1),
        "preview": dg.MetadataValue.md(PREVIEW),
    }


def _verdicts(failed: bool) -> dict[str, tuple[bool, dict[str, Any]]]:
    """The three checks on one day (no_quarantined_rows warns on most days, as real data
    has some invalid rows)."""
    return {
        "valid_share": (not failed, {"invalid_share": 0.2 if failed else 0.0006}),
        "unique_event_ids": (True, {"duplicate_ids": 0}),
        "no_quarantined_rows": (False, {"rows_quarantined": 4_000 if failed else 12}),
    }


def _entry(run_id: str, job: str, ts: float, event: DagsterEvent) -> EventLogEntry:
    return EventLogEntry(
        error_info=None,
        level=10,
        user_message="",
        run_id=run_id,
        timestamp=ts,
        step_key=event.step_key,
        job_name=job,
        dagster_event=event,
    )


def _materialization(job: str, asset: str, partition: str | None, meta: dict, tags: dict):
    return DagsterEvent(
        event_type_value=DagsterEventType.ASSET_MATERIALIZATION.value,
        job_name=job,
        event_specific_data=StepMaterializationData(
            dg.AssetMaterialization(asset_key=asset, partition=partition, metadata=meta, tags=tags)
        ),
        step_key=asset,
    )


def _observation(job: str, asset: str, partition: str, reason: str) -> DagsterEvent:
    return DagsterEvent(
        event_type_value=DagsterEventType.ASSET_OBSERVATION.value,
        job_name=job,
        event_specific_data=AssetObservationData(
            dg.AssetObservation(
                asset_key=asset,
                partition=partition,
                metadata={"status": "failed", "error": dg.MetadataValue.text(reason)},
            )
        ),
        step_key=asset,
    )


def _evaluation(
    asset: str,
    name: str,
    passed: bool,
    meta: dict,
    partition: str | None,
    severity: dg.AssetCheckSeverity | None = None,
) -> dg.AssetCheckEvaluation:
    if severity is None:
        severity = (
            dg.AssetCheckSeverity.WARN
            if name == "no_quarantined_rows"
            else dg.AssetCheckSeverity.ERROR
        )
    return dg.AssetCheckEvaluation(
        asset_key=dg.AssetKey(asset),
        check_name=name,
        passed=passed,
        partition=partition,
        severity=severity,
        blocking=False,
        metadata=meta,
        description=None if passed else f"{name}: failed",
    )


def _check_event(job: str, step: str, evaluation: dg.AssetCheckEvaluation) -> DagsterEvent:
    return DagsterEvent(
        event_type_value=DagsterEventType.ASSET_CHECK_EVALUATION.value,
        job_name=job,
        event_specific_data=evaluation,
        step_key=step,
    )


# --- serialization once per kind ---------------------------------------------------------
class Templates:
    """serialize_value of an event, computed once per kind with stand-in values
    (RUN, DAY, SYNC, VERSION, EXPORT_ID, TS, ROWS) and reused with the real ones. The
    first use of each kind is compared with serdes' output for the real values."""

    def __init__(self) -> None:
        self._json: dict[tuple, str] = {}

    def serialize(
        self, kind: tuple, build: Callable[..., EventLogEntry], values: dict[str, Any]
    ) -> str:
        stand_ins = {
            "run": RUN,
            "day": DAY,
            "sync": SYNC,
            "version": VERSION,
            "export_id": EXPORT_ID,
            "ts": TS,
            "rows": ROWS,
        }
        if kind not in self._json:
            self._json[kind] = serialize_value(build(**{k: stand_ins[k] for k in values}))
            text = self._fill(self._json[kind], values, stand_ins)
            real = serialize_value(build(**values))
            if text != real:
                raise RuntimeError(f"template of {kind} differs from serdes' output")
            return text
        return self._fill(self._json[kind], values, stand_ins)

    @staticmethod
    def _fill(text: str, values: dict[str, Any], stand_ins: dict[str, Any]) -> str:
        for name, value in values.items():
            old, new = stand_ins[name], value
            if name in ("ts", "rows"):  # JSON numbers, written as repr() writes them
                old, new = repr(old), repr(value)
            text = text.replace(old, new)
        return text


TEMPLATES = Templates()


@dataclass
class RunBatch:
    """What one run leaves in storage, ready to insert."""

    run: DagsterRun
    start: float
    end: float
    rows: list[dict[str, Any]] = field(default_factory=list)
    tags: list[dict[str, str] | None] = field(default_factory=list)
    checks: list[tuple[str, str, str | None, bool] | None] = field(default_factory=list)
    # asset -> its last materialization (or planned) event, built only when written
    last: dict[str, tuple[Callable[..., EventLogEntry], dict[str, Any]]] = field(
        default_factory=dict
    )

    def add(
        self,
        kind: tuple,
        build: Callable[..., EventLogEntry],
        values: dict[str, Any],
        *,
        event_type: DagsterEventType,
        asset: str | None = None,
        step: str | None = None,
        partition: str | None = None,
        tags: dict[str, str] | None = None,
        check: tuple[str, str, str | None, bool] | None = None,
    ) -> None:
        ts = values["ts"]
        self.rows.append(
            {
                "run_id": self.run.run_id,
                "event": TEMPLATES.serialize(kind, build, values),
                "dagster_event_type": event_type.value,
                "timestamp": datetime.fromtimestamp(ts, UTC).replace(tzinfo=None),
                "step_key": step,
                "asset_key": dg.AssetKey(asset).to_string() if asset else None,
                "partition": partition,
            }
        )
        self.tags.append(tags)
        self.checks.append(check)
        if asset and event_type in (
            DagsterEventType.ASSET_MATERIALIZATION,
            DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
        ):
            self.last[asset] = (build, values)


def _plain(batch: RunBatch, event: DagsterEvent, ts: float) -> None:
    """An event serialized as is (a few per run: run start and end, planned events)."""
    entry = _entry(batch.run.run_id, batch.run.job_name, ts, event)
    asset = event.asset_key.to_user_string() if event.asset_key else None
    batch.rows.append(
        {
            "run_id": batch.run.run_id,
            "event": serialize_value(entry),
            "dagster_event_type": event.event_type_value,
            "timestamp": datetime.fromtimestamp(ts, UTC).replace(tzinfo=None),
            "step_key": event.step_key,
            "asset_key": event.asset_key.to_string() if event.asset_key else None,
            "partition": event.partition,
        }
    )
    batch.tags.append(None)
    batch.checks.append(None)
    if asset and event.event_type in (
        DagsterEventType.ASSET_MATERIALIZATION,
        DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
    ):
        batch.last[asset] = (lambda: entry, {})


def _planned(batch: RunBatch, pair: Pair, subset: Any, ts: float) -> None:
    job = batch.run.job_name
    for asset in (pair.daily, pair.export):
        _plain(
            batch,
            DagsterEvent.build_asset_materialization_planned_event(
                job,
                asset,
                AssetMaterializationPlannedData(
                    dg.AssetKey(asset), partition=None, partitions_subset=subset
                ),
            ),
            ts,
        )
    daily, export = pair.daily_checks, (FRESHNESS, *pair.export_checks)
    for asset, names in ((pair.daily, daily), (pair.export, export)):
        for name in names:
            partitioned = pair.partitioned_checks and name != FRESHNESS
            _plain(
                batch,
                DagsterEvent(
                    event_type_value=DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED.value,
                    job_name=job,
                    event_specific_data=AssetCheckEvaluationPlanned(
                        asset_key=dg.AssetKey(asset),
                        check_name=name,
                        partitions_subset=subset if partitioned else None,
                    ),
                    step_key=asset,
                ),
                ts,
            )


def _multi_day(batch: RunBatch, pair: Pair, design: str, day: str, syncs: list[str]) -> None:
    """Designs a, c, d: one materialization (or failed-day observation) per sync-day."""
    run_id, job = batch.run.run_id, batch.run.job_name
    t_stage, t_export = batch.start + 10.0, batch.start + 25.0
    failed = {s: fails(day, s) for s in syncs}
    for s in syncs:

        def build(run, day, sync, version, ts, rows, _f=failed[s]):
            meta = _stage_metadata(rows, _f)
            if not pair.partitioned_checks:  # design d: the day's verdicts on the day
                meta.update(
                    {f"check_{n}": dg.MetadataValue.bool(p) for n, (p, _) in _verdicts(_f).items()}
                )
            tags = {
                "dagster/code_version": run,
                "dagster/partition/date": day,
                "dagster/partition/sync": sync,
                DATA_VERSION_TAG: version,
            }
            return _entry(
                run, job, ts, _materialization(job, pair.daily, f"{day}|{sync}", meta, tags)
            )

        version = hashlib.sha256(f"{run_id}{s}".encode()).hexdigest()
        batch.add(
            ("daily", pair.daily, job, failed[s]),
            build,
            {
                "run": run_id,
                "day": day,
                "sync": s,
                "version": version,
                "ts": t_stage,
                "rows": day_rows(day, s),
            },
            event_type=DagsterEventType.ASSET_MATERIALIZATION,
            asset=pair.daily,
            step=pair.daily,
            partition=f"{day}|{s}",
            tags={
                "dagster/partition/date": day,
                "dagster/partition/sync": s,
                DATA_VERSION_TAG: version,
            },
        )
    if pair.partitioned_checks:
        for s in syncs:
            for name, (passed, meta) in _verdicts(failed[s]).items():

                def build(run, day, sync, ts, _n=name, _p=passed, _m=meta):
                    ev = _evaluation(pair.daily, _n, _p, _m, f"{day}|{sync}")
                    return _entry(run, job, ts, _check_event(job, pair.daily, ev))

                batch.add(
                    ("check", pair.daily, job, name, passed),
                    build,
                    {"run": run_id, "day": day, "sync": s, "ts": t_stage},
                    event_type=DagsterEventType.ASSET_CHECK_EVALUATION,
                    asset=pair.daily,
                    step=pair.daily,
                    partition=f"{day}|{s}",
                    check=(pair.daily, name, f"{day}|{s}", passed),
                )
    else:
        _per_run_checks(batch, pair, day, syncs, failed, t_stage, None)
    for s in syncs:
        if failed[s]:
            _plain(
                batch,
                _observation(job, pair.export, f"{day}|{s}", "blocked: 20.0% of rows invalid"),
                t_export,
            )
            continue

        def build(run, day, sync, export_id, ts, rows):
            tags = {
                "dagster/code_version": run,
                "dagster/partition/date": day,
                "dagster/partition/sync": sync,
            }
            meta = _export_metadata(sync, day, rows, export_id)
            return _entry(
                run, job, ts, _materialization(job, pair.export, f"{day}|{sync}", meta, tags)
            )

        batch.add(
            ("export", pair.export, job),
            build,
            {
                "run": run_id,
                "day": day,
                "sync": s,
                "export_id": uuid.uuid4().hex,
                "ts": t_export,
                "rows": day_rows(day, s),
            },
            event_type=DagsterEventType.ASSET_MATERIALIZATION,
            asset=pair.export,
            step=pair.export,
            partition=f"{day}|{s}",
            tags={"dagster/partition/date": day, "dagster/partition/sync": s},
        )


def _per_run_checks(
    batch: RunBatch,
    pair: Pair,
    day: str,
    syncs: list[str],
    failed: dict[str, bool],
    ts: float,
    partition: str | None,
) -> None:
    """One verdict per check over the run's sync-days (designs b and d; design p's one
    check carries the three rules)."""
    job = batch.run.job_name
    bad_syncs = [s for s in syncs if failed[s]]
    if pair.daily_checks != CHECKS:
        (name,) = pair.daily_checks
        meta = {
            "syncs_checked": len(syncs),
            "syncs_blocked": len(bad_syncs),
            "syncs_invalid_share": len(bad_syncs),
            "syncs_rows_quarantined": len(syncs) - len(bad_syncs),  # most days warn
            "failed_syncs": dg.MetadataValue.json(
                {s: ["invalid_share" if failed[s] else "rows_quarantined"] for s in syncs[:50]}
            ),
        }
        severity = dg.AssetCheckSeverity.ERROR if bad_syncs else dg.AssetCheckSeverity.WARN
        ev = _evaluation(pair.daily, name, False, meta, partition, severity)
        _plain(batch, _check_event(job, pair.daily, ev), ts)
        batch.checks[-1] = (pair.daily, name, partition, False)
        return
    for name, (passed, meta) in _verdicts(False).items():
        bad = bad_syncs if name == "valid_share" else ([] if passed else syncs)
        ev = _evaluation(
            pair.daily,
            name,
            not bad,
            {
                **meta,
                "days_checked": len(syncs),
                "days_failed": len(bad),
                "failed": dg.MetadataValue.json({s: day for s in bad[:100]}),
            },
            partition,
        )
        _plain(batch, _check_event(job, pair.daily, ev), ts)
        batch.checks[-1] = (pair.daily, name, partition, not bad)


def _date_only_day(batch: RunBatch, pair: Pair, day: str, syncs: list[str]) -> None:
    """Design b: the run's syncs of the day in one materialization per asset, each
    sync's outcome in its metadata."""
    job = batch.run.job_name
    t_stage, t_export = batch.start + 10.0, batch.start + 25.0
    failed = {s: fails(day, s) for s in syncs}
    rows = {s: day_rows(day, s) for s in syncs}
    meta = _stage_metadata(sum(rows.values()), False)
    meta["syncs"] = dg.MetadataValue.json(
        {s: {"rows_valid": rows[s], "rows_quarantined": 12, "blocked": failed[s]} for s in syncs}
    )
    code = {"dagster/code_version": batch.run.run_id}
    _plain(batch, _materialization(job, pair.daily, day, meta, code), t_stage)
    batch.tags[-1] = {}
    _per_run_checks(batch, pair, day, syncs, failed, t_stage, day)
    exported = {
        s: {"rows": rows[s], "bytes": 1_220_000, "files": 1} for s in syncs if not failed[s]
    }
    meta = _export_metadata(syncs[0], day, sum(r["rows"] for r in exported.values()), "x" * 32)
    meta["syncs"] = dg.MetadataValue.json(exported)
    meta["failed_syncs"] = dg.MetadataValue.json(
        {s: "blocked: 20.0% of rows invalid" for s in syncs if failed[s]}
    )
    _plain(batch, _materialization(job, pair.export, day, meta, code), t_export)
    batch.tags[-1] = {}
    for name in pair.export_checks:  # the product's syncs_exported: the date's failed syncs
        bad = [s for s in syncs if failed[s]]
        meta = {
            "syncs_checked": len(syncs),
            "syncs_failed": len(bad),
            "failed": dg.MetadataValue.json({s: "blocked" for s in bad[:100]}),
        }
        ev = _evaluation(pair.export, name, not bad, meta, day)
        _plain(batch, _check_event(job, pair.export, ev), t_export)
        batch.checks[-1] = (pair.export, name, day, not bad)


def run_batch(design: str, pair: Pair, day: str, syncs: list[str], start: float) -> RunBatch:
    """What the 03:00 run of `syncs` (consecutive in `pair`'s order) on `day` writes."""
    run_id = str(uuid.uuid4())
    if pair.sync_dimension:
        keys = [f"{day}|{s}" for s in syncs]
        tags = {ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]}
    else:
        keys = [day]
        tags = {PARTITION_NAME_TAG: day, "eventsync/syncs": f"{syncs[0]}..{syncs[-1]}"}
    subset = pair.partitions_def.subset_with_partition_keys(keys).to_serializable_subset()
    tags = {**tags, SCHEDULE_NAME_TAG: "daily_sync_schedule", "dagster/priority": "10"}
    run = DagsterRun(job_name=pair.job, run_id=run_id, status=DagsterRunStatus.SUCCESS, tags=tags)
    batch = RunBatch(run, start, start + 30.0)
    _plain(batch, DagsterEvent(DagsterEventType.RUN_START.value, pair.job), start)
    _planned(batch, pair, subset, start)
    if pair.sync_dimension:
        _multi_day(batch, pair, design, day, syncs)
    else:
        _date_only_day(batch, pair, day, syncs)
    ev = _evaluation(pair.export, FRESHNESS, True, {"enabled_syncs": 1000, "stale_syncs": 0}, None)
    _plain(batch, _check_event(pair.job, pair.export, ev), start + 26.0)
    batch.checks[-1] = (pair.export, FRESHNESS, None, True)
    _plain(batch, DagsterEvent(DagsterEventType.RUN_SUCCESS.value, pair.job), batch.end)
    return batch


def day_batches(design: str, syncs: Sequence[str], day: str) -> Iterator[RunBatch]:
    """The 03:00 runs of `day` (on the next day, from 03:00 UTC, 20 s apart)."""
    t = (
        datetime.combine(
            date.fromisoformat(day) + timedelta(days=1), datetime.min.time(), tzinfo=UTC
        )
        .replace(hour=3)
        .timestamp()
    )
    for pair, members in shard_syncs(design, syncs):
        for i in range(0, len(members), PER_RUN):
            yield run_batch(design, pair, day, members[i : i + PER_RUN], t)
            t += 20.0


def write_day(instance: dg.DagsterInstance, batches: Sequence[RunBatch]) -> int:
    """The runs of one day in one transaction (the runs, their events, their indexes:
    the rows `add_run`, `handle_run_event` and `store_event` write); returns the number
    of events written."""
    from dagster._core.storage.runs.schema import RunsTable, RunTagsTable

    storage = instance.event_log_storage
    runs = instance.run_storage
    run_rows, run_tags = [], []
    for b in batches:
        values = runs._get_run_insertion_values(
            b.run, datetime.fromtimestamp(b.start, UTC).replace(tzinfo=None)
        )
        values.update(
            start_time=b.start,
            end_time=b.end,
            update_timestamp=datetime.fromtimestamp(b.end, UTC).replace(tzinfo=None),
        )
        run_rows.append(values)
        run_tags += [
            {"run_id": b.run.run_id, "key": k, "value": v}
            for k, v in b.run.tags_for_storage().items()
        ]
    written = 0
    with storage.index_transaction() as conn:
        # A bench database: no need to wait for the WAL flush at each commit.
        conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
        conn.execute(RunsTable.insert(), run_rows)
        conn.execute(RunTagsTable.insert(), run_tags)
        for b in batches:
            written += _write_events(storage, conn, b)
    return written


def _write_events(storage: Any, conn: Any, batch: RunBatch) -> int:
    result = conn.execute(
        SqlEventLogStorageTable.insert().returning(
            SqlEventLogStorageTable.c.id, sort_by_parameter_order=True
        ),
        batch.rows,
    )
    ids = [int(r[0]) for r in result.fetchall()]
    tag_rows = [
        {
            "event_id": i,
            "asset_key": row["asset_key"],
            "key": k,
            "value": v,
            "event_timestamp": row["timestamp"],
        }
        for i, row, tags in zip(ids, batch.rows, batch.tags, strict=True)
        if tags
        for k, v in tags.items()
    ]
    if tag_rows:
        conn.execute(AssetEventTagsTable.insert(), tag_rows)
    by_asset = {}
    for i, row in zip(ids, batch.rows, strict=True):
        if row["asset_key"] and row["dagster_event_type"] in (
            DagsterEventType.ASSET_MATERIALIZATION.value,
            DagsterEventType.ASSET_MATERIALIZATION_PLANNED.value,
        ):
            by_asset[row["asset_key"]] = i
    for asset, (build, values) in batch.last.items():
        event_id = by_asset[dg.AssetKey(asset).to_string()]
        storage._store_asset_event(conn, build(**values), event_id)
    check_rows = [
        {
            "asset_key": dg.AssetKey(asset).to_string(),
            "check_name": name,
            "partition": partition,
            "run_id": batch.run.run_id,
            "execution_status": (
                AssetCheckExecutionRecordStatus.SUCCEEDED.value
                if passed
                else AssetCheckExecutionRecordStatus.FAILED.value
            ),
            "evaluation_event": row["event"],
            "evaluation_event_timestamp": row["timestamp"],
            "evaluation_event_storage_id": i,
            "materialization_event_storage_id": None,
        }
        for i, row, check in zip(ids, batch.rows, batch.checks, strict=True)
        if check
        for asset, name, partition, passed in [check]
    ]
    if check_rows:
        conn.execute(AssetCheckExecutionsTable.insert(), check_rows)
    return len(batch.rows)


PROGRESS = "bench_ui_days_written"


def first_day(today: date) -> date:
    """Day 1 of the simulated year: the deployment started 365 days before today."""
    return today - timedelta(days=365)


def days_written(instance: dg.DagsterInstance) -> int:
    return int(instance.run_storage.get_cursor_values({PROGRESS}).get(PROGRESS, "0"))


def populate_to(
    instance: dg.DagsterInstance,
    design: str,
    syncs: Sequence[str],
    days: int,
    log: Callable[[str], None] = print,
) -> tuple[int, float]:
    """Extend the history to `days` days from first_day, oldest first, as the 03:00
    runs would have written it; returns (events written, seconds)."""
    import time

    add_sync_partitions(instance, design, syncs)
    start = first_day(utc_today())
    t0 = time.perf_counter()
    events = 0
    for n in range(days_written(instance), days):
        day = (start + timedelta(days=n)).isoformat()
        events += write_day(instance, list(day_batches(design, syncs, day)))
        instance.run_storage.set_cursor_values({PROGRESS: str(n + 1)})
        if (n + 1) % 10 == 0:
            log(f"design {design}: {n + 1} days written, {time.perf_counter() - t0:.0f} s")
    return events, time.perf_counter() - t0

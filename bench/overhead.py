"""Per-run overhead of export and privacy runs (issue 15, item 1).

A run is launched the way the daemon launches it: the code location is served by a
`dagster api grpc` process (started from workspace.yaml, as dagster-daemon does), the
run is created from the remote job and handed to the instance's run launcher
(`instance.launch_run`, DefaultRunLauncher), whose code server spawns the run worker;
the wall time runs from the launch to the run's finished status in run storage.

- import: `import pipeline.definitions` in a fresh interpreter (and `import dagster`
  alone, the floor), measured inside the process, median of N;
- export run: `daily_sync_job` for one tiny day (ROWS events) of a local sync;
- privacy run: `erasure_job` for one user with rows on that one exported day.

Overhead = run wall time minus eventsync's own work, the same work done in this (warm)
process: `stage_day` + `export_partition` for the export, `runner.run_all` of an
erasure of another user of the same day for the privacy run. For the export the table
also gives the wall time minus the stage/export durations the run records in its
metadata. The run's event log splits the wall time (spawn and instance, loading the
code location, steps, end).

    python -m bench.overhead [--runs 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DAY = "2025-06-02"
ROWS = 200
USERS = 20  # each user has ROWS / USERS rows on DAY
LOCATION = "pipeline.definitions"


def _env(home: Path) -> dict[str, str]:
    return {
        "DAGSTER_HOME": str(home),
        "EVENTSYNC_DATABASE_URL": f"sqlite:///{home / 'eventsync.db'}",
        "EVENTSYNC_DATA_DIR": str(home / "eventsync"),
        "EVENTSYNC_PARTITIONS_START": "2025-06-01",
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p
        ),
    }


# --- import time --------------------------------------------------------------------------
def import_seconds(module: str, env: dict[str, str]) -> float:
    """Seconds `import module` takes in a fresh interpreter (measured inside it)."""
    code = (
        "import time, warnings; warnings.simplefilter('ignore'); t = time.perf_counter(); "
        f"import {module}; print(time.perf_counter() - t)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


# --- the store and the Dagster home -------------------------------------------------------
CONSOLIDATED = """
# bench.overhead --consolidated: one SQLite event log, not one database per run
event_log_storage:
  module: dagster.core.storage.event_log
  class: ConsolidatedSqliteEventLogStorage
  config:
    base_dir: {home}/history/runs
"""


def setup(home: Path, consolidated: bool = False) -> dict[str, Any]:
    """A DAGSTER_HOME with the project's dagster.yaml, a SQLite store with one workspace,
    one local sync and one day of ROWS events (USERS users). `consolidated`: Dagster's
    event log in one SQLite database instead of one per run."""
    import pyarrow as pa

    from bench.daemon import prepare_home
    from bench.data import day_table, load
    from eventsync.store.connection import engine_for, upgrade
    from eventsync.syncs.config import create_sync
    from eventsync.workspaces import create_workspace

    shutil.rmtree(home, ignore_errors=True)
    prepare_home(home)
    if consolidated:
        with (home / "dagster.yaml").open("a") as f:
            f.write(CONSOLIDATED.format(home=home))
    env = _env(home)
    os.environ.update(env)
    url = env["EVENTSYNC_DATABASE_URL"]
    upgrade(url)
    engine = engine_for(url)
    ws = create_workspace(engine, "bench-overhead").workspace_id
    table = day_table(ws, DAY, ROWS)
    users = pa.array([f"bench-user-{i % USERS}" for i in range(ROWS)])
    load(url, table.set_column(table.schema.get_field_index("user_id"), "user_id", users))
    sync = create_sync(engine, ws, str(home / "dest"), formats=["parquet", "jsonl"], enabled=False)
    return {"env": env, "url": url, "engine": engine, "workspace_id": ws, "sync": sync}


def export_in_process(ctx: dict[str, Any]) -> tuple[float, float]:
    """eventsync's own work of an export run, in this process: stage + export the day
    (seconds, CPU seconds)."""
    from eventsync.engine.day_export import export_partition
    from eventsync.engine.formats import staging_codec
    from eventsync.engine.staging import stage_day
    from eventsync.privacy.opener import default_opener

    sync = ctx["sync"]
    t0, c0 = time.perf_counter(), time.process_time()
    stage = stage_day(
        ctx["url"],
        ctx["engine"],
        sync.id,
        sync.workspace_id,
        DAY,
        event_types=sync.event_types,
        codec=staging_codec(sync.formats, sync.compression),
    )
    export_partition(ctx["engine"], stage, sync.formats, sync.compression, default_opener(sync))
    return time.perf_counter() - t0, time.process_time() - c0


def erasure_request(ctx: dict[str, Any], user: str) -> str:
    """A queued erasure of `user` (what privacy_request_sensor leaves for the run)."""
    from eventsync.privacy import request_store, runner

    req = request_store.create_request(
        ctx["engine"], ctx["workspace_id"], "erasure", [user], [], "bench"
    )
    return runner.claim(ctx["engine"], req.id, "bench").id


def erasure_in_process(ctx: dict[str, Any], user: str) -> tuple[float, float]:
    """eventsync's own work of an erasure run, in this process (the CLI's `--now`)
    (seconds, CPU seconds)."""
    from eventsync.privacy import runner

    request_id = erasure_request(ctx, user)
    t0, c0 = time.perf_counter(), time.process_time()
    done = runner.run_all(ctx["engine"], request_id, "bench")
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    if done.status != "completed":
        raise RuntimeError(f"in-process erasure ended {done.status}")
    return seconds, cpu


# --- runs launched like the daemon launches them ------------------------------------------
@contextmanager
def code_server(instance: Any) -> Iterator[Any]:
    """The code location served by `dagster api grpc` from workspace.yaml (the daemon's
    way); yields the workspace process context the daemons' iterations take."""
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import WorkspaceFileTarget

    target = WorkspaceFileTarget(paths=[str(ROOT / "workspace.yaml")])
    with WorkspaceProcessContext(instance, target) as process_context:
        workspace = process_context.create_request_context()
        error = workspace.get_code_location_error(LOCATION)
        if error is not None:
            raise RuntimeError(f"code location failed to load: {error.to_string()}")
        yield process_context


def create_run(
    instance: Any, workspace: Any, job_name: str, run_config: dict, tags: dict[str, str]
) -> Any:
    """A NOT_STARTED run of `job_name`, created as the daemon creates one (from the
    remote job and its execution plan)."""
    from dagster._core.definitions.selector import JobSubsetSelector

    location = workspace.get_code_location(LOCATION)
    (repo,) = location.get_repositories().values()
    remote_job = location.get_job(
        JobSubsetSelector(
            location_name=location.name,
            repository_name=repo.name,
            job_name=job_name,
            op_selection=None,
        )
    )
    plan = location.get_execution_plan(
        remote_job, run_config, step_keys_to_execute=None, known_state=None, instance=instance
    )
    snapshot = plan.execution_plan_snapshot
    return instance.create_run(
        job_name=job_name,
        run_id=None,
        run_config=run_config,
        resolved_op_selection=None,
        step_keys_to_execute=snapshot.step_keys_to_execute,
        op_selection=None,
        status=None,
        root_run_id=None,
        parent_run_id=None,
        tags={**remote_job.tags, **tags},
        job_snapshot=remote_job.job_snapshot,
        execution_plan_snapshot=snapshot,
        parent_job_snapshot=remote_job.parent_job_snapshot,
        remote_job_origin=remote_job.get_remote_origin(),
        job_code_origin=remote_job.get_python_origin(),
        asset_selection=None,
        asset_check_selection=None,
        asset_graph=repo.asset_graph,
    )


TICK = os.sysconf("SC_CLK_TCK")


def _worker_pid(instance: Any, run_id: str) -> int | None:
    from dagster import DagsterEventType

    for record in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
        message = record.dagster_event.message or ""
        if message.startswith("Started process for run (pid: "):
            return int(message.split("pid: ", 1)[1].split(")", 1)[0])
    return None


def _cpu_seconds(pid: int) -> float | None:
    """user + system CPU seconds of a live process (Linux /proc), None once it exited."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    if fields[0] == "Z":
        return None
    return (int(fields[11]) + int(fields[12])) / TICK


def launch_and_wait(
    instance: Any, workspace: Any, run: Any, timeout: float = 120
) -> tuple[float, float]:
    """Launch `run` (DefaultRunLauncher -> code server -> run worker) and wait for its
    finished status in run storage: the seconds in between, and the CPU seconds of the
    run worker process (sampled every 20 ms until it exits; on a busy machine the CPU
    time moves less than the wall time)."""
    t0 = time.perf_counter()
    instance.launch_run(run.run_id, workspace)
    deadline = time.monotonic() + timeout
    pid, cpu, seconds, status = None, 0.0, None, None
    while True:
        if pid is None:
            pid = _worker_pid(instance, run.run_id)
        sample = _cpu_seconds(pid) if pid is not None else None
        if sample is not None:
            cpu = sample
        if seconds is None:
            current = instance.get_run_by_id(run.run_id)
            if current.is_finished:
                seconds, status = time.perf_counter() - t0, current.status.value
        if seconds is not None and (sample is None or time.monotonic() > deadline):
            break  # the worker has exited
        if time.monotonic() > deadline:
            raise TimeoutError(f"run {run.run_id} not finished after {timeout}s")
        time.sleep(0.02)
    if status != "SUCCESS":
        raise RuntimeError(f"run {run.run_id} ended {status}: {_errors(instance, run)}")
    return seconds, cpu


def _errors(instance: Any, run: Any) -> str:
    out = []
    for record in instance.all_logs(run.run_id):
        event = record.dagster_event
        if event is not None and event.event_type.name in ("STEP_FAILURE", "RUN_FAILURE"):
            out.append(str(event.event_specific_data)[:1500])
    return "\n".join(out)


def timeline(instance: Any, run_id: str, launched: float) -> dict[str, float]:
    """Where a run's time went, from its event log (seconds; `launched` is the epoch time
    of the launch call): spawn + instance (to the worker's first event), code location +
    plan (to RUN_START), steps (first STEP_START to last step end), end (to RUN_SUCCESS)."""
    marks: dict[str, float] = {}
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None:
            continue
        kind = event.event_type.name
        if kind == "ENGINE_EVENT" and "Started process for run" in (event.message or ""):
            marks.setdefault("worker", record.timestamp)
        elif kind == "RUN_START":
            marks["run_start"] = record.timestamp
        elif kind == "STEP_START":
            marks.setdefault("first_step", record.timestamp)
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE"):
            marks["last_step"] = record.timestamp
        elif kind in ("RUN_SUCCESS", "RUN_FAILURE"):
            marks["run_end"] = record.timestamp
    return {
        "spawn_and_instance": marks["worker"] - launched,
        "code_location_and_plan": marks["run_start"] - marks["worker"],
        "to_first_step": marks["first_step"] - marks["run_start"],
        "steps": marks["last_step"] - marks["first_step"],
        "to_run_end": marks["run_end"] - marks["last_step"],
    }


def export_metadata_seconds(instance: Any, run_id: str) -> float:
    """The stage and export durations the run recorded (duration_seconds metadata)."""
    total = 0.0
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None or event.event_type.name != "ASSET_MATERIALIZATION":
            continue
        value = event.event_specific_data.materialization.metadata.get("duration_seconds")
        if value is not None:
            total += float(value.value)
    return total


def _median_timeline(rows: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in rows) for k in rows[0]}


def measure(work: Path, runs: int, consolidated: bool = False) -> dict[str, Any]:
    import dagster as dg

    from assets.partitions import partitions
    from pipeline.privacy_jobs import run_config
    from pipeline.runs.tags import ATTEMPT_TAG, REQUEST_TAG, run_tags

    ctx = setup(work / "home", consolidated)
    env, sync = ctx["env"], ctx["sync"]
    out: dict[str, Any] = {"rows": ROWS, "runs": runs, "consolidated": consolidated}
    out["import_dagster_s"] = [import_seconds("dagster", env) for _ in range(runs)]
    out["import_definitions_s"] = [import_seconds(LOCATION, env) for _ in range(runs)]

    export_tags = {**partitions.get_tags_for_partition_key(DAY), **run_tags(sync)}
    export_in_process(ctx)  # warm: the first call pays this process's imports
    erasure_in_process(ctx, f"bench-user-{USERS - 1}")
    exports: list[dict[str, Any]] = []
    erasures: list[dict[str, Any]] = []
    with dg.DagsterInstance.get() as instance, code_server(instance) as process_context:
        for i in range(runs):
            workspace = process_context.create_request_context()
            run = create_run(instance, workspace, "daily_sync_job", {}, export_tags)
            launched = time.time()
            wall, cpu = launch_and_wait(instance, workspace, run)
            work_wall, work_cpu = export_in_process(ctx)
            exports.append(
                {
                    "wall": wall,
                    "cpu": cpu,
                    "metadata_work": export_metadata_seconds(instance, run.run_id),
                    "warm_work": work_wall,
                    "warm_work_cpu": work_cpu,
                    "timeline": timeline(instance, run.run_id, launched),
                }
            )
            request_id = erasure_request(ctx, f"bench-user-{2 * i}")
            req_tags = {REQUEST_TAG: request_id, ATTEMPT_TAG: "1", "dagster/priority": "50"}
            run = create_run(instance, workspace, "erasure_job", run_config(request_id), req_tags)
            launched = time.time()
            wall, cpu = launch_and_wait(instance, workspace, run)
            work_wall, work_cpu = erasure_in_process(ctx, f"bench-user-{2 * i + 1}")
            erasures.append(
                {
                    "wall": wall,
                    "cpu": cpu,
                    "warm_work": work_wall,
                    "warm_work_cpu": work_cpu,
                    "timeline": timeline(instance, run.run_id, launched),
                }
            )
    for name, rows in (("export", exports), ("erasure", erasures)):
        wall = statistics.median(r["wall"] for r in rows)
        work_s = statistics.median(r["warm_work"] for r in rows)
        out[name] = {
            "wall_s": [r["wall"] for r in rows],
            "warm_work_s": [r["warm_work"] for r in rows],
            "wall_median_s": wall,
            "warm_work_median_s": work_s,
            "overhead_median_s": statistics.median(r["wall"] - r["warm_work"] for r in rows),
            "cpu_s": [r["cpu"] for r in rows],
            "warm_work_cpu_s": [r["warm_work_cpu"] for r in rows],
            "cpu_median_s": statistics.median(r["cpu"] for r in rows),
            "warm_work_cpu_median_s": statistics.median(r["warm_work_cpu"] for r in rows),
            "cpu_overhead_median_s": statistics.median(r["cpu"] - r["warm_work_cpu"] for r in rows),
            "timeline_median_s": _median_timeline([r["timeline"] for r in rows]),
        }
    out["export"]["metadata_work_median_s"] = statistics.median(r["metadata_work"] for r in exports)
    out["export"]["overhead_vs_metadata_median_s"] = statistics.median(
        r["wall"] - r["metadata_work"] for r in exports
    )
    return out


def _fmt(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


def table(r: dict[str, Any]) -> str:
    ex, er = r["export"], r["erasure"]
    lines = [
        f"Per-run overhead, one day of {r['rows']} events, local sync, SQLite storage "
        f"(event log: {'consolidated' if r.get('consolidated') else 'one database per run'}); "
        f"median of {r['runs']} (`python -m bench.overhead`).",
        "",
        "| measurement | median (s) | runs (s) |",
        "|---|---|---|",
        f"| `import dagster` (floor) | {statistics.median(r['import_dagster_s']):.2f} | "
        f"{_fmt(r['import_dagster_s'])} |",
        f"| `import pipeline.definitions` | {statistics.median(r['import_definitions_s']):.2f} | "
        f"{_fmt(r['import_definitions_s'])} |",
        f"| export run, wall | {ex['wall_median_s']:.2f} | {_fmt(ex['wall_s'])} |",
        f"| export work, warm in-process | {ex['warm_work_median_s']:.2f} | "
        f"{_fmt(ex['warm_work_s'])} |",
        f"| **export run overhead** (wall - warm work) | **{ex['overhead_median_s']:.2f}** | |",
        f"| export run, wall - metadata durations ({ex['metadata_work_median_s']:.2f} s) | "
        f"{ex['overhead_vs_metadata_median_s']:.2f} | |",
        f"| erasure run, wall | {er['wall_median_s']:.2f} | {_fmt(er['wall_s'])} |",
        f"| erasure work, warm in-process | {er['warm_work_median_s']:.2f} | "
        f"{_fmt(er['warm_work_s'])} |",
        f"| **erasure run overhead** (wall - warm work) | **{er['overhead_median_s']:.2f}** | |",
        f"| export run worker, CPU | {ex['cpu_median_s']:.2f} | {_fmt(ex['cpu_s'])} |",
        f"| export work, warm in-process, CPU | {ex['warm_work_cpu_median_s']:.2f} | "
        f"{_fmt(ex['warm_work_cpu_s'])} |",
        f"| export run CPU overhead | {ex['cpu_overhead_median_s']:.2f} | |",
        f"| erasure run worker, CPU | {er['cpu_median_s']:.2f} | {_fmt(er['cpu_s'])} |",
        f"| erasure work, warm in-process, CPU | {er['warm_work_cpu_median_s']:.2f} | "
        f"{_fmt(er['warm_work_cpu_s'])} |",
        f"| erasure run CPU overhead | {er['cpu_overhead_median_s']:.2f} | |",
        "",
        "Where a run's wall time goes (medians, s, from the run's event log):",
        "",
        "| phase | export | erasure |",
        "|---|---|---|",
    ]
    for phase in ex["timeline_median_s"]:
        lines.append(
            f"| {phase} | {ex['timeline_median_s'][phase]:.2f} | "
            f"{er['timeline_median_s'][phase]:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print the raw results too")
    parser.add_argument("--json-out", type=Path, default=None, help="write the raw results here")
    parser.add_argument("--work", type=Path, default=None, help="folder (default: a temp dir)")
    parser.add_argument(
        "--consolidated", action="store_true", help="one SQLite event log for all runs"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="eventsync-overhead-") as tmp:
        result = measure(args.work or Path(tmp), args.runs, args.consolidated)
    if args.json:
        print(json.dumps(result, indent=1))
    if args.json_out:
        args.json_out.write_text(json.dumps(result, indent=1))
    print(table(result))


if __name__ == "__main__":
    main()

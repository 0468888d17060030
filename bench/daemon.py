"""A real `dagster-daemon` over the project's code location (workspace.yaml), for the
benchmarks and the end-to-end tests: started from Python's subprocess in its own
process group (so it stops on SIGTERM), stopped with everything it started."""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
NEEDED = ("SENSOR", "QUEUED_RUN_COORDINATOR")


def prepare_home(home: Path) -> Path:
    """A DAGSTER_HOME with the project's dagster.yaml (run limits, run queue period) and
    its storage created (so the daemon and this process do not both create it)."""
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    _heartbeats(home)
    return home


def _heartbeats(home: Path) -> set[str]:
    import dagster as dg

    saved = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(home)
    try:
        with dg.DagsterInstance.get() as instance:
            return set(instance.get_daemon_heartbeats())
    finally:
        if saved is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = saved


@contextmanager
def running_daemon(
    home: Path, env: dict[str, str], log: Path, ready_timeout: float = 120
) -> Iterator[subprocess.Popen]:
    """Run `dagster-daemon run -w workspace.yaml` with `env` (DAGSTER_HOME=home and the
    EVENTSYNC_* settings) until the block ends; waits until its sensor and run-queue
    daemons have sent a heartbeat."""
    full_env = {**os.environ, **env, "DAGSTER_HOME": str(home)}
    full_env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p
    )
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(BIN / "dagster-daemon"), "run", "-w", str(ROOT / "workspace.yaml")],
            env=full_env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + ready_timeout
            while not set(NEEDED) <= _heartbeats(home):
                if proc.poll() is not None:
                    raise RuntimeError(f"dagster-daemon exited ({proc.returncode}); see {log}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"dagster-daemon not ready after {ready_timeout}s; {log}")
                time.sleep(0.5)
            yield proc
        finally:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(30)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)


def _median(values: list[float]) -> float | None:
    import statistics

    return round(statistics.median(values), 4) if values else None


def backfill_breakdown(instance, backfill_id: str) -> dict:  # type: ignore[no-untyped-def]
    """Where a backfill's time went, from its runs' event logs: per run the queue wait,
    the start-up (launch -> RUN_START), each step and the end; per day the gap between
    two consecutive days of a step and the share of it that the engine's own work took
    (the `duration_seconds` the assets report); between runs the daemon's gaps."""
    import dagster as dg

    runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
    runs = sorted(runs, key=lambda r: instance.get_run_record_by_id(r.run_id).create_timestamp)
    backfill = instance.get_backfill(backfill_id)
    out: dict = {"runs": [], "between_runs": []}
    prev_end = backfill.backfill_timestamp
    for run in runs:
        record = instance.get_run_record_by_id(run.run_id)
        events = instance.all_logs(run.run_id)
        t = {}
        by_type: dict[str, int] = {}
        steps: dict[str, dict] = {}
        day_times: dict[str, list[float]] = {}
        day_engine: dict[str, list[float]] = {}
        for e in events:
            kind = e.dagster_event.event_type_value if e.dagster_event else "LOG"
            by_type[kind] = by_type.get(kind, 0) + 1
            t.setdefault(kind, e.timestamp)
            t[kind + "_last"] = e.timestamp
            step = e.step_key
            if step:
                s = steps.setdefault(step, {"events": 0})
                s["events"] += 1
                if kind == "STEP_START":
                    s["start"] = e.timestamp
                if kind in ("STEP_SUCCESS", "STEP_FAILURE"):
                    s["end"] = e.timestamp
                if kind == "ASSET_MATERIALIZATION" or (
                    kind == "LOG" and step == "events_daily" and " valid, " in e.user_message
                ):
                    day_times.setdefault(f"{step}:{kind}", []).append(e.timestamp)
                if kind == "ASSET_MATERIALIZATION":
                    meta = e.dagster_event.event_specific_data.materialization.metadata
                    dur = meta.get("duration_seconds")
                    if dur is not None:
                        day_engine.setdefault(step, []).append(float(dur.value))
        created = record.create_timestamp.timestamp()
        end = t.get("PIPELINE_SUCCESS") or t.get("PIPELINE_FAILURE") or t.get("PIPELINE_CANCELED")
        info: dict = {
            "run_id": run.run_id[:8],
            "status": run.status.value,
            "range": run.tags.get("dagster/asset_partition_range_start", "?").split("|")[0]
            + ".."
            + run.tags.get("dagster/asset_partition_range_end", "?").split("|")[0],
            "created_after_prev_end": round(created - prev_end, 2),
            # enqueued -> launched by the run queue (PIPELINE_STARTING) -> the run's
            # process has loaded the code (PIPELINE_START)
            "queued": round((t.get("PIPELINE_STARTING") or created) - created, 2),
            "launch_to_start": round(
                (t.get("PIPELINE_START") or created) - (t.get("PIPELINE_STARTING") or created),
                2,
            ),
            "total": round((end or created) - created, 2),
            "events": by_type,
        }
        for step, s in steps.items():
            info[f"step {step}"] = {
                "seconds": round(s.get("end", 0) - s.get("start", 0), 2),
                "events": s["events"],
            }
        if "PIPELINE_START" in t and steps:
            first_step = min(s.get("start", 1e20) for s in steps.values())
            last_step = max(s.get("end", 0) for s in steps.values())
            info["run_start_to_first_step"] = round(first_step - t["PIPELINE_START"], 2)
            if end:
                info["last_step_to_run_end"] = round(end - last_step, 2)
        for name, stamps in day_times.items():
            gaps = [b - a for a, b in itertools.pairwise(stamps)]
            info[f"per day {name}"] = {"n": len(stamps), "median_gap": _median(gaps)}
        for step, durs in day_engine.items():
            info[f"per day {step}: engine seconds (metadata)"] = _median(durs)
        out["runs"].append(info)
        if end:
            prev_end = end
    out["backfill_end_after_last_run"] = round(
        (instance.get_backfill(backfill_id).backfill_end_timestamp or prev_end) - prev_end, 2
    )
    return out


if __name__ == "__main__":  # python -m bench.daemon HOME BACKFILL_ID: the breakdown again
    import json

    import dagster as dg

    os.environ["DAGSTER_HOME"] = sys.argv[1]
    with dg.DagsterInstance.get() as inst:
        print(json.dumps(backfill_breakdown(inst, sys.argv[2]), indent=1))


class SessionCpu:
    """CPU seconds (user + system) of every process in a session (the daemon's: it was
    started with start_new_session, and its code server and runs inherit the session),
    sampled from /proc every `period` seconds while the block runs. On a shared machine
    the wall time depends on the others' load; the CPU seconds much less (a process's
    last < `period` seconds are missed)."""

    def __init__(self, sid: int, period: float = 0.5) -> None:
        import threading

        self.sid, self.period = sid, period
        self.seen: dict[int, tuple[str, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> SessionCpu:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _loop(self) -> None:
        while not self._stop.wait(self.period):
            self._sample()

    def _sample(self) -> None:
        tick = os.sysconf("SC_CLK_TCK")
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                fields = stat.rsplit(")", 1)[1].split()
                if int(fields[3]) != self.sid:  # field 6 (session) after pid and comm
                    continue
                cpu = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except (OSError, ValueError, IndexError):
                continue
            pid = int(entry.name)
            # An exited process not yet reaped (a zombie) has no command line: keep
            # the kind it was seen with.
            kind = self.seen[pid][0] if pid in self.seen and not cmd else _kind(cmd)
            self.seen[pid] = (kind, cpu)

    def totals(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for kind, cpu in self.seen.values():
            out[kind] = round(out.get(kind, 0.0) + cpu, 1)
        out["all"] = round(sum(cpu for _, cpu in self.seen.values()), 1)
        return out


def _kind(cmd: str) -> str:
    if "dagster-daemon" in cmd:
        return "daemon"
    if "api grpc" in cmd:
        return "code server"
    if "execute_run" in cmd or "spawn_main" in cmd or "api execute" in cmd:
        return "runs"
    return "other"

"""A real `dagster-daemon` over the project's code location (workspace.yaml), for the
benchmarks and the end-to-end tests: started from Python's subprocess in its own
process group (so it stops on SIGTERM), stopped with everything it started."""

from __future__ import annotations

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

"""The documented daemon health check fails within 60 s of the daemon's death: a real
`dagster-daemon run` is started, reported live, killed with SIGKILL, and the check
(`DAGSTER_DAEMON_HEARTBEAT_TOLERANCE=25 dagster-daemon liveness-check`) fails in time."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
from dagster._daemon.controller import all_daemons_live

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
TOLERANCE = 25


def _live(home: Path) -> bool:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        return all_daemons_live(instance, heartbeat_tolerance_seconds=TOLERANCE)


@pytest.mark.slow
def test_the_liveness_check_fails_within_60_s_of_a_killed_daemon(
    es_home: Path, engine: object
) -> None:
    log = open(es_home / "daemon.log", "wb")  # noqa: SIM115
    daemon = subprocess.Popen(
        [str(BIN / "dagster-daemon"), "run", "-w", str(ROOT / "workspace.yaml"),
         "--log-level", "warning"],
        cwd=ROOT, env=os.environ.copy(), stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while not _live(es_home):
            assert daemon.poll() is None, (es_home / "daemon.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "the daemon never reported live"
            time.sleep(2)
        os.killpg(daemon.pid, signal.SIGKILL)
        daemon.wait(timeout=30)
        killed = time.monotonic()
        while _live(es_home):
            assert time.monotonic() - killed < 60, "still 'live' 60 s after SIGKILL"
            time.sleep(2)
        died_after = time.monotonic() - killed
    finally:
        if daemon.poll() is None:
            os.killpg(daemon.pid, signal.SIGKILL)
        log.close()
    check = subprocess.run(
        [str(BIN / "dagster-daemon"), "liveness-check"],
        env={**os.environ, "DAGSTER_DAEMON_HEARTBEAT_TOLERANCE": str(TOLERANCE)},
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert check.returncode == 1 and "not running" in check.stdout, (died_after, check.stdout)

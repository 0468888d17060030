"""`make demo`: migrate the store, seed demo data, start the Dagster UI and the API.

Both servers are children of this process (Python's subprocess, so Ctrl-C or
SIGTERM stops them: `dagster dev` started from a shell script in the background
would ignore the signals). The new-sync sensor, the daily schedule and the privacy
sensors are on by default, so the demo sync's backfill starts by itself.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from pipeline.demo.seed import seed_demo
from resources import settings
from resources.settings import PROJECT_ROOT
from resources.store import default_engine, upgrade

UI = ("127.0.0.1", settings.ui_port())
API = ("127.0.0.1", settings.api_port())


def _wait(url: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 -- localhost
                if resp.status < 500:
                    return True
        except OSError:
            time.sleep(0.5)
    return False


def main() -> int:
    home = settings.ensure_dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    upgrade()
    seeded = seed_demo(default_engine())
    bindir = Path(sys.executable).parent
    env = dict(os.environ)
    procs = [
        subprocess.Popen(
            [
                str(bindir / "dagster"),
                "dev",
                "-w",
                str(PROJECT_ROOT / "workspace.yaml"),
                "-h",
                UI[0],
                "-p",
                str(UI[1]),
            ],
            cwd=PROJECT_ROOT,
            env=env,
            start_new_session=True,
        ),
        subprocess.Popen(
            [str(bindir / "eventsync"), "api", "--host", API[0], "--port", str(API[1])],
            cwd=PROJECT_ROOT,
            env=env,
            start_new_session=True,
        ),
    ]

    def stop(*_: object) -> None:
        # Each server runs in its own process group (dagster dev has children: the
        # webserver, the daemon, code servers): signal the whole group, then make sure.
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGINT)
        deadline = time.monotonic() + 20
        for p in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    ui_ok = _wait(f"http://{UI[0]}:{UI[1]}/server_info", 180)
    api_ok = _wait(f"http://{API[0]}:{API[1]}/healthz", 60)
    key = seeded.get("api_key") or (
        "(shown on the first `make demo`; a new one: "
        f"`.venv/bin/eventsync key create --workspace {seeded['workspace_id']}`)"
    )
    print(
        f"""
eventsync demo is running (Ctrl-C stops it)
  Dagster UI   http://{UI[0]}:{UI[1]}   {"up" if ui_ok else "NOT UP - see the log above"}
  HTTP API     http://{API[0]}:{API[1]}/docs   {"up" if api_ok else "NOT UP - see the log above"}
  workspace    {seeded["workspace_id"]}    sync {seeded["sync_id"]}
  API key      {key}
  events       {seeded["events"]} seeded ({seeded.get("invalid", 0)} invalid,
               {seeded.get("late", 0)} late) over the last {seeded.get("days", "")} days
  exports      {home / "exports"}   (the new-sync sensor starts the backfill within a minute)
""",
        flush=True,
    )
    while True:
        for p in procs:
            if p.poll() is not None:
                print(f"a demo server exited with status {p.returncode}; stopping", flush=True)
                stop()
        time.sleep(1)


if __name__ == "__main__":
    sys.exit(main())

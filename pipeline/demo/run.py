"""`make demo`: migrate the store, seed demo data, start the Dagster UI and the API, and
print -- last, once both answer -- the API key and what to do next.

Both servers are children of this process (Python's subprocess, so Ctrl-C or SIGTERM
stops them: `dagster dev` started from a shell script in the background would ignore
the signals). Their logs go to files under dagster_home/demo-logs/, so the terminal
keeps the summary in view. The new-sync sensor, the daily schedule and the privacy
sensors are on by default, so the demo sync's backfill starts by itself.

A restart reuses the data, seeds the days that passed since, and prints a new API key
(keys are stored hashed: the first one cannot be shown again).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipeline.demo.seed import seed_demo
from pipeline.workspaces import create_key
from resources import settings
from resources.settings import PROJECT_ROOT
from resources.store import default_engine, upgrade

UI = ("127.0.0.1", settings.ui_port())
API = ("127.0.0.1", settings.api_port())
DEMO_DAYS = 30
LOCATION_QUERY = (
    b'{"query": "{ workspaceOrError { ... on Workspace { locationEntries { loadStatus } } } }"}'
)


def _get(url: str, data: bytes | None = None) -> bytes:
    req = urllib.request.Request(  # noqa: S310 -- http://127.0.0.1 only
        url, data=data, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310 -- localhost
        return resp.read()


def _wait(check: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            if check():
                return True
        time.sleep(0.5)
    return False


def _code_loaded() -> bool:
    """The UI is up and has loaded the code location (assets, sensors) -- not just its port."""
    body = json.loads(_get(f"http://{UI[0]}:{UI[1]}/graphql", LOCATION_QUERY))
    entries = body["data"]["workspaceOrError"]["locationEntries"]
    return bool(entries) and all(e["loadStatus"] == "LOADED" for e in entries)


def _api_up() -> bool:
    return json.loads(_get(f"http://{API[0]}:{API[1]}/healthz")).get("status") == "ok"


def pin_partitions_start(first_day: str) -> str:
    """The demo's partitions start where its data starts (so the UI's partition view and
    plots centre on the seeded days): EVENTSYNC_PARTITIONS_START in the project's .env,
    which every entry point reads. Kept once set; `make clean-demo` removes it."""
    current = settings.partitions_start()
    if current:
        return current
    line = f"EVENTSYNC_PARTITIONS_START=${{EVENTSYNC_PARTITIONS_START:-{first_day}}}\n"
    with settings.env_file_path().open("a") as f:
        f.write(line)
    return first_day


def _start(cmd: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            cmd,
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def banner(seeded: dict[str, Any], key: str, ui_ok: bool, api_ok: bool, logs: Path) -> str:
    ui = f"http://{UI[0]}:{UI[1]}"
    api = f"http://{API[0]}:{API[1]}"
    down = "NOT UP - see its log"
    return f"""
eventsync demo is running (Ctrl-C stops it; `make demo` restarts it with a new key)
  Dagster UI   {ui}   {"up" if ui_ok else down}
  HTTP API     {api}/docs   {"up" if api_ok else down}
  logs         {logs}/dagster.log, {logs}/api.log
  workspace    {seeded["workspace_id"]}, sync {seeded["sync_id"]} -> {seeded["destination"]}
  events       {seeded["first_day"]} .. {seeded["last_day"]}: {seeded["events"]} seeded \
({seeded["invalid"]} invalid, {seeded["late"]} late)

Next steps
  1. {ui}/assets: events_daily and events_export; the new-sync sensor starts the
     {seeded["days"]}-day backfill within a minute (Runs > Backfills).
  2. .venv/bin/eventsync sync status {seeded["sync_id"]}
  3. KEY={key}
     curl -s -H "Authorization: Bearer $KEY" {api}/v1/syncs

API key (shown once, stored hashed): {key}
"""


def prepare() -> tuple[dict[str, Any], str]:
    """Store, demo data (the days since the last run too), partitions start, and a key:
    the seed's on the first run, a new one on a restart (the first cannot be shown again)."""
    home = settings.dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    settings.ensure_dagster_home()
    upgrade()
    engine = default_engine()
    seeded = seed_demo(engine, days=DEMO_DAYS)
    pin_partitions_start(seeded["first_day"])
    return seeded, seeded.get("api_key") or create_key(engine, seeded["workspace_id"])


def main() -> int:
    seeded, key = prepare()
    logs = settings.dagster_home() / "demo-logs"
    logs.mkdir(exist_ok=True)
    bindir = Path(sys.executable).parent
    env = dict(os.environ)
    print(f"starting the Dagster UI and the API (logs in {logs}) ...", flush=True)
    procs = {
        "dagster.log": _start(
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
            logs / "dagster.log",
            env,
        ),
        "api.log": _start(
            [str(bindir / "eventsync"), "api", "--host", API[0], "--port", str(API[1])],
            logs / "api.log",
            env,
        ),
    }

    def stop(*_: object) -> None:
        # Each server runs in its own process group (dagster dev has children: the
        # webserver, the daemon, code servers): signal the whole group, then make sure.
        for p in procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGINT)
        deadline = time.monotonic() + 20
        for p in procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    api_ok = _wait(_api_up, 60)
    ui_ok = _wait(_code_loaded, 240)
    print(banner(seeded, key, ui_ok, api_ok, logs), flush=True)
    while True:
        for name, p in procs.items():
            if p.poll() is not None:
                tail = (logs / name).read_text(errors="replace").splitlines()[-15:]
                print("\n".join(tail), flush=True)
                print(f"a demo server exited with status {p.returncode} ({logs / name})")
                stop()
        time.sleep(1)


if __name__ == "__main__":
    sys.exit(main())

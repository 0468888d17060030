"""`make demo`: migrate the store, seed demo data, start the Dagster UI and the API, and
print -- last, once both answer -- the API key and what to do next.

Both servers are children of this process (Python's subprocess, so Ctrl-C or SIGTERM
stops them: `dagster dev` started from a shell script in the background would ignore
the signals). Their logs go to files under dagster_home/demo-logs/, so the terminal
keeps the summary in view. The new-sync sensor, the daily schedule and the privacy
sensors are on by default, so the demo sync's backfill starts by itself.

Before anything else it checks that its two ports are free: a port another process
holds (often a `make demo` already running) is named with that process, and the demo
does not start (exit status 2). A server that exits while the demo runs ends it with
exit status 1.

A restart reuses the data, seeds the days that passed since, and prints a new API key
and a new one-time console password for the demo owner (both are stored hashed: the
first ones cannot be shown again). The console runs in the API process, over plain
http://127.0.0.1, so its session cookie is sent without Secure here.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from eventsync import settings
from eventsync.accounts.first_owner import one_time_owner
from eventsync.demo.seed import seed_demo
from eventsync.errors import EventsyncError
from eventsync.settings import PROJECT_ROOT
from eventsync.store.connection import default_engine, upgrade
from eventsync.workspaces import create_key

HOST = "127.0.0.1"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def ui_url() -> str:
    return f"http://{HOST}:{settings.load().ui_port}"


def api_url() -> str:
    return f"http://{HOST}:{settings.load().api_port}"


DEMO_DAYS = 30
DEMO_OWNER = "owner@demo.example"
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
    body = json.loads(_get(f"{ui_url()}/graphql", LOCATION_QUERY))
    entries = body["data"]["workspaceOrError"]["locationEntries"]
    return bool(entries) and all(e["loadStatus"] == "LOADED" for e in entries)


def _api_up() -> bool:
    return json.loads(_get(f"{api_url()}/healthz")).get("status") == "ok"


def pin_partitions_start(first_day: str) -> str:
    """The demo's partitions start where its data starts (so the UI's partition view and
    plots centre on the seeded days): EVENTSYNC_PARTITIONS_START in the project's .env,
    which every entry point reads. Kept once set; `make clean-demo` removes it."""
    current = settings.load().partitions_start
    if current:
        return current.isoformat()
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


def port_holder(port: int) -> str:
    """Who listens on 127.0.0.1/any address at `port`: "pid N (name: command line)", or
    "another process" when the system does not say (psutil needs the rights to see it)."""
    try:
        import psutil  # in the dev extra `make install` installs
    except ImportError:
        return "another process"
    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                if conn.pid is None:
                    break
                proc = psutil.Process(conn.pid)
                command = " ".join(proc.cmdline())[:160] or proc.name()
                return f"pid {conn.pid} ({proc.name()}: {command})"
    except (psutil.Error, OSError):  # no rights to see it, or it just exited
        return "another process"
    return "another process"


def taken_ports() -> list[str]:
    """One line per port of the demo that cannot be bound, naming what holds it."""
    problems = []
    for what, port, variable in (
        ("the Dagster UI", settings.load().ui_port, "EVENTSYNC_UI_PORT"),
        ("the HTTP API", settings.load().api_port, "EVENTSYNC_API_PORT"),
    ):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((HOST, port))
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
                problems.append(
                    f"port {port} for {what} is taken by {port_holder(port)}: stop it (a "
                    f"`make demo` already running?) or choose another port with {variable}"
                )
    return problems


def banner(
    seeded: dict[str, Any], key: str, password: str, ui_ok: bool, api_ok: bool, logs: Path
) -> str:
    ui, api = ui_url(), api_url()
    down = "NOT UP - see its log"
    if seeded.get("api_key"):  # the first start: the new-sync sensor backfills the days
        step1 = (
            f"{ui}/assets: events_daily and events_export; the new-sync sensor starts the\n"
            f"     {seeded['days']}-day backfill within a minute (Runs > Backfills)."
        )
    else:  # a restart: the sync is not new, nothing is backfilled by itself
        step1 = (
            f"{ui}/assets: events_daily and events_export (exported by the first start's\n"
            f"     backfill; the daily schedule exports yesterday at 03:00 UTC; days seeded\n"
            f"     since: .venv/bin/eventsync sync backfill {seeded['sync_id']} --days "
            f"{seeded['days']})."
        )
    return f"""
eventsync demo is running (Ctrl-C stops it; `make demo` restarts it with a new key)
  Dagster UI   {ui}   {"up" if ui_ok else down}
  HTTP API     {api}/docs   {"up" if api_ok else down}
  Console      {api}/console/   {"up" if api_ok else down}
  logs         {logs}/dagster.log, {logs}/api.log
  workspace    {seeded["workspace_id"]}, sync {seeded["sync_id"]} -> {seeded["destination"]}
  events       {seeded["first_day"]} .. {seeded["last_day"]}: {seeded["events"]} seeded \
({seeded["invalid"]} invalid, {seeded["late"]} late)

Next steps
  1. {step1}
  2. .venv/bin/eventsync sync status {seeded["sync_id"]}
  3. KEY={key}
     curl -s -H "Authorization: Bearer $KEY" {api}/v1/syncs
  4. {api}/console/ : sign in as {DEMO_OWNER} with the one-time password below, choose
     your own, then see Syncs (settings, pause, backfill), Privacy (erasures, access
     exports), Team, API keys and Audit.

API key (shown once, stored hashed): {key}
Console {DEMO_OWNER} one-time password (shown once): {password}
"""


def prepare() -> tuple[dict[str, Any], str, str]:
    """Store, demo data (the days since the last run too), partitions start, a key (the
    seed's on the first run, a new one on a restart: the first cannot be shown again),
    and the demo owner's new one-time console password."""
    home = settings.dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    settings.ensure_dagster_home()
    upgrade()
    engine = default_engine()
    seeded = seed_demo(engine, days=DEMO_DAYS)
    pin_partitions_start(seeded["first_day"])
    key = seeded.get("api_key") or create_key(engine, seeded["workspace_id"])
    password = one_time_owner(engine, seeded["workspace_id"], DEMO_OWNER, "cli:make-demo")
    return seeded, key, password


def main() -> int:
    taken = taken_ports()
    if taken:
        for line in taken:
            print(f"error: {line}", file=sys.stderr)
        print("the demo did not start", file=sys.stderr)
        return 2
    try:
        seeded, key, password = prepare()
    except EventsyncError as exc:  # a bad setting: one line, not a traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2
    logs = settings.dagster_home() / "demo-logs"
    logs.mkdir(exist_ok=True)
    bindir = Path(sys.executable).parent
    env = dict(os.environ)
    # The demo serves the console over http://127.0.0.1: a Secure cookie would not stick.
    env.setdefault("EVENTSYNC_CONSOLE_SECURE_COOKIE", "false")
    # New syncs from the console may write to local folders under this one only.
    console_exports = settings.dagster_home() / "console-exports"
    console_exports.mkdir(exist_ok=True)
    env.setdefault("EVENTSYNC_CONSOLE_LOCAL_ROOT", str(console_exports))
    print(f"starting the Dagster UI and the API (logs in {logs}) ...", flush=True)
    webserver_port = _free_port()  # dagster-webserver's own, behind the guard
    procs = {
        "dagster.log": _start(
            [
                str(bindir / "dagster"),
                "dev",
                "-w",
                str(PROJECT_ROOT / "workspace.yaml"),
                "-h",
                HOST,
                "-p",
                str(webserver_port),
            ],
            logs / "dagster.log",
            env,
        ),
        # The UI is reached through the guard (eventsync/ui_guard): a page of another
        # site cannot drive it (foreign Host or Origin, GraphQL over GET refused).
        "ui-guard.log": _start(
            [
                str(bindir / "eventsync"),
                "ui-guard",
                "--upstream",
                f"{HOST}:{webserver_port}",
                "--host",
                HOST,
                "--port",
                str(settings.load().ui_port),
            ],
            logs / "ui-guard.log",
            env,
        ),
        "api.log": _start(
            [
                str(bindir / "eventsync"),
                "api",
                "--host",
                HOST,
                "--port",
                str(settings.load().api_port),
            ],
            logs / "api.log",
            env,
        ),
    }

    def stop(*_: object, status: int = 0) -> None:
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
        sys.exit(status)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    api_ok = _wait(_api_up, 60)
    ui_ok = _wait(_code_loaded, 240)
    print(banner(seeded, key, password, ui_ok, api_ok, logs), flush=True)
    while True:
        for name, p in procs.items():
            if p.poll() is not None:
                tail = (logs / name).read_text(errors="replace").splitlines()[-15:]
                print("\n".join(tail), flush=True)
                print(
                    f"a demo server exited with status {p.returncode} ({logs / name}): "
                    "the demo stops",
                    flush=True,
                )
                stop(status=1)
        time.sleep(1)


if __name__ == "__main__":
    sys.exit(main())

"""The access export streams: for a subject with 1,000,000 events and a profile of the
maximum size, the process that writes the export peaks at <= 300 MB of resident
memory (measured by the kernel: the child's VmHWM), and the file holds the
profile once and every event."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, text

from eventsync.clock import day_bounds_us
from eventsync.event_limits import LIMITS
from eventsync.ingest.event_writes import profile_size
from eventsync.privacy import request_store
from eventsync.store.schema import user_profiles
from eventsync.workspaces import create_workspace

pytestmark = pytest.mark.slow

EVENTS = int(os.environ.get("EVENTSYNC_TEST_ACCESS_EVENTS", "1000000"))
PEAK_RSS_BYTES = 300 * 1024 * 1024
USER = "heavy-user"
START = "2025-01-01"

# The export, run in a child process of its own (a fresh interpreter: what a Dagster
# run or `eventsync privacy export --now` is).
CHILD = textwrap.dedent(
    """
    import json, sys
    from eventsync.privacy import runner
    from eventsync.store.connection import default_engine
    done = runner.run_all(default_engine(), sys.argv[1], "memory-test")
    # VmHWM: this program's own peak (ru_maxrss would count the parent's pages the
    # fork copied before exec: a grown pytest worker's).
    hwm = next(int(line.split()[1]) for line in open("/proc/self/status")
               if line.startswith("VmHWM:"))
    print(json.dumps({"status": str(done.status), "error": done.error, "peak_kib": hwm,
                      "result": done.progress.dump()["steps"]["write_csv"]}))
    """
)


def _max_size_profile() -> str:
    """Properties of exactly (or just under) LIMITS.profile_bytes bytes of JSON."""
    props = {"blob": ""}
    props["blob"] = "p" * (LIMITS.profile_bytes - profile_size(props))
    assert profile_size(props) == LIMITS.profile_bytes
    return json.dumps(props, separators=(",", ":"))


def _fill(engine: Engine, ws: str, n: int) -> None:
    """n events of one user over ~100 days, inserted by SQLite itself (a recursive CTE),
    so the test spends its time on the export, not on building rows in Python."""
    start, _ = day_bounds_us(START)
    step = 8_640_000  # µs: 1,000,000 events over 100 days
    with engine.begin() as conn:
        conn.execute(
            text(
                """
                WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i + 1 < :n)
                INSERT INTO events (workspace_id, event_id, event_type, event_name, user_id,
                    company_id, occurred_at, received_at, source, session_id, hostname,
                    pathname, user_agent, browser, os, device_type, country_code, properties,
                    nps_score, schema_version)
                SELECT :ws, printf('ev-%08d', i), 'page_view', '/dashboard', :user,
                    'company-1', :start + i * :step, :start + i * :step + 1000000,
                    'web-client', printf('s-%d', i / 50), 'app.example.com',
                    printf('/page/%d', i % 97), 'Mozilla/5.0 (X11; Linux x86_64)', 'Firefox',
                    'Linux', 'desktop', 'DE', printf('{"i":%d,"plan":"pro"}', i), NULL, 1
                FROM seq
                """
            ),
            {"n": n, "ws": ws, "user": USER, "start": start, "step": step},
        )
        conn.execute(
            insert(user_profiles).values(
                workspace_id=ws,
                user_id=USER,
                company_id="company-1",
                properties=_max_size_profile(),
                first_seen_at=start,
                last_seen_at=start + n * step,
            )
        )


@pytest.mark.timeout(1800)  # minutes on a loaded 2-core machine
def test_an_access_export_of_a_million_events_stays_under_300_mb(
    engine: Engine, es_home: Path, tmp_path: Path
) -> None:
    ws = create_workspace(engine, "heavy").workspace_id
    _fill(engine, ws, EVENTS)
    req = request_store.create_request(engine, ws, "access_export", [USER], [], "test")
    out_path, err_path = tmp_path / "child.out", tmp_path / "child.err"
    with out_path.open("w") as out_file, err_path.open("w") as err_file:
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, req.id],
            stdout=out_file,
            stderr=err_file,
            env=os.environ.copy(),
        )
        child.wait()
    out, err = out_path.read_text(), err_path.read_text()
    assert child.returncode == 0, err[-3000:]
    report = json.loads(out.strip().splitlines()[-1])
    peak = report["peak_kib"] * 1024  # the kernel's VmHWM of the child
    print(f"access export of {EVENTS} events: peak RSS {peak / 2**20:.0f} MiB")
    assert report["status"] == "completed", report
    assert report["result"]["events"] == EVENTS
    assert peak <= PEAK_RSS_BYTES, f"peak RSS {peak / 2**20:.0f} MiB"

    path = Path(report["result"]["local_path"])
    with path.open(encoding="utf-8-sig", newline="") as f:
        header = f.readline()
        profile = f.readline()
        assert header.startswith("record,") and profile.startswith("profile,")
        assert _max_size_profile().replace('"', '""') in profile  # once, whole
        rows = sum(1 for line in f if line.startswith("event,"))
    assert rows == EVENTS

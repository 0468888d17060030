"""The privacy runner: leases and heartbeats on running requests, a dead owner's request
reaped and retried without double work, and a replaced owner fenced off."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine

from eventsync.privacy import request_store, runner, transitions
from eventsync.store.locks import export_lock
from tests.eventsync.privacy.scenario import TARGET, TARGET_EXPORTED_ROWS, seed

EVENTSYNC = Path(sys.executable).parent / "eventsync"
ROOT = Path(__file__).resolve().parents[3]
LEASE = "3"


def test_run_all_completes_and_releases_the_lease(engine: Engine, tmp_path: Path) -> None:
    sync = seed(engine, tmp_path / "dest")
    req = request_store.create_request(engine, sync.workspace_id, "erasure", [TARGET], [], "test")
    done = runner.run_all(engine, req.id, "test")
    assert done.status == "completed" and done.verified_at
    assert (done.lease_owner, done.lease_expires_at) == (None, None)
    assert done.progress.runs[0].run_id.startswith("inline:")


def test_reap_takes_over_the_requests_whose_owner_stopped_renewing(engine: Engine, tmp_path: Path):
    sync = seed(engine, tmp_path / "dest")
    dead = request_store.create_request(engine, sync.workspace_id, "erasure", ["user-1"], [], "t")
    alive = request_store.create_request(engine, sync.workspace_id, "erasure", ["user-2"], [], "t")
    for req, seconds in ((dead, 0.05), (alive, 60)):
        runner.claim(engine, req.id, "t")
        transitions.start(engine, req.id, f"owner-of-{req.id}", "t", lease_seconds=seconds)
    time.sleep(0.1)
    assert [(r.id, r.status, r.attempt) for r in runner.reap(engine, "sensor")] == [
        (dead.id, "received", 2)
    ]
    assert request_store.audit_log(engine, dead.id)[-1]["detail"]["reason"] == "lease_expired"
    assert request_store.get_request(engine, alive.id).status == "running"
    # ... and the new attempt runs to the end under a new owner
    done = runner.run_all(engine, dead.id, "t", owner="new-owner")
    assert (done.status, done.attempt) == ("completed", 2)


def test_an_owner_that_lost_its_lease_cannot_run_another_step(engine: Engine, tmp_path: Path):
    sync = seed(engine, tmp_path / "dest")
    req = request_store.create_request(engine, sync.workspace_id, "erasure", [TARGET], [], "test")
    runner.claim(engine, req.id, "t")
    transitions.start(engine, req.id, "old-owner", "t", lease_seconds=0.05)
    time.sleep(0.1)
    runner.retry(engine, req.id, "t")
    assert runner.run_all(engine, req.id, "t", owner="new-owner").status == "completed"
    with pytest.raises(runner.InvalidTransition, match="its lease was lost"):
        runner.run_step(engine, req.id, "store", "t", owner="old-owner")
    assert runner.fail(engine, req.id, "old owner's error", "t", owner="old-owner") is None


def _cli(env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [str(EVENTSYNC), "privacy", *args, "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_a_killed_now_erasure_is_retried_to_completed_without_double_work(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVENTSYNC_PRIVACY_LEASE_SECONDS", LEASE)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    sync = seed(engine, tmp_path / "dest")
    ws = sync.workspace_id
    # An export holds the workspace's export lock: the erasure's `staging` step waits.
    with export_lock(engine, ws):
        proc = _cli(env, "erase", "--workspace", ws, "--user-id", TARGET, "--now")
        deadline = time.time() + 60
        while time.time() < deadline:
            reqs = request_store.list_requests(engine, ws, kind="erasure")
            if reqs and reqs[0].progress.step_done("store"):
                break
            time.sleep(0.1)
        (req,) = request_store.list_requests(engine, ws, kind="erasure")
        time.sleep(float(LEASE) + 1)  # longer than the lease: the heartbeat keeps it
        assert runner.reap(engine, "sensor") == []
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    killed = request_store.get_request(engine, req.id)
    assert killed.status == "running" and killed.lease_owner.startswith("cli:")
    store_step = killed.progress.steps["store"].model_dump(mode="json")

    with pytest.raises(runner.InvalidTransition, match="lease runs until"):
        runner.retry(engine, req.id, "test")  # the lease has not expired yet
    time.sleep(float(LEASE) + 0.2)
    retried = _cli(env, "retry", req.id, "--now")
    out, err = retried.communicate(timeout=120)
    assert retried.returncode == 0, err
    done = json.loads(out)
    assert done["status"] == "completed" and done["verified_at"] and done["attempt"] == 2
    assert done["progress"]["steps"]["store"] == store_step  # not run twice
    assert done["progress"]["destinations"][sync.id]["rows_removed"] == TARGET_EXPORTED_ROWS
    actions = [e["action"] for e in request_store.audit_log(engine, req.id)]
    assert actions.count("step:store") == 1 and actions.count("step:suppress") == 1

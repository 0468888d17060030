"""The lease race on PostgreSQL: a 3 s lease, a CPU burner keeping the second core
busy, and 50 erasures run while, at once,

- RUNNERS runner processes claim, start and run requests (as erasure_job's ops or
  `--now` do), each attempt under an owner name of its own. Now and then the test
  freezes one (SIGSTOP) for 1-6 s -- longer than the lease or not -- and lets it go on:
  its heartbeat stops with it, its request may be taken over, and it resumes as a stale
  owner in the middle of a step;
- a reaper process does what privacy_request_sensor does every tick: `runner.reap`;
- an old-attempt actor replays, late, what runs of attempts that were taken over would
  do: start the old attempt, run a step, finish, fail (as the run-failure sensor),
  renew the lease -- with the attempt and owner it saw earlier.

Then the audit log holds no wrong transition: every move starts from the state the
previous one left (status, attempt and owner), none leaves `completed`, attempt numbers
never go down and change only where a new attempt begins, every write of an owner
comes from the owner of the current attempt, every take-over came after its lease
expired; none of the late actions landed; and every request ended completed (verified)
or failed with `attempts_exhausted`.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import random
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from eventsync.privacy.states import TRANSITIONS, RequestStatus, starts_attempt

RUNS = 30
RUNNERS = 3
LEASE = "3"
MAX_ATTEMPTS = 5
STEP_SECONDS = 0.3  # each step's own work, plus this much of the owner being busy
TIMEOUT = 600
STATUSES = {str(s) for s in RequestStatus}


def _engine():  # type: ignore[no-untyped-def]
    from eventsync.store.connection import default_engine

    return default_engine()


def burn(stop: Any) -> None:
    """Keep one core busy."""
    x = 0
    while not stop.is_set():
        for _ in range(100_000):
            x += 1


def runner_worker(index: int, out: str, done: Any) -> None:
    from eventsync.privacy import request_store, runner, steps
    from eventsync.privacy.states import FailureReason, InvalidTransition, LeaseLost

    def busy(fn):  # type: ignore[no-untyped-def]
        return lambda ctx: (time.sleep(STEP_SECONDS), fn(ctx))[1]

    for name, fn in list(steps.FUNCTIONS.items()):
        steps.FUNCTIONS[name] = busy(fn)
    engine, actor = _engine(), f"job:runner{index}"
    rnd = random.Random(index)
    report: dict[str, Any] = {"completed": 0, "lost": 0, "late_failures_refused": 0, "errors": []}
    n = 0
    while not done.is_set():
        pending = request_store.list_requests(engine, status="received", limit=RUNS)
        if not pending:
            time.sleep(0.1)
            continue
        try:
            claimed = runner.claim(engine, rnd.choice(pending).id, actor)
        except InvalidTransition:
            continue  # another runner took it
        n += 1
        owner = f"runner{index}:{n}"
        try:
            runner.start(engine, claimed.id, owner, actor, attempt=claimed.attempt)
            for step in runner.kind_steps(claimed.kind):
                runner.run_step(engine, claimed.id, step, actor, owner=owner)
            runner.finish(engine, claimed.id, actor, owner=owner)
            report["completed"] += 1
        except Exception as exc:
            if isinstance(exc, LeaseLost):
                report["lost"] += 1
            else:
                report["errors"].append(f"{claimed.id}: {type(exc).__name__}: {exc}")
            # what a failing op does: fail its own attempt (refused if it lost it)
            failed = runner.fail(
                engine,
                claimed.id,
                f"{type(exc).__name__}: {exc}",
                actor,
                FailureReason.STEP_FAILED,
                owner=owner,
                attempt=claimed.attempt,
            )
            if failed is None:
                report["late_failures_refused"] += 1
    Path(out).write_text(json.dumps(report))


def reaper_worker(out: str, done: Any) -> None:
    from eventsync.privacy import runner

    engine = _engine()
    moved = 0
    while not done.is_set():
        moved += len(runner.reap(engine, "sensor:privacy_request_sensor", MAX_ATTEMPTS))
        time.sleep(0.25)
    Path(out).write_text(json.dumps({"moved": moved}))


def stale_worker(out: str, done: Any) -> None:
    """Replays, late, what the runs of taken-over attempts would do."""
    from eventsync.privacy import request_store, runner, transitions
    from eventsync.privacy.states import FailureReason, InvalidTransition

    engine = _engine()
    rnd = random.Random(7)
    seen: dict[str, set[tuple[int, str]]] = {}
    tried, landed = 0, []
    while not done.is_set():
        for req in request_store.list_requests(engine, limit=RUNS):
            if req.status == RequestStatus.RUNNING and req.lease_owner:
                seen.setdefault(req.id, set()).add((req.attempt, req.lease_owner))
            old = sorted(p for p in seen.get(req.id, ()) if p[0] < req.attempt)
            if not old:
                continue
            attempt, owner = rnd.choice(old)
            action = rnd.choice(("start", "step", "finish", "fail", "renew"))
            tried += 1
            what = f"{action} {req.id} attempt {attempt} {owner}"
            try:
                if action == "start":
                    runner.start(engine, req.id, f"late-{owner}", "stale", attempt=attempt)
                elif action == "step":
                    runner.run_step(engine, req.id, "store", "stale", owner=owner)
                elif action == "finish":
                    runner.finish(engine, req.id, "stale", owner=owner)
                elif action == "fail":
                    reason = FailureReason.RUN_FAILED
                    if runner.fail(engine, req.id, "late", "stale", reason, owner=owner) is None:
                        continue
                else:
                    stale = request_store.get_request(engine, req.id)
                    stale.attempt, stale.lease_owner = attempt, owner
                    if not transitions.renew(engine, stale, 60):
                        continue
                landed.append(what)
            except InvalidTransition:
                pass  # refused, as it must be (LeaseLost is one)
        time.sleep(0.05)
    Path(out).write_text(json.dumps({"tried": tried, "landed": landed}))


def wrong_transitions(log: list[dict[str, Any]]) -> list[str]:
    """What in one request's audit log no correct compare-and-set could have written."""
    problems = []
    first = log[0]
    if (first["action"], first["detail"].get("attempt")) != ("received", 0):
        problems.append(f"first entry {first['action']}")
    status, attempt, owner = RequestStatus.RECEIVED, 0, None
    for e in log[1:]:
        d, action = e["detail"], e["action"]
        where = f"#{e['id']} {action} by {e['actor']}"
        if action not in STATUSES:  # a write of an owner (step, day, tombstone ...)
            if (status, d.get("attempt"), d.get("owner")) != ("running", attempt, owner):
                problems.append(f"{where}: a write of attempt {d.get('attempt')} "
                                f"{d.get('owner')} while {status} {attempt} {owner}")  # fmt: skip
            continue
        target = RequestStatus(action)
        if (d["from"], d["from_attempt"], d["from_owner"]) != (status, attempt, owner):
            problems.append(f"{where}: moved from {d['from']} {d['from_attempt']} "
                            f"{d['from_owner']}, not from {status} {attempt} {owner}")  # fmt: skip
        if target not in TRANSITIONS[status]:
            problems.append(f"{where}: {status} -> {target} is not a legal move")
        if d["attempt"] < attempt:
            problems.append(f"{where}: attempt went down {attempt} -> {d['attempt']}")
        new = starts_attempt(status, target) or (status, attempt) == ("received", 0)
        if d["attempt"] != attempt and not new:
            problems.append(f"{where}: attempt changed in place {attempt} -> {d['attempt']}")
        if "lease_expired_at" in d and not e["at"] > d["lease_expired_at"]:
            problems.append(f"{where}: at {e['at']}, the lease ran until {d['lease_expired_at']}")
        status, attempt, owner = target, d["attempt"], d["owner"]
    return problems


@pytest.mark.serial
@pytest.mark.slow  # real servers and processes for a minute: make test, not test-fast
def test_stale_actors_never_win_the_lease_race(
    pg_store_url: str, tmp_path: Path, monkeypatch: Any
) -> None:
    from eventsync.privacy import request_store
    from eventsync.store.connection import engine_for
    from eventsync.workspaces import create_workspace

    monkeypatch.setenv("EVENTSYNC_PRIVACY_LEASE_SECONDS", LEASE)
    monkeypatch.setenv("EVENTSYNC_PRIVACY_MAX_ATTEMPTS", str(MAX_ATTEMPTS))
    engine = engine_for(pg_store_url)
    ids = []
    for i in range(RUNS):  # a workspace each: their erasures do not wait for each other
        ws = create_workspace(engine, f"race-{i}").workspace_id
        ids.append(request_store.create_request(engine, ws, "erasure", [f"u{i}"], [], "t").id)

    ctx = mp.get_context("spawn")
    done, cool = ctx.Event(), ctx.Event()
    burner = ctx.Process(target=burn, args=(cool,), name="burner")
    outs = {name: tmp_path / f"{name}.json" for name in ("reaper", "stale")}
    runners = []
    for i in range(RUNNERS):
        outs[f"runner{i}"] = tmp_path / f"runner{i}.json"
        runners.append(ctx.Process(target=runner_worker, args=(i, str(outs[f"runner{i}"]), done)))
    actors = [
        *runners,
        ctx.Process(target=reaper_worker, args=(str(outs["reaper"]), done)),
        ctx.Process(target=stale_worker, args=(str(outs["stale"]), done)),
    ]
    burner.start()
    for p in actors:
        p.start()
    rnd = random.Random(2024)
    deadline = time.monotonic() + TIMEOUT
    freezes = 0
    try:
        while True:
            final = [
                r
                for r in request_store.list_requests(engine, limit=RUNS)
                if r.status in (RequestStatus.COMPLETED, RequestStatus.FAILED)
            ]
            if len(final) == RUNS:
                break
            assert time.monotonic() < deadline, f"{len(final)} of {RUNS} requests ended"
            time.sleep(rnd.uniform(0.3, 1.5))
            victim = rnd.choice(runners)
            os.kill(victim.pid, signal.SIGSTOP)
            time.sleep(rnd.uniform(1.0, 6.0))  # the lease is 3 s
            os.kill(victim.pid, signal.SIGCONT)
            freezes += 1
    finally:
        done.set()
        for p in actors:
            os.kill(p.pid, signal.SIGCONT)
            p.join(60)
        cool.set()
        burner.join(10)
    assert all(p.exitcode == 0 for p in actors), [p.exitcode for p in actors]
    reports = {name: json.loads(path.read_text()) for name, path in outs.items()}

    problems = {rid: wrong_transitions(request_store.audit_log(engine, rid)) for rid in ids}
    assert not {rid: p for rid, p in problems.items() if p}, problems
    assert reports["stale"]["landed"] == []
    for i in range(RUNNERS):
        assert reports[f"runner{i}"]["errors"] == [], reports[f"runner{i}"]
    ended = {rid: request_store.get_request(engine, rid) for rid in ids}
    for rid, req in ended.items():
        if req.status == RequestStatus.COMPLETED:
            assert req.verified_at, rid
        else:
            assert req.progress.failure is not None, rid
            assert req.progress.failure.reason == "attempts_exhausted", (rid, req.error)
    # the race really ran: owners were taken over, came back stale, and were refused
    takeovers = sum(
        e["detail"].get("reason") == "lease_expired"
        for rid in ids
        for e in request_store.audit_log(engine, rid)
    )
    lost = sum(reports[f"runner{i}"]["lost"] for i in range(RUNNERS))
    assert takeovers >= 1 and lost >= 1 and reports["stale"]["tried"] >= 1, (
        freezes,
        takeovers,
        reports,
    )
    completed = sum(r.status == RequestStatus.COMPLETED for r in ended.values())
    print(
        f"lease race: {freezes} freezes, {takeovers} take-overs, {lost} stale owners "
        f"refused, {reports['stale']['tried']} late actions refused, {completed}/{RUNS} "
        "completed"
    )

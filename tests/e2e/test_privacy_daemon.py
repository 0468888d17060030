"""Privacy through a real `dagster-daemon` (sensors, run queue, run workers) and the HTTP
API, on one DAGSTER_HOME shared by the scenarios of this module:

- the canary scan: distinctive ids exported through a backfill the daemon runs, then
  access-exported and erased through the API; afterwards no file of Dagster's storage
  (run and event-log databases, compute logs, the daemon's log) and no file of the
  staging, quarantine and destination areas holds a canary -- only the event store,
  whose privacy ledger names what was erased, may;
- ids that ingestion stored (with a tab by an older version, unicode through the API)
  are erased and verified;
- a late event of an erased user is refused over the API and nothing of it is stored;
- the demo's re-seed after an erasure brings nothing back;
- a killed `privacy erase --now` is taken over by the daemon once its lease expired
  (no `privacy retry`) and finished as attempt 2;
- a crash between a day's files and its manifest is taken over the same way, to a
  manifest that matches the files.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from bench.daemon import prepare_home, running_daemon
from tests.eventsync.privacy.scenario import check_day, rows_of

DAYS = ("2025-06-01", "2025-06-02", "2025-06-03")
CANARY_USER = "canary-user-7f3a9c2e"
CANARY_COMPANY = "canary-co-b2e1d4aa"
CANARY_EMAIL = "canary.mail.5d1e@example.org"
CANARIES = (CANARY_USER, CANARY_COMPANY, CANARY_EMAIL)
TAB_USER = "legacy\tuser-e2e"
UNICODE_USER = "ünïcødé-用户-e2e"
KILLED_USER = "user-5"
CRASHED_USER = "user-6"
LEASE = "3"
ROOT = Path(__file__).resolve().parents[2]
EVENTSYNC = Path(sys.executable).parent / "eventsync"
STORE_FILES = ("eventsync.db", "eventsync.db-wal", "eventsync.db-shm")


@dataclass
class Env:
    home: Path
    dest: Path
    log: Path
    engine: Engine
    workspace_id: str
    sync_id: str
    client: TestClient
    auth: dict[str, str]
    env: dict[str, str]


def _event(i: int, user: str, day: str, **extra: Any) -> dict[str, Any]:
    return {
        "event_id": f"e2e-{user}-{day}-{i}",
        "event_type": "track",
        "event_name": "Report Created",
        "user_id": user,
        # the first seconds of the day: these rows lead the day (and any preview of it)
        "occurred_at": f"{day}T00:00:0{i % 10}Z",
        **extra,
    }


def _seed(engine: Engine, client: TestClient, auth: dict, ws: str) -> None:
    from eventsync.ingest import insert_event_rows
    from tests.factories import event_row, insert_day

    for n, day in enumerate(DAYS):
        insert_day(engine, ws, day, 26)
        batch = [
            _event(1, CANARY_USER, day, company_id=CANARY_COMPANY),
            _event(2, CANARY_USER, day, properties={"email": CANARY_EMAIL}),
            _event(3, UNICODE_USER, day),
        ]
        if n == 0:
            batch.append(
                {
                    **_event(4, CANARY_USER, day, company_id=CANARY_COMPANY),
                    "event_type": "identify_user",
                }
            )
        r = client.post("/v1/events", json={"events": batch}, headers=auth)
        assert r.json()["accepted"] == len(batch), r.text
        # An id with a tab, as an older version of ingestion stored it.
        with engine.begin() as conn:
            insert_event_rows(conn, [event_row(ws, day, 900 + n, user_id=TAB_USER)])


def _wait_backfill(backfill_id: str, timeout: float = 300) -> None:
    import dagster as dg

    deadline = time.monotonic() + timeout
    with dg.DagsterInstance.get() as instance:
        while time.monotonic() < deadline:
            status = instance.get_backfill(backfill_id).status.value
            if status not in ("REQUESTED", "CANCELING", "FAILING"):
                assert status == "COMPLETED_SUCCESS", status
                return
            time.sleep(1)
    raise AssertionError(f"backfill {backfill_id} not done after {timeout}s")


@pytest.fixture(scope="module")
def e2e(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    from eventsync.api import create_app
    from eventsync.store.connection import engine_for, upgrade
    from eventsync.syncs.config import create_sync, get_sync
    from eventsync.workspaces import create_workspace

    base = tmp_path_factory.mktemp("privacy-daemon")
    home = prepare_home(base / "dagster_home")
    env = {
        "DAGSTER_HOME": str(home),
        "EVENTSYNC_DATABASE_URL": f"sqlite:///{home / 'eventsync.db'}",
        "EVENTSYNC_DATA_DIR": str(home / "eventsync"),
        "EVENTSYNC_PRIVACY_LEASE_SECONDS": LEASE,
        "EVENTSYNC_PRIVACY_RATE": "100000",
        "EVENTSYNC_PRIVACY_BURST": "100000",
    }
    with pytest.MonkeyPatch.context() as mp_env:
        for name, value in env.items():
            mp_env.setenv(name, value)
        upgrade(env["EVENTSYNC_DATABASE_URL"])
        engine = engine_for(env["EVENTSYNC_DATABASE_URL"])
        created = create_workspace(engine, "e2e")
        ws = created.workspace_id
        dest = base / "dest"
        sync = create_sync(
            engine,
            ws,
            str(dest),
            formats=["parquet", "csv", "jsonl"],
            compression="zstd",
            enabled=False,
        )
        client = TestClient(create_app(engine))
        auth = {"Authorization": f"Bearer {created.api_key}"}
        _seed(engine, client, auth, ws)
        log = home / "daemon.log"  # inside DAGSTER_HOME: scanned like the rest
        with running_daemon(home, env, log):
            import dagster as dg

            from pipeline.runs.backfills import submit_backfill

            with dg.DagsterInstance.get() as instance:
                backfill = submit_backfill(
                    instance, get_sync(engine, sync.id), list(DAYS), "e2e"
                ).backfill_id
            _wait_backfill(backfill)
            yield Env(home, dest, log, engine, ws, sync.id, client, auth, {**os.environ, **env})


def _wait(e2e: Env, kind: str, rid: str, timeout: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = e2e.client.get(f"/v1/privacy/{kind}/{rid}", headers=e2e.auth).json()
        if body["status"] in ("completed", "failed", "erased"):
            return body
        time.sleep(0.3)
    raise AssertionError(f"{kind} {rid} still {body['status']} after {timeout}s")


def _erase(
    e2e: Env, users: list[str], companies: list[str] = (), *, via_cli: bool = False
) -> dict[str, Any]:
    """Request an erasure through the API, or (ids stored by an older version that
    break today's id rule, which the API's schema refuses) as `eventsync privacy erase`
    does; the sensor and the daemon run it either way."""
    if via_cli:
        from eventsync.privacy import request_store
        from eventsync.store.schema import workspaces

        with e2e.engine.connect() as conn:
            ws = conn.execute(select(workspaces.c.id)).scalar_one()
        request_id = request_store.create_request(
            e2e.engine, ws, "erasure", users, list(companies), "cli:test"
        ).id
    else:
        r = e2e.client.post(
            "/v1/privacy/erasures",
            json={"user_ids": users, "company_ids": list(companies)},
            headers=e2e.auth,
        )
        assert r.status_code == 202, r.text
        request_id = r.json()["id"]
    done = _wait(e2e, "erasures", request_id)
    assert done["status"] == "completed" and done["verified_at"], done
    return done


def _exported_users(e2e: Env) -> set[str]:
    users: set[str] = set()
    for path in e2e.dest.rglob("part-*"):
        users |= {str(r["user_id"]) for r in rows_of(path.name, path.read_bytes())}
    return users


def _hits(root: Path, needles: tuple[str, ...], skip: tuple[str, ...] = ()) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if not path.is_file() or (path.parent == root and path.name in skip):
            continue
        data = path.read_bytes()
        found += [f"{path}: {n}" for n in needles if n.encode() in data]
    return found


def test_canaries_leave_no_trace_in_dagster_storage_after_the_erasure(e2e: Env) -> None:
    assert CANARY_USER in _exported_users(e2e)
    # positive control: the scan finds the canaries where they are before the erasure
    assert _hits(e2e.home / "eventsync" / "staging", CANARIES)
    r = e2e.client.post(
        "/v1/privacy/access-exports", json={"user_id": CANARY_USER}, headers=e2e.auth
    )
    acc = _wait(e2e, "access-exports", r.json()["id"])
    assert acc["status"] == "completed"
    done = _erase(e2e, [CANARY_USER], [CANARY_COMPANY])
    assert sorted(done["progress"]["destinations"][e2e.sync_id]["days_rewritten"]) == list(DAYS)
    assert _wait(e2e, "access-exports", acc["id"])["status"] == "erased"
    time.sleep(6)  # a few more daemon ticks and heartbeats land in the storage
    scanned = [p for p in e2e.home.rglob("*") if p.is_file()]
    assert any("history" in p.parts for p in scanned)  # run storage
    assert any(p.suffix == ".db" and "eventsync" not in p.name for p in scanned)
    assert _hits(e2e.home, CANARIES, skip=STORE_FILES) == []
    assert _hits(e2e.dest, CANARIES) == []


def test_ids_ingestion_stored_with_a_tab_or_unicode_are_erased_and_verified(e2e: Env) -> None:
    assert {TAB_USER, UNICODE_USER} <= _exported_users(e2e)
    done = _erase(e2e, [TAB_USER, UNICODE_USER], via_cli=True)
    assert done["progress"]["steps"]["store"]["events_removed"] == 2 * len(DAYS)
    assert not {TAB_USER, UNICODE_USER} & _exported_users(e2e)
    for day in DAYS:
        check_day(e2e.engine, e2e.dest, e2e.sync_id, day)


def test_a_late_event_of_an_erased_user_is_refused_and_nothing_is_stored(e2e: Env) -> None:
    from eventsync.store.schema import events, user_profiles

    late = [
        _event(7, CANARY_USER, DAYS[0]),
        {**_event(8, CANARY_USER, DAYS[0]), "event_type": "identify_user"},
        _event(9, "someone-else", DAYS[0], company_id=CANARY_COMPANY),
    ]
    body = e2e.client.post("/v1/events", json={"events": late}, headers=e2e.auth).json()
    assert body["accepted"] == 0
    assert [(r["index"], r["reason"]) for r in body["rejected"]] == [
        (0, "subject erased"),
        (1, "subject erased"),
        (2, "subject erased"),
    ]
    with e2e.engine.connect() as conn:
        for table, column in ((events, "user_id"), (user_profiles, "user_id")):
            n = conn.execute(
                select(func.count()).select_from(table).where(table.c[column] == CANARY_USER)
            ).scalar_one()
            assert n == 0, table.name
        assert not conn.execute(select(events).where(events.c.company_id == CANARY_COMPANY)).all()


def test_the_demo_reseed_after_an_erasure_brings_nothing_back(e2e: Env) -> None:
    from eventsync.demo.seed import DEMO_WORKSPACE_ID, seed_demo
    from eventsync.store.schema import events, user_profiles

    first = seed_demo(e2e.engine, days=2, events_per_day=300, destination=e2e.dest.parent / "demo")
    auth = {"Authorization": f"Bearer {first['api_key']}"}
    with e2e.engine.connect() as conn:
        user = conn.execute(
            select(user_profiles.c.user_id)
            .where(user_profiles.c.workspace_id == DEMO_WORKSPACE_ID)
            .order_by(user_profiles.c.user_id)
            .limit(1)
        ).scalar_one()
    r = e2e.client.post("/v1/privacy/erasures", json={"user_ids": [user]}, headers=auth)
    demo = Env(**{**e2e.__dict__, "auth": auth})
    done = _wait(demo, "erasures", r.json()["id"])
    assert done["status"] == "completed" and done["verified_at"], done
    again = seed_demo(e2e.engine, days=2, events_per_day=300, destination=e2e.dest.parent / "demo")
    assert again["skipped_erased"] > 0 and again["inserted"] == 0
    with e2e.engine.connect() as conn:
        for table in (events, user_profiles):
            n = conn.execute(
                select(func.count())
                .select_from(table)
                .where(table.c.workspace_id == DEMO_WORKSPACE_ID, table.c.user_id == user)
            ).scalar_one()
            assert n == 0, table.name
    r = e2e.client.post("/v1/privacy/access-exports", json={"user_id": user}, headers=auth)
    acc = _wait(demo, "access-exports", r.json()["id"])
    assert acc["status"] == "completed" and "subject erased" in acc["result_note"]


def test_a_killed_now_erasure_is_taken_over_and_completed_by_the_daemon(e2e: Env) -> None:
    from eventsync.privacy import request_store
    from eventsync.store.locks import export_lock

    env = {**e2e.env, "PYTHONPATH": str(ROOT)}
    with export_lock(e2e.engine, e2e.workspace_id):  # the `staging` step waits for it
        proc = subprocess.Popen(
            [
                str(EVENTSYNC),
                "privacy",
                "erase",
                "--workspace",
                e2e.workspace_id,
                "--user-id",
                KILLED_USER,
                "--now",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 60
        req = None
        while time.time() < deadline and req is None:
            for r in request_store.list_requests(e2e.engine, e2e.workspace_id, kind="erasure"):
                if r.user_ids == [KILLED_USER] and r.progress.step_done("store"):
                    req = r
            time.sleep(0.1)
        assert req is not None, "the --now erasure did not get to its store step"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    assert request_store.get_request(e2e.engine, req.id).status == "running"
    # nobody retries: the daemon's request sensor takes it over once the lease expired
    done = _wait(e2e, "erasures", req.id)
    assert done["status"] == "completed" and done["verified_at"] and done["attempt"] == 2
    assert KILLED_USER not in _exported_users(e2e)
    log = request_store.audit_log(e2e.engine, req.id)
    assert not [e for e in log if e["detail"].get("retry")]
    assert [e["actor"] for e in log if e["detail"].get("reason") == "lease_expired"] == [
        "sensor:privacy_request_sensor"
    ]


def test_a_crash_between_a_days_files_and_its_manifest_is_taken_over_to_a_matching_manifest(
    e2e: Env,
) -> None:
    from eventsync.privacy import request_store, runner
    from tests.eventsync.privacy.test_erasure import crash_child

    req = request_store.create_request(
        e2e.engine, e2e.workspace_id, "erasure", [CRASHED_USER], [], "t"
    )
    # Claimed here at once, as `privacy erase --now` does: the daemon's request sensor
    # launches a run for a request left `received`, and the spawned child takes seconds
    # to start (it lost that race on a slow machine, 2026-12-08).
    runner.claim(e2e.engine, req.id, "t")
    child = mp.get_context("spawn").Process(target=crash_child, args=(req.id, "before_manifest"))
    child.start()
    child.join(120)
    assert child.exitcode == -signal.SIGKILL
    done = _wait(e2e, "erasures", req.id)  # taken over by the daemon, no retry
    assert done["status"] == "completed" and done["verified_at"] and done["attempt"] == 2
    dest = done["progress"]["destinations"][e2e.sync_id]
    assert sorted(dest["days_rewritten"]) == list(DAYS)
    assert dest["rows_removed"] == 2 * len(DAYS)  # rows 6 and 19 of each factory day
    for day in DAYS:
        rows = check_day(e2e.engine, e2e.dest, e2e.sync_id, day)
        assert rows and CRASHED_USER not in {r["user_id"] for r in rows}

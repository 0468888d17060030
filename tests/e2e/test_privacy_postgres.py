"""Privacy on the PostgreSQL event store: processes hammering ingest, export and
erasure at once, then an exact reconciliation; the erasure waiting for an export in
flight; and the end-to-end erasure (API -> sensor -> erasure_job) on PostgreSQL.

The hammer test runs, in their own (spawned) processes against one PostgreSQL store:

- INGESTERS ingest workers posting batches over DAYS; some event ids are sent by
  every worker (duplicates across workers), the erased users keep getting events
  before, during and after the erasure (late events);
- two exporters re-exporting the days of one sync (local folder) in a loop, one
  DAYS[:2], the other DAYS[2:], the way `events_daily` + `events_export` do;
- one eraser erasing ERASED users part-way through (`runner.run_all`, what
  `eventsync privacy erase --now` runs).

Then, before any further export: no erased user in any exported file, staging file or
quarantine file; the request is completed with verified_at on its first attempt (the
verification cannot be starved: once the subjects are suppressed, ingestion refuses
them); the store holds no event of an erased user; every event of theirs sent after
the erasure completed was refused with `subject erased`.
After a final export of every day: each day's files hold exactly the store's rows for
the day, without duplicates; and accepted + refused (duplicate or erased) == sent,
every accepted id of a kept user stored once.
"""

from __future__ import annotations

import io
import json
import multiprocessing as mp
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from eventsync.clock import day_bounds_us
from eventsync.engine import layout

DAYS = ("2025-05-01", "2025-05-02", "2025-05-03")
INGESTERS = 3
BATCH = 40
SHARED_PER_BATCH = 8  # ids every ingest worker sends in its k-th batch
USERS = [f"user-{i}" for i in range(12)]
ERASED = ["user-0", "user-1", "user-2"]
KEPT_USERS = [u for u in USERS if u not in ERASED]
ERASE_AFTER_S = 3.0  # the eraser starts this long after the workers are up
LATE_S = 2.0  # ingest keeps going this long after the erasure completed
DEADLINE_S = 25.0  # hard bound on the hammer phase
SEED_PER_DAY = 60


# --- worker processes (module level: spawned children import this module) ----------
def _engine():  # type: ignore[no-untyped-def]
    from eventsync.settings import database_url
    from eventsync.store.connection import engine_for

    return engine_for(database_url())


def _event(event_id: str, user: str, day: str, rnd: random.Random) -> dict[str, Any]:
    start, _ = day_bounds_us(day)
    at = start + rnd.randrange(0, 86_400_000_000)
    kind = rnd.choice(("track", "page_view", "identify_user"))
    return {
        "event_id": event_id,
        "event_type": kind,
        "event_name": f"evt-{rnd.randrange(5)}",
        "user_id": user,
        "company_id": f"company-{rnd.randrange(3)}",
        "occurred_at": at // 1000,  # epoch milliseconds
        "properties": {"n": rnd.randrange(1000), "email": f"{user}@example.com"},
    }


def ingest_worker(
    worker: int, ws: str, out: str, go: Any, erasing: Any, erased: Any, stop_at: float
) -> None:
    """Send batches until LATE_S after the erasure completed (or the deadline); write
    what was sent, accepted and rejected to `out` as JSON. Accepted events of erased
    users are classed by when their batch ran: `early` (committed before the erasure
    began), `late` (sent after it completed), else `during`."""
    from eventsync.ingest import ingest_events

    engine = _engine()
    rnd = random.Random(worker)
    sent: list[str] = []
    accepted: list[str] = []
    duplicates: list[str] = []
    other: list[str] = []
    erased_phase: dict[str, str] = {}
    refused_erased: dict[str, str] = {}
    go.wait(30)
    late_until = None
    k = 0
    while time.time() < stop_at:
        if erased.is_set() and late_until is None:
            late_until = time.time() + LATE_S
        if late_until is not None and time.time() >= late_until:
            break
        batch = []
        # Shared ids (same ids in every worker's k-th batch) belong to kept users only:
        # an erased event id is free again once deleted, so it could be accepted twice.
        for j in range(SHARED_PER_BATCH):
            r = random.Random(f"shared-{k}-{j}")
            batch.append(_event(f"sh-{k}-{j}", r.choice(KEPT_USERS), r.choice(DAYS), r))
        for j in range(BATCH - SHARED_PER_BATCH):
            batch.append(_event(f"w{worker}-{k}-{j}", rnd.choice(USERS), rnd.choice(DAYS), rnd))
        rnd.shuffle(batch)
        after = erased.is_set()
        result = ingest_events(engine, ws, batch)
        phase = "late" if after else "during" if erasing.is_set() else "early"
        rejected = {r.event_id: r.reason for r in result.rejections}
        for e in batch:
            sent.append(e["event_id"])
            reason = rejected.get(e["event_id"])
            if reason is None:
                accepted.append(e["event_id"])
                if e["user_id"] in ERASED:
                    erased_phase[e["event_id"]] = phase
            elif reason.startswith("duplicate event_id"):
                duplicates.append(e["event_id"])
            elif reason == "subject erased" and e["user_id"] in ERASED:
                refused_erased[e["event_id"]] = phase
            else:
                other.append(f"{e['event_id']}: {reason}")
        k += 1
    Path(out).write_text(
        json.dumps(
            {
                "sent": sent,
                "accepted": accepted,
                "duplicates": duplicates,
                "other": other,
                "erased_phase": erased_phase,
                "refused_erased": refused_erased,
                "batches": k,
            }
        )
    )


def export_once(sync_id: str, day: str) -> dict[str, Any]:
    """One partition as `events_daily` then `events_export` do it: stage (holding the
    export lock shared inside `stage_day`), then, unless blocked, load the staged day,
    write it and record it under the shared lock."""
    from eventsync.engine.day_export import export_partition
    from eventsync.engine.formats import staging_codec
    from eventsync.engine.staging import StageResult, stage_day
    from eventsync.privacy.opener import default_opener
    from eventsync.settings import database_url
    from eventsync.syncs.config import get_sync

    engine = _engine()
    sync = get_sync(engine, sync_id)
    stage = stage_day(
        database_url(),
        engine,
        sync.id,
        sync.workspace_id,
        day,
        codec=staging_codec(sync.formats, sync.compression),
    )
    if stage.blocked_reason:
        return {"day": day, "blocked": stage.blocked_reason}
    # export_partition holds the workspace's export lock (shared) from the write-ahead
    # subject index to the ledger row, as events_export does.
    stage = StageResult.load(sync.id, day)
    result = export_partition(engine, stage, sync.formats, sync.compression, default_opener(sync))
    return {"day": day, "rows": result.rows}


def exporter_worker(
    sync_id: str, days: list[str], out: str, go: Any, done: Any, stop_at: float
) -> None:
    go.wait(30)
    runs: list[dict[str, Any]] = []
    errors: list[str] = []
    while not done.is_set() and time.time() < stop_at:
        for day in days:
            try:
                runs.append(export_once(sync_id, day))
            except Exception as exc:  # recorded, the test fails on it
                errors.append(f"{day}: {type(exc).__name__}: {exc}")
    Path(out).write_text(json.dumps({"runs": runs, "errors": errors}))


def eraser_worker(ws: str, out: str, go: Any, erasing: Any, erased: Any) -> None:
    from eventsync.privacy import request_store, runner

    engine = _engine()
    go.wait(30)
    time.sleep(ERASE_AFTER_S)
    erasing.set()
    req = request_store.create_request(engine, ws, "erasure", ERASED, [], "cli:test")
    error = None
    try:
        req = runner.run_all(engine, req.id, "cli:test")
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
    erased.set()
    Path(out).write_text(json.dumps({"request_id": req.id, "error": error}))


# --- reading exports back independently ----------------------------------------------
def read_export(key: str, data: bytes) -> list[dict[str, Any]]:
    """Rows (event_id, user_id) of an exported file, read with pyarrow / pandas."""
    if key.endswith(".parquet"):
        return pq.read_table(io.BytesIO(data), columns=["event_id", "user_id"]).to_pylist()
    codec = "gzip" if key.endswith(".gz") else "zstd" if key.endswith(".zst") else None
    if codec:
        with pa.input_stream(pa.BufferReader(data), compression=codec) as stream:
            data = stream.read()
    if ".csv" in key:
        frame = pd.read_csv(io.BytesIO(data), dtype=str)
    else:
        frame = pd.read_json(io.BytesIO(data), lines=True, dtype=False)
    return frame[["event_id", "user_id"]].to_dict("records")


def exported_rows(root: Path, sync_id: str, day: str) -> dict[str, list[dict[str, Any]]]:
    """{key: rows} of the files the day's manifest lists (sha256 checked)."""
    import hashlib

    manifest = json.loads((root / layout.manifest_key(sync_id, day)).read_text())
    out = {}
    for f in manifest["files"]:
        data = (root / f["key"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == f["sha256"], f["key"]
        rows = read_export(f["key"], data)
        assert len(rows) == f["rows"], f["key"]
        out[f["key"]] = rows
    return out


# --- the test ---------------------------------------------------------------------------
def _seed(engine, ws: str) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """Rows already in the store before the hammer (one invalid row of an erased user
    per day, so quarantine holds something to erase)."""
    from tests.factories import insert_day

    rows = []
    for day in DAYS:
        rows += insert_day(engine, ws, day, SEED_PER_DAY, i14={"event_type": "bogus"})
    assert {r["user_id"] for r in rows if r["event_type"] == "bogus"} == {"user-1"}
    return rows


@pytest.mark.serial
def test_ingest_export_and_erasure_hammered_on_postgres(pg_store_url: str, tmp_path: Path):
    from eventsync.engine.staging import quarantine_path, staging_dir
    from eventsync.privacy import request_store
    from eventsync.pseudonyms import subject_hash
    from eventsync.store.connection import engine_for
    from eventsync.store.schema import events, suppressions, user_profiles
    from eventsync.syncs.config import create_sync
    from eventsync.workspaces import create_workspace

    engine = engine_for(pg_store_url)
    ws = create_workspace(engine, "hammer").workspace_id
    seed = _seed(engine, ws)
    root = tmp_path / "exports"
    sync = create_sync(engine, ws, str(root), formats=["parquet", "csv"], compression="gzip")
    for day in DAYS:  # every day exported once with the erased users in it
        assert export_once(sync.id, day)["rows"] == SEED_PER_DAY - 1
    assert any(
        r["user_id"] in ERASED
        for rows in exported_rows(root, sync.id, DAYS[0]).values()
        for r in rows
    )

    ctx = mp.get_context("spawn")
    go, erasing, erased, done = ctx.Event(), ctx.Event(), ctx.Event(), ctx.Event()
    stop_at = time.time() + DEADLINE_S
    outs = {name: tmp_path / f"{name}.json" for name in ("exporter0", "exporter1", "eraser")}
    ingesters = []
    for w in range(INGESTERS):
        outs[f"ingest{w}"] = tmp_path / f"ingest{w}.json"
        ingesters.append(
            ctx.Process(
                target=ingest_worker,
                args=(w, ws, str(outs[f"ingest{w}"]), go, erasing, erased, stop_at),
                name=f"ingest{w}",
            )
        )
    # Two exporters, as two runs exporting different days of the sync at once.
    exporters = [
        ctx.Process(
            target=exporter_worker,
            args=(sync.id, days, str(outs[f"exporter{n}"]), go, done, stop_at),
            name=f"exporter{n}",
        )
        for n, days in enumerate((list(DAYS[:2]), list(DAYS[2:])))
    ]
    eraser = ctx.Process(
        target=eraser_worker, args=(ws, str(outs["eraser"]), go, erasing, erased), name="eraser"
    )
    procs = [*ingesters, *exporters, eraser]
    try:
        for p in procs:
            p.start()
        go.set()
        for p in [*ingesters, eraser]:
            p.join(DEADLINE_S + 30)
        done.set()
        for p in exporters:
            p.join(60)
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
                p.join(5)
    assert all(p.exitcode == 0 for p in procs), [(p.name, p.exitcode) for p in procs]
    res = {name: json.loads(path.read_text()) for name, path in outs.items()}
    ingest = [res[f"ingest{w}"] for w in range(INGESTERS)]
    for n in (0, 1):
        runs = res[f"exporter{n}"]["runs"]
        assert not res[f"exporter{n}"]["errors"], res[f"exporter{n}"]["errors"][:5]
        assert len(runs) >= 4, f"exporter {n} barely ran: {runs}"
    assert all(r["batches"] >= 5 for r in ingest), [r["batches"] for r in ingest]

    # --- the erasure completed, verified ------------------------------------------------
    assert res["eraser"]["error"] is None, res["eraser"]["error"]
    req = request_store.get_request(engine, res["eraser"]["request_id"])
    assert req.status == "completed" and req.verified_at, (req.status, req.error)
    assert req.attempt == 1
    phase: dict[str, str] = {}
    refused: dict[str, str] = {}
    for r in ingest:
        phase.update(r["erased_phase"])
        refused.update(r["refused_erased"])
    by_phase = Counter(phase.values())
    assert by_phase["early"], by_phase
    assert Counter(refused.values())["late"], "no late event of an erased user was sent"
    assert "late" not in by_phase, "an event of an erased user was accepted after the erasure"

    # --- before any further export: nothing of the erased users anywhere ----------------
    exported = [p for p in root.rglob("part-*") if p.is_file()]
    assert len(exported) == 2 * len(DAYS)
    for path in exported:
        users = {r["user_id"] for r in read_export(path.name, path.read_bytes())}
        assert not users & set(ERASED), (path, users & set(ERASED))
    for path in root.rglob("_manifests/*.json"):
        assert not any(u in path.read_text() for u in ERASED)
    for day in DAYS:
        staged = pq.read_table(staging_dir(sync.id, day) / "events.parquet")
        assert not set(staged.column("user_id").to_pylist()) & set(ERASED), day
        q = quarantine_path(sync.id, day)
        if q.exists():
            assert not set(pq.read_table(q).column("user_id").to_pylist()) & set(ERASED), day
    with engine.connect() as conn:
        stored = Counter(
            conn.execute(select(events.c.event_id).where(events.c.workspace_id == ws)).scalars()
        )
        stored_erased = set(
            conn.execute(
                select(events.c.event_id).where(
                    events.c.workspace_id == ws, events.c.user_id.in_(ERASED)
                )
            ).scalars()
        )
        erased_profiles = set(
            conn.execute(
                select(user_profiles.c.user_id).where(
                    user_profiles.c.workspace_id == ws, user_profiles.c.user_id.in_(ERASED)
                )
            ).scalars()
        )
        suppressed = set(
            conn.execute(
                select(suppressions.c.subject_hash).where(suppressions.c.workspace_id == ws)
            ).scalars()
        )
    assert suppressed == {subject_hash(ws, "user", u) for u in ERASED}
    # The door is closed: nothing of the erased users is stored, whenever it was sent.
    assert not stored_erased, sorted(stored_erased)[:5]
    assert not erased_profiles

    # --- ingest reconciles exactly -------------------------------------------------------
    sent = Counter(i for r in ingest for i in r["sent"])
    accepted = Counter(i for r in ingest for i in r["accepted"])
    dups = sum(len(r["duplicates"]) for r in ingest)
    assert not [o for r in ingest for o in r["other"]]
    assert sum(accepted.values()) + dups + len(refused) == sum(sent.values())
    assert max(accepted.values()) == 1, "an event id was accepted twice"
    assert set(accepted) | set(refused) == set(sent), "an event id was rejected by every worker"
    assert dups >= INGESTERS, "no duplicate ids collided across workers"
    assert max(stored.values()) == 1
    seed_ids = {e["event_id"] for e in seed}
    seed_erased = {e["event_id"] for e in seed if e["user_id"] in ERASED}
    # every accepted id (and seed row) of a kept user is stored, nothing else
    assert set(stored) == (set(accepted) | seed_ids) - set(phase) - seed_erased
    # erased users' rows: removed by the erasure == accepted (before the suppression) + seeded
    steps = req.progress.steps
    removed = steps["store"].result["events_removed"] + steps["verify"].result.get(
        "store_events_purged", 0
    )
    assert removed == len(phase) + len(seed_erased)
    assert steps["verify"].result["store_events_purged"] == 0  # the door closed before the purge
    with engine.connect() as conn:
        profiles = set(
            conn.execute(
                select(user_profiles.c.user_id).where(user_profiles.c.workspace_id == ws)
            ).scalars()
        )
    assert set(KEPT_USERS) <= profiles

    # --- a final export of every day: files == the store's rows, once each --------------
    for day in DAYS:
        assert "rows" in export_once(sync.id, day)
        start, end = day_bounds_us(day)
        with engine.connect() as conn:
            expected = Counter(
                conn.execute(
                    select(events.c.event_id).where(
                        events.c.workspace_id == ws,
                        events.c.occurred_at >= start,
                        events.c.occurred_at < end,
                        events.c.user_id.not_in(ERASED),
                    )
                ).scalars()
            )
        for key, rows in exported_rows(root, sync.id, day).items():
            got = Counter(r["event_id"] for r in rows)
            assert max(got.values()) == 1, (key, got.most_common(1))
            assert got == expected, (key, len(got), len(expected))
            assert not {r["user_id"] for r in rows} & set(ERASED), key


# --- the lock, deterministically ------------------------------------------------------
def _waiting_for_export_lock(engine) -> int:  # type: ignore[no-untyped-def]
    """Sessions of this database waiting for an eventsync export/erasure lock."""
    from sqlalchemy import text

    from eventsync.store.locks import LockKind

    with engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
                " WHERE l.locktype = 'advisory' AND NOT l.granted"
                " AND l.classid = CAST(:c AS oid) AND d.datname = current_database()"
            ),
            {"c": int(LockKind.EXPORT)},
        ).scalar_one()


def test_erasure_waits_for_the_export_in_flight(pg_store_url: str, tmp_path: Path):
    """An export run that staged the subject before the erasure and writes it after the
    erasure began: the erasure's cleaning steps wait for it (an advisory lock wait in
    pg_locks), then clean what it wrote. Nothing of the subject remains."""
    import threading

    from eventsync.engine import export_records
    from eventsync.engine.day_export import export_day
    from eventsync.engine.staging import stage_day, staging_dir
    from eventsync.privacy import request_store, runner
    from eventsync.privacy.opener import default_opener
    from eventsync.store.connection import engine_for
    from eventsync.store.locks import export_lock
    from eventsync.store.schema import export_subjects
    from eventsync.syncs.config import create_sync
    from eventsync.workspaces import create_workspace
    from tests.factories import insert_day

    engine = engine_for(pg_store_url)
    ws = create_workspace(engine, "inflight").workspace_id
    day, target = DAYS[0], "user-3"
    insert_day(engine, ws, day, 26)
    root = tmp_path / "exports"
    sync = create_sync(engine, ws, str(root), formats=["parquet", "jsonl"], compression="zstd")
    stage = stage_day(pg_store_url, engine, sync.id, ws, day)
    req = request_store.create_request(engine, ws, "erasure", [target], [], "cli:test")
    outcome: dict[str, Any] = {}

    def erase() -> None:
        try:
            outcome["request"] = runner.run_all(engine, req.id, "cli:test")
        except Exception as exc:  # reported by the assertion below
            outcome["error"] = exc

    thread = threading.Thread(target=erase)
    # What export_partition does under the lock it holds, with the lock held here so the
    # test decides when the export is "in flight".
    with export_lock(engine, ws):
        thread.start()
        deadline = time.time() + 30
        while time.time() < deadline and not (
            _waiting_for_export_lock(engine)
            and request_store.get_request(engine, req.id).progress.step_done("store")
        ):
            time.sleep(0.05)
        time.sleep(0.3)
        steps = request_store.get_request(engine, req.id).progress.steps
        # suppressed and purged from the store, but no file touched while we export
        assert steps["suppress"].done and steps["store"].done, steps
        assert "staging" not in steps and _waiting_for_export_lock(engine) == 1
        subjects = export_records.index_subjects_ahead(engine, stage)
        result = export_day(stage, sync.formats, sync.compression, default_opener(sync))
        export_records.record_export(engine, stage, result, subjects)
        written = {
            p.name: {r["user_id"] for r in read_export(p.name, p.read_bytes())}
            for p in root.rglob("part-*")
        }
        assert all(target in users for users in written.values()), written
    thread.join(60)
    assert "error" not in outcome, outcome.get("error")
    done = outcome["request"]
    assert done.status == "completed" and done.verified_at
    assert done.progress.destinations[sync.id].days_rewritten == [day]
    for key, rows in exported_rows(root, sync.id, day).items():
        users = {r["user_id"] for r in rows}
        assert target not in users and "user-4" in users, key
        assert len(rows) == 24, key  # 26 minus the target's two rows
    staged = pq.read_table(staging_dir(sync.id, day) / "events.parquet")
    assert target not in staged.column("user_id").to_pylist()
    with engine.connect() as conn:
        assert not conn.execute(
            select(export_subjects).where(export_subjects.c.subject_id == target)
        ).all()


# --- end-to-end erasure on PostgreSQL (API -> sensor -> erasure_job) -----------------
def test_erasure_end_to_end_on_postgres(pg_store_url: str, instance, tmp_path: Path):
    """tests/test_privacy_erasure.py's assertions on a PostgreSQL store, local
    destination: access export, erasure through the API, the request sensor and
    erasure_job; an independent read of files, staging, quarantine and the store; only
    the days that held the subject changed; a late event is refused; the audit log
    names the key id."""
    from fastapi.testclient import TestClient
    from sqlalchemy import func

    from eventsync.api import create_app
    from eventsync.engine.staging import quarantine_path, staging_dir
    from eventsync.ingest import ingest_events
    from eventsync.privacy import request_store
    from eventsync.store.connection import engine_for
    from eventsync.store.schema import events, export_ledger, export_subjects, user_profiles
    from eventsync.syncs.config import create_sync
    from tests.e2e.test_erasure_api_sensor import (
        DAYS,
        TARGET,
        day_of,
        export,
        good_resources,
        local_files,
        run_requested,
        seed_scenario,
        tick,
        user_ids_in,
    )

    engine = engine_for(pg_store_url)
    assert engine.dialect.name == "postgresql"
    target = TARGET
    ws, api_key = seed_scenario(engine)
    root = tmp_path / "local"
    sync = create_sync(
        engine, ws, str(root), formats=["parquet", "csv", "jsonl"], compression="zstd"
    )
    for day in DAYS:
        export(instance, sync.id, day)
    assert quarantine_path(sync.id, DAYS[0]).exists()
    before = local_files(root)
    assert any(target in user_ids_in(k, v[0]) for k, v in before.items())
    with engine.connect() as conn:
        ledger_before = {(r.day): r.exported_at for r in conn.execute(select(export_ledger))}

    client = TestClient(create_app(engine))
    auth = {"Authorization": f"Bearer {api_key}"}
    r = client.post("/v1/privacy/access-exports", json={"user_id": target}, headers=auth)
    assert r.status_code == 202, r.text
    acc_id = r.json()["id"]
    result = tick(instance)
    (run_req,) = result.run_requests
    assert run_requested(instance, run_req, good_resources()).success
    csv_path = root / f"_privacy/access/{acc_id}.csv"
    frame = pd.read_csv(csv_path, encoding="utf-8-sig", dtype=str)
    frame = frame[frame["record"] == "event"]
    assert set(frame["user_id"]) == {target} and len(frame) == 3  # valid events only

    r = client.post("/v1/privacy/erasures", json={"user_ids": [target]}, headers=auth)
    assert r.status_code == 202, r.text
    rid = r.json()["id"]
    result = tick(instance, result.cursor)
    (run_req,) = result.run_requests
    assert run_req.run_key == f"{rid}:1" and run_req.job_name == "erasure_job"
    assert run_requested(instance, run_req, good_resources()).success
    done = client.get(f"/v1/privacy/erasures/{rid}", headers=auth).json()
    assert done["status"] == "completed" and done["verified_at"], done
    assert done["attempt"] == 1 and done["error"] is None
    dest = done["progress"]["destinations"][sync.id]
    assert sorted(dest["days_rewritten"]) == list(DAYS[:2])
    assert dest["rows_removed"] == 3  # 2 + 1 (the bogus row was quarantined)
    assert done["progress"]["steps"]["store"]["events_removed"] == 4
    assert done["progress"]["steps"]["access_exports"]["files_deleted"]
    assert not csv_path.exists()

    after = local_files(root)
    for key, (data, _) in after.items():
        assert target not in user_ids_in(key, data), key
        if "_manifests/" in key:
            assert target not in data.decode()
    with engine.connect() as conn:
        for table in (events, user_profiles):
            n = conn.execute(
                select(func.count()).select_from(table).where(table.c.user_id == target)
            ).scalar_one()
            assert n == 0, table.name
        assert not conn.execute(
            select(export_subjects).where(export_subjects.c.subject_id == target)
        ).all()
        ledger_after = {(r.day): r.exported_at for r in conn.execute(select(export_ledger))}
    for day in DAYS:
        staged = pq.read_table(staging_dir(sync.id, day) / "events.parquet")
        assert target not in staged.column("user_id").to_pylist()
    quarantined = pq.read_table(quarantine_path(sync.id, DAYS[0]))
    assert target not in quarantined.column("user_id").to_pylist()
    for key, value in before.items():
        if day_of(key) == DAYS[2] or "/_schema." in key:
            assert after[key] == value, key
        elif day_of(key) in DAYS[:2]:
            assert after[key][0] != value[0], key
            if "_manifests/" not in key:
                users = user_ids_in(key, after[key][0])
                assert len(users) in (24, 25) and "user-4" in users
    for day, at in ledger_before.items():
        assert (ledger_after[day] != at) == (day in DAYS[:2]), day

    late = ingest_events(
        engine,
        ws,
        [
            {
                "event_id": "late-1",
                "event_type": "track",
                "event_name": "Late",
                "user_id": target,
                "occurred_at": f"{DAYS[0]}T12:00:00Z",
            }
        ],
    )
    assert late.accepted == 0 and late.rejections[0].reason == "subject erased"
    export(instance, sync.id, DAYS[0])
    for key, (data, _) in local_files(root).items():
        assert target not in user_ids_in(key, data), key

    log = request_store.audit_log(engine, rid)
    assert log[0]["action"] == "received" and log[-1]["action"] == "completed"
    assert log[0]["actor"] == f"key:{api_key.split('_')[1]}"
    assert all(api_key not in json.dumps(e, default=str) for e in log)

"""Erasure end to end: HTTP API -> privacy_request_sensor -> erasure_job (real Dagster
instance) over two syncs (local folder and S3 on moto_server), a failure mid-way
(S3 endpoint down) and its retry, then an independent read of every file and the store.
Also the access export (CSV read back with pandas), its deletion by the erasure (the
request becomes `erased`), and a late event of the erased user refused at the door."""

from __future__ import annotations

import io
import json
import socket
from pathlib import Path

import dagster as dg
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from dagster_aws.s3 import S3Resource
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, insert, select

from assets.events import events_daily, events_export
from eventsync.api import create_app
from eventsync.engine.staging import quarantine_path, staging_dir
from eventsync.ingest import insert_event_rows
from eventsync.privacy import request_store
from eventsync.store.schema import events, export_ledger, export_subjects, user_profiles
from eventsync.syncs.config import create_sync
from eventsync.workspaces import create_workspace
from pipeline.privacy_jobs import JOB_BY_KIND
from pipeline.privacy_sensors import privacy_failure_sensor, privacy_request_sensor
from resources import DestinationsResource, EventStoreResource, build_resources
from tests.factories import event_row, insert_day
from tests.fixtures.dagster_env import tick_sensor
from tests.fixtures.s3 import REGION

DAYS = ("2025-03-01", "2025-03-02", "2025-03-03")
TARGET = "user-3"  # rows i=3 and i=16 of a factory day


def good_resources() -> dict:
    return build_resources()


def dead_s3_resources() -> dict:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    dest = DestinationsResource(
        s3=S3Resource(endpoint_url=f"http://127.0.0.1:{port}", region_name=REGION, max_attempts=2),
        backoff_base_seconds=0.01,
        backoff_max_seconds=0.02,
    )
    return {"store": EventStoreResource(), "destinations": dest}


def export(instance, sync_id: str, day: str) -> None:
    result = dg.materialize(
        [events_daily, events_export],
        partition_key=day,
        instance=instance,
        resources=good_resources(),
        tags={"eventsync/syncs": sync_id},
    )
    assert result.success


def tick(instance, cursor: str | None = None) -> dg.SensorResult:
    return tick_sensor(privacy_request_sensor, instance, cursor)


def run_requested(instance, request: dg.RunRequest, resources: dict):  # type: ignore[no-untyped-def]
    job = {j.name: j for j in JOB_BY_KIND.values()}[request.job_name]
    return job.execute_in_process(
        run_config=request.run_config,
        instance=instance,
        tags=request.tags,
        resources=resources,
        raise_on_error=False,
    )


def local_files(root: Path) -> dict[str, tuple[bytes, int]]:
    return {
        p.relative_to(root).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in root.rglob("*")
        if p.is_file()
    }


def s3_files(client, bucket: str) -> dict[str, tuple[bytes, object]]:  # type: ignore[no-untyped-def]
    out = {}
    for obj in client.list_objects_v2(Bucket=bucket).get("Contents", []):
        body = client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
        out[obj["Key"]] = (body, obj["ETag"])
    return out


def user_ids_in(key: str, data: bytes) -> list[str]:
    """Independent read of an exported file (pyarrow / pandas)."""
    if key.endswith(".parquet"):
        return [u for u in pq.read_table(io.BytesIO(data)).column("user_id").to_pylist()]
    codec = "gzip" if key.endswith(".gz") else "zstd" if key.endswith(".zst") else None
    if codec:  # decompress with pyarrow (pandas would need the zstandard package)
        with pa.input_stream(pa.BufferReader(data), compression=codec) as stream:
            data = stream.read()
    if ".csv" in key:
        return pd.read_csv(io.BytesIO(data), dtype=str)["user_id"].tolist()
    if ".jsonl" in key:
        return pd.read_json(io.BytesIO(data), lines=True, dtype=False)["user_id"].tolist()
    return []


def day_of(key: str) -> str | None:
    return key.split("date=", 1)[1][:10] if "date=" in key else None


def seed_scenario(engine: Engine) -> tuple[str, str]:
    """A workspace whose TARGET user has rows on DAYS[0] and DAYS[1] (one of them
    invalid, so quarantined), none on DAYS[2], and a profile. Returns (id, API key)."""
    created = create_workspace(engine, "acme")
    ws = created.workspace_id
    for day in DAYS:
        over = {}
        if day == DAYS[2]:  # the last day does not hold the target
            over = {"i3": {"user_id": "user-99"}, "i16": {"user_id": "user-99"}}
        if day == DAYS[0]:  # one invalid row of the target goes to quarantine
            over = {"i16": {"event_type": "bogus"}}
        insert_day(engine, ws, day, 26, **over)
    with engine.begin() as conn:
        conn.execute(
            insert(user_profiles).values(
                workspace_id=ws,
                user_id=TARGET,
                company_id="company-1",
                properties='{"email": "x@example.com"}',
                first_seen_at=1,
                last_seen_at=2,
            )
        )
    return ws, created.api_key


def test_erasure_through_api_and_sensor_with_failure_and_retry(
    engine: Engine, instance, s3_env, s3_bucket, tmp_path
):
    ws, api_key = seed_scenario(engine)
    local_root = tmp_path / "local"
    local = create_sync(
        engine, ws, str(local_root), formats=["parquet", "csv", "jsonl"], compression="zstd"
    )
    s3 = create_sync(
        engine, ws, f"s3://{s3_bucket}/ex", formats=["parquet", "jsonl"], compression="gzip"
    )
    for sync in (local, s3):
        for day in DAYS:
            export(instance, sync.id, day)
    assert quarantine_path(local.id, DAYS[0]).exists()
    s3c = s3_env.client()
    before_local, before_s3 = local_files(local_root), s3_files(s3c, s3_bucket)
    assert any(TARGET in user_ids_in(k, v[0]) for k, v in before_local.items())
    with engine.connect() as conn:
        ledger_before = {
            (r.sync_id, r.day): r.exported_at for r in conn.execute(select(export_ledger))
        }

    client = TestClient(create_app(engine))
    auth = {"Authorization": f"Bearer {api_key}"}

    # --- access export first (the erasure must delete it later) ----------------------
    r = client.post("/v1/privacy/access-exports", json={"user_id": TARGET}, headers=auth)
    assert r.status_code == 202, r.text
    acc_id = r.json()["id"]
    result = tick(instance)
    (req,) = result.run_requests
    assert req.run_key == f"{acc_id}:1" and req.job_name == "access_export_job"
    assert run_requested(instance, req, good_resources()).success
    acc = client.get(f"/v1/privacy/access-exports/{acc_id}", headers=auth).json()
    assert acc["status"] == "completed", acc
    csv_path = local_root / f"_privacy/access/{acc_id}.csv"
    assert acc["result_location"] == f"file://{csv_path}"
    read = pd.read_csv(csv_path, encoding="utf-8-sig", dtype=str)
    profile, frame = read[read["record"] == "profile"], read[read["record"] == "event"]
    with engine.connect() as conn:
        expected = set(
            conn.execute(
                select(events.c.event_id).where(
                    events.c.workspace_id == ws, events.c.user_id == TARGET
                )
            ).scalars()
        )
    assert len(expected) == 4  # rows 3 and 16 of the first two days
    # one row per stored valid event: the invalid one (quarantined by the export) is not
    # in the file, and the request says how many were left out
    invalid = f"{ws}-{DAYS[0]}-000016"
    assert set(frame["event_id"]) == expected - {invalid} and len(frame) == len(expected) - 1
    assert acc["progress"]["steps"]["write_csv"]["events_invalid_excluded"] == 1
    assert set(frame["user_id"]) == {TARGET}
    assert all(isinstance(json.loads(p), dict) for p in frame["properties"])
    # the profile once, in its own row
    assert list(profile["profile_properties"]) == ['{"email": "x@example.com"}']
    assert list(profile["user_id"]) == [TARGET]

    # --- erasure: request, queued by the sensor, first run fails (S3 down) -----------
    r = client.post("/v1/privacy/erasures", json={"user_ids": [TARGET]}, headers=auth)
    assert r.status_code == 202, r.text
    rid = r.json()["id"]
    assert r.json()["status"] == "received"
    result = tick(instance, result.cursor)
    (req,) = result.run_requests
    assert req.run_key == f"{rid}:1" and req.job_name == "erasure_job"
    assert request_store.get_request(engine, rid).status == "queued"
    failed_run = run_requested(instance, req, dead_s3_resources())
    assert not failed_run.success
    ctx = dg.build_run_status_sensor_context(
        sensor_name="privacy_failure_sensor",
        dagster_instance=instance,
        dagster_run=failed_run.dagster_run,
        dagster_event=failed_run.get_run_failure_event(),
        resources={"store": EventStoreResource()},
    ).for_run_failure()
    privacy_failure_sensor(ctx)
    body = client.get(f"/v1/privacy/erasures/{rid}", headers=auth).json()
    assert body["status"] == "failed"
    assert failed_run.dagster_run.run_id in body["error"] and "127.0.0.1" in body["error"]
    progress = body["progress"]
    assert progress["steps"]["store"]["status"] == "done"
    assert progress["destinations"][local.id]["status"] == "done"
    assert progress["steps"]["exports"]["status"] == "failed"
    after_fail_local = local_files(local_root)
    # Suppression is in place already: nothing for the target goes out from now on.
    assert not (Path(csv_path)).exists()

    # --- retry through the API: attempt 2 completes without redoing finished work -----
    r = client.post(f"/v1/privacy/erasures/{rid}/retry", headers=auth)
    assert r.status_code == 202 and r.json()["status"] == "received"
    result = tick(instance, result.cursor)
    (req,) = result.run_requests
    assert req.run_key == f"{rid}:2"
    assert run_requested(instance, req, good_resources()).success
    done = client.get(f"/v1/privacy/erasures/{rid}", headers=auth).json()
    assert done["status"] == "completed" and done["verified_at"], done
    assert done["attempt"] == 2 and done["error"] is None
    dests = done["progress"]["destinations"]
    assert sorted(dests[local.id]["days_rewritten"]) == list(DAYS[:2])
    assert sorted(dests[s3.id]["days_rewritten"]) == list(DAYS[:2])
    assert dests[local.id]["rows_removed"] == 3  # 2 + 1 (the bogus row was quarantined)
    assert done["progress"]["steps"]["store"]["events_removed"] == 4
    # Local days were rewritten by attempt 1 only (same bytes and mtimes after attempt 2).
    assert local_files(local_root) == after_fail_local

    # --- independent read: no row of the target anywhere ------------------------------
    after_local, after_s3 = local_files(local_root), s3_files(s3c, s3_bucket)
    for files in (after_local, after_s3):
        for key, (data, _) in files.items():
            assert TARGET not in user_ids_in(key, data), key
            if "_manifests/" in key:
                assert TARGET not in data.decode()
    with engine.connect() as conn:
        for table in (events, user_profiles):
            n = conn.execute(
                select(func.count()).select_from(table).where(table.c.user_id == TARGET)
            ).scalar_one()
            assert n == 0
        assert not conn.execute(
            select(export_subjects).where(export_subjects.c.subject_id == TARGET)
        ).all()
        ledger_after = {
            (r.sync_id, r.day): r.exported_at for r in conn.execute(select(export_ledger))
        }
    for sync_id in (local.id, s3.id):
        for day in DAYS:
            path = staging_dir(sync_id, day) / "events.parquet"
            assert TARGET not in pq.read_table(path).column("user_id").to_pylist()
    assert (
        TARGET
        not in pq.read_table(quarantine_path(local.id, DAYS[0])).column("user_id").to_pylist()
    )

    # Only the days that held the target changed; the others are byte-identical.
    for before, after in ((before_local, after_local), (before_s3, after_s3)):
        for key, value in before.items():
            if day_of(key) == DAYS[2] or "/_schema." in key:
                assert after[key] == value, key
            elif day_of(key) in DAYS[:2]:
                assert after[key][0] != value[0], key
                # other users' rows are still there
                if "_manifests/" not in key:
                    users = user_ids_in(key, after[key][0])
                    assert len(users) in (24, 25) and "user-4" in users
    for (sync_id, day), at in ledger_before.items():
        assert (ledger_after[(sync_id, day)] != at) == (day in DAYS[:2]), (sync_id, day)
    # the access-export file of the target was deleted, and its request says so
    assert not csv_path.exists()
    assert done["progress"]["steps"]["access_exports"]["files_deleted"]
    acc = client.get(f"/v1/privacy/access-exports/{acc_id}", headers=auth).json()
    assert acc["status"] == "erased" and acc["result_location"] is None
    assert f"erasure {rid}" in acc["result_note"]

    # --- a late event for the erased user is refused at the door ---------------------
    late_event = {
        "event_id": "late-1",
        "event_type": "track",
        "event_name": "Late",
        "user_id": TARGET,
        "occurred_at": f"{DAYS[0]}T12:00:00Z",
    }
    late = client.post("/v1/events", json={"events": [late_event]}, headers=auth).json()
    assert late == {
        "accepted": 0,
        "rejected": [{"index": 0, "event_id": "late-1", "reason": "subject erased"}],
    }
    # ... and a row another writer puts into the store directly is never exported
    with engine.begin() as conn:
        insert_event_rows(conn, [event_row(ws, DAYS[0], 999, user_id=TARGET)])
    export(instance, local.id, DAYS[0])
    for key, (data, _) in local_files(local_root).items():
        assert TARGET not in user_ids_in(key, data), key

    # --- the audit trail names the API key id, never the key --------------------------
    log = request_store.audit_log(engine, rid)
    actions = [e["action"] for e in log]
    assert actions[0] == "received" and "completed" in actions and "failed" in actions
    key_id = api_key.split("_")[1]
    assert log[0]["actor"] == f"key:{key_id}"
    assert all(api_key not in json.dumps(e, default=str) for e in log)

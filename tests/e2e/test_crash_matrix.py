"""Crash-safe export on a real S3 server (Ceph radosgw): a real export process
(`tests/e2e/crash_child.py`) is SIGKILLed at chosen points, then either

- rerun: the day is exactly one copy, the manifest lists exactly the files present
  with their sha256, rows are the store's, no duplicate, no orphan multipart upload,
  the subject index covers the day, the files are byte-identical to a clean run; or
- erased: an erasure run right after the kill removes the subject from every object
  the killed export left (the write-ahead subject index sends it to the day).

The kill points are reached through a proxy between the exporter and radosgw that
holds the chosen request (or its answer) until the process is dead, so the point is
exact: during staging (no S3 traffic yet: the staging temp file is watched), between
the first data file and the second, between two parts of a multipart upload, between
the last data file and the manifest, and between the manifest and the ledger.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from eventsync.engine.staging import staging_dir
from eventsync.privacy import request_store, runner
from eventsync.store.schema import export_subjects
from eventsync.syncs.config import create_sync
from eventsync.workspaces import create_workspace
from tests.factories import insert_day
from tests.faultproxy import RESET_BEFORE, FaultProxy, Request
from tests.fixtures.ceph import CephS3

ROOT = Path(__file__).resolve().parents[2]
DAY = "2026-11-20"
ROWS = 40_000  # CSV and JSON lines above the 6 MiB multipart threshold: 5 MiB parts
ERASED = "user-3"
KILL_POINTS = ("staging", "between_files", "mid_multipart", "before_manifest", "after_manifest")


class Switch:
    """Holds the first request (or answer) that matches the kill point until the test
    has killed the exporter; then the request is dropped, never forwarded."""

    def __init__(self, point: str) -> None:
        self.point = point
        self.reached = threading.Event()
        self.release = threading.Event()
        self.armed = True

    def _hold(self) -> None:
        self.armed = False
        self.reached.set()
        self.release.wait(60)

    def plan(self, req: Request) -> str | None:
        if not self.armed or req.method not in ("PUT", "POST"):
            return None
        path = req.path
        hit = (
            (self.point == "between_files" and "/csv/events/" in path)
            or (self.point == "mid_multipart" and req.query.get("partNumber") == ["2"])
            or (self.point == "before_manifest" and "/_manifests/" in path)
        )
        if hit:
            self._hold()
            return RESET_BEFORE
        return None

    def rewrite(self, req: Request, status: int, headers: list, body: bytes) -> tuple[list, bytes]:
        # The manifest reached the server; its answer never reaches the exporter.
        if self.armed and self.point == "after_manifest" and "/_manifests/" in req.path:
            self._hold()
        return headers, body


@pytest.fixture
def scene(engine, ceph_s3: CephS3, es_home: Path, monkeypatch: pytest.MonkeyPatch):
    bucket = ceph_s3.bucket()
    ws = create_workspace(engine, "crash").workspace_id
    sync = create_sync(
        engine,
        ws,
        f"s3://{bucket}/exports",
        formats=["parquet", "csv", "jsonl"],
        compression="none",
        options=ceph_s3.kms_options(),
        sync_id="sync_crash",
    )
    reference = create_sync(
        engine,
        ws,
        f"s3://{bucket}/reference",
        formats=["parquet", "csv", "jsonl"],
        compression="none",
        options=ceph_s3.kms_options(),
        sync_id="sync_clean",
    )
    insert_day(engine, ws, DAY, ROWS)
    for name, value in ceph_s3.env(ceph_s3.rw).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("EVENTSYNC_MULTIPART_THRESHOLD_MB", "6")
    monkeypatch.setenv("EVENTSYNC_MULTIPART_PART_MB", "5")
    monkeypatch.setenv("EVENTSYNC_DEST_MAX_ATTEMPTS", "1")
    return {"bucket": bucket, "ws": ws, "sync": sync, "reference": reference}


def _child(sync_id: str, endpoint: str) -> subprocess.Popen[str]:
    env = {**os.environ, "EVENTSYNC_S3_ENDPOINT_URL": endpoint, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.e2e.crash_child", sync_id, DAY],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _export(sync_id: str, endpoint: str) -> dict:
    proc = _child(sync_id, endpoint)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def _kill_at(point: str, sync_id: str, ceph_s3: CephS3) -> FaultProxy:
    """Run the exporter through a proxy and SIGKILL it at `point`."""
    switch = Switch(point)
    proxy = FaultProxy(ceph_s3.url, plan=switch.plan, rewrite=switch.rewrite).start()
    proc = _child(sync_id, proxy.url)
    try:
        if point == "staging":
            folder = staging_dir(sync_id, DAY)
            deadline = time.monotonic() + 120
            while not list(folder.glob("*.tmp")) and proc.poll() is None:
                assert time.monotonic() < deadline, "staging never started"
                time.sleep(0.002)
        else:
            assert switch.reached.wait(120), f"the export never reached {point}"
        assert proc.poll() is None, f"the exporter ended before {point}: {proc.stderr.read()}"
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        switch.release.set()
        proc.kill()
        proxy.stop()
    return proxy


def _objects(ceph_s3: CephS3, bucket: str, prefix: str) -> dict[str, bytes]:
    client = ceph_s3.client(ceph_s3.rw)
    keys: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return {k: client.get_object(Bucket=bucket, Key=k)["Body"].read() for k in keys}


def _table(key: str, data: bytes):  # type: ignore[no-untyped-def]
    if key.endswith(".parquet"):
        return pq.read_table(io.BytesIO(data))
    if key.endswith(".csv"):
        return pacsv.read_csv(io.BytesIO(data))
    return pajson.read_json(io.BytesIO(data))


def _data(objects: dict[str, bytes]) -> dict[str, bytes]:
    return {k: v for k, v in objects.items() if f"/date={DAY}/part-" in k}


def _orphan_uploads(ceph_s3: CephS3, bucket: str) -> list[str]:
    resp = ceph_s3.client().list_multipart_uploads(Bucket=bucket)
    return [u["Key"] for u in resp.get("Uploads", [])]


@pytest.mark.parametrize("point", KILL_POINTS)
def test_a_rerun_after_a_kill_leaves_exactly_one_clean_copy(point, scene, ceph_s3, engine):
    bucket, sync = scene["bucket"], scene["sync"]
    _export(scene["reference"].id, ceph_s3.url)
    _kill_at(point, sync.id, ceph_s3)
    rerun = _export(sync.id, ceph_s3.url)
    if point == "mid_multipart":  # the killed run's upload, aborted by the rerun itself
        assert rerun["aborted"] == [f"exports/{sync.id}/csv/events/date={DAY}/part-00000.csv"]

    objects = _objects(ceph_s3, bucket, f"exports/{sync.id}/")
    doc = json.loads(objects[f"exports/{sync.id}/_manifests/date={DAY}.json"])
    data = _data(objects)
    listed = {f"exports/{f['key']}": f for f in doc["files"]}
    assert set(listed) == set(data), "the manifest lists exactly the files present"
    for key, entry in listed.items():
        assert hashlib.sha256(data[key]).hexdigest() == entry["sha256"]
        table = _table(key, data[key])
        ids = table.column("event_id").to_pylist()
        assert len(ids) == len(set(ids)) == ROWS == entry["rows"], key
    clean = _data(_objects(ceph_s3, bucket, f"reference/{scene['reference'].id}/"))
    assert {k.split("/", 2)[2]: v for k, v in data.items()} == {
        k.split("/", 2)[2]: v for k, v in clean.items()
    }, "byte-identical to a clean run"
    assert _orphan_uploads(ceph_s3, bucket) == []
    with engine.connect() as conn:
        users = set(
            conn.execute(
                select(export_subjects.c.subject_id).where(
                    export_subjects.c.sync_id == sync.id,
                    export_subjects.c.day == DAY,
                    export_subjects.c.subject_type == "user",
                )
            ).scalars()
        )
    assert users == {f"user-{i}" for i in range(13)}


@pytest.mark.parametrize("point", KILL_POINTS)
def test_an_erasure_after_a_kill_removes_the_subject_from_every_object(
    point, scene, ceph_s3, engine
):
    bucket, sync = scene["bucket"], scene["sync"]
    _kill_at(point, sync.id, ceph_s3)
    req = request_store.create_request(engine, scene["ws"], "erasure", [ERASED], [], "test")
    done = runner.run_all(engine, req.id, "test")
    assert done.status == "completed" and done.verified_at
    left = {
        key: _table(key, body).column("user_id").to_pylist().count(ERASED)
        for key, body in _data(_objects(ceph_s3, bucket, f"exports/{sync.id}/")).items()
    }
    assert not any(left.values()), left
    # The rerun of the killed export brings nothing of the subject back.
    _export(sync.id, ceph_s3.url)
    for key, body in _data(_objects(ceph_s3, bucket, f"exports/{sync.id}/")).items():
        assert ERASED not in _table(key, body).column("user_id").to_pylist(), key


def test_a_second_run_of_a_partition_in_flight_fails_naming_the_first(scene, ceph_s3, engine):
    """Two runs of one partition at once: the second ends with one clear line naming
    the run that has the partition; the first finishes, and the day is one copy."""
    sync = scene["sync"]
    held, release = threading.Event(), threading.Event()

    def plan(req: Request) -> str | None:
        if "/_manifests/" in req.path and not held.is_set():
            held.set()
            release.wait(60)  # the first run waits here, holding its partition
        return None

    proxy = FaultProxy(ceph_s3.url, plan=plan).start()
    first = _child(sync.id, proxy.url)
    try:
        assert held.wait(120), "the first run never reached its manifest"
        second = _child(sync.id, ceph_s3.url)
        _out, err = second.communicate(timeout=120)
        assert second.returncode != 0
        last = err.strip().splitlines()[-1]
        assert last == (
            f"eventsync.store.locks.PartitionBusy: partition {DAY}|{sync.id} is already being "
            f"exported by crash-child {first.pid}"
        ), last
    finally:
        release.set()
    _out, err = first.communicate(timeout=300)
    proxy.stop()
    assert first.returncode == 0, err[-2000:]
    objects = _objects(ceph_s3, scene["bucket"], f"exports/{sync.id}/")
    doc = json.loads(objects[f"exports/{sync.id}/_manifests/date={DAY}.json"])
    assert {f"exports/{f['key']}" for f in doc["files"]} == set(_data(objects))
    assert all(f["rows"] == ROWS for f in doc["files"])

"""Fault suite of the fencing (eventsync/store/fencing.py) on a real PostgreSQL store and
real S3 servers (moto_server and Ceph radosgw):

- every store connection of the database dropped (pg_terminate_backend) at each point
  of an export, a re-export and an erasure's rewrite;
- erasures interleaved with exports of the same day, hypothesis choosing the points
  (the erasure runs while the export has lost its locks: the defect of issue 20);
- kill -9 between the files of a re-export (a real child process);
- a full disk under the export's temp folder and under staging (a small tmpfs).

After each: no erased subject in any object, every complete manifest equals the files
(keys, rows, bytes, sha256) and its ledger row, every file of a day holds the same rows
(one generation), and a second run of the partition is refused while the first lives.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.pool import NullPool

from eventsync import checkpoints
from eventsync.engine import layout
from eventsync.engine.day_export import export_partition
from eventsync.engine.formats import staging_codec
from eventsync.engine.staging import StageResult, stage_day, staging_dir
from eventsync.ingest import insert_event_rows
from eventsync.privacy import request_store, runner
from eventsync.privacy.opener import default_opener
from eventsync.settings import database_url
from eventsync.store.connection import engine_for
from eventsync.store.locks import LockKind, LockLost, PartitionBusy
from eventsync.store.schema import day_fences, export_ledger, export_subjects
from eventsync.syncs.config import Sync, create_sync
from eventsync.workspaces import create_workspace
from tests.factories import event_row, insert_day
from tests.fixtures.s3_servers import S3Target

ROOT = Path(__file__).resolve().parents[2]
DAY = "2026-11-20"
ROWS = 60
MORE = 20  # rows a re-export adds
ERASED = "user-3"
FORMATS = ["parquet", "csv", "jsonl"]
EXPORT_POINTS = ["export.locked", "export.indexed", "export.uploaded", "export.published"]
REEXPORT_POINTS = [*EXPORT_POINTS[:2], "export.marked", *EXPORT_POINTS[2:], "export.cleaned"]
REWRITE_POINTS = ["rewrite.fenced", "rewrite.uploaded", "rewrite.published"]


# --- the scene ------------------------------------------------------------------------
@dataclass
class Scene:
    engine: Engine
    admin: Engine  # NullPool: never one of the connections it drops
    s3: S3Target
    bucket: str
    workspace_id: str
    sync: Sync

    def stage(self, day: str = DAY) -> StageResult:
        codec = staging_codec(self.sync.formats, self.sync.compression)
        return stage_day(
            database_url(),
            self.engine,
            self.sync.id,
            self.workspace_id,
            day,
            codec=codec,
            holder="first run",
        )

    def export(self, day: str = DAY, holder: str = "first run") -> Any:
        stage = self.stage(day)
        return export_partition(
            self.engine,
            stage,
            self.sync.formats,
            self.sync.compression,
            default_opener(self.sync),
            holder=holder,
        )

    def add_rows(self, day: str = DAY, start: int = ROWS) -> None:
        rows = [event_row(self.workspace_id, day, i) for i in range(start, start + MORE)]
        with self.engine.begin() as conn:
            insert_event_rows(conn, rows)

    def drop_connections(self) -> int:
        """Terminate every other session of the store's database, and wait until they
        are gone: pg_terminate_backend only signals, and a dying backend's locks stay in
        pg_locks until it exits (a check meanwhile would see the dropped lock held)."""
        with self.admin.connect() as conn:
            pids = list(
                conn.execute(
                    text(
                        "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                ).scalars()
            )
            deadline = time.monotonic() + 10
            while True:
                conn.rollback()  # pg_stat_activity is read once per transaction
                alive = conn.execute(
                    text("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(:p)"),
                    {"p": pids},
                ).scalar_one()
                if not alive:
                    return len(pids)
                assert time.monotonic() < deadline, f"{alive} terminated backends still run"
                time.sleep(0.01)

    def partition_lock_held(self, timeout: float = 10) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.admin.connect() as conn:
                held = conn.execute(
                    text(
                        "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid ="
                        " l.database WHERE l.locktype = 'advisory' AND l.granted"
                        " AND l.classid = CAST(:c AS oid) AND d.datname = current_database()"
                    ),
                    {"c": int(LockKind.PARTITION)},
                ).scalar_one()
            if held:
                return True
            time.sleep(0.05)
        return False

    def second_run_is_refused(self) -> None:
        """A second run of the partition, now: refused, naming the first."""
        assert self.partition_lock_held(), "the first run did not take its lock back"
        with pytest.raises(PartitionBusy, match="already being exported by first run"):
            export_partition(
                self.engine,
                StageResult.load(self.sync.id, DAY),
                self.sync.formats,
                self.sync.compression,
                default_opener(self.sync),
                holder="second run",
            )

    def erase(self, user: str = ERASED, listener: Callable[..., None] | None = None) -> None:
        """An erasure of `user`, retried until it completes (a fault may fail an
        attempt); run in a thread of its own: it holds no lock of the caller's."""
        req = request_store.create_request(
            self.engine, self.workspace_id, "erasure", [user], [], "test"
        )
        errors: list[BaseException] = []

        def run() -> None:
            try:
                with checkpoints.listening(listener) if listener else _nothing():
                    for _attempt in range(4):
                        try:
                            runner.run_all(self.engine, req.id, "test")
                            return
                        except Exception:
                            runner.retry(self.engine, req.id, "test")
            except BaseException as exc:
                errors.append(exc)

        worker = threading.Thread(target=run)
        worker.start()
        worker.join(300)
        assert not errors, errors
        done = request_store.get_request(self.engine, req.id)
        assert done.status == "completed" and done.verified_at, (done.status, done.error)

    def objects(self) -> dict[str, bytes]:
        client = self.s3.client(self.s3.rw)
        prefix = f"exports/{self.sync.id}/"
        keys: list[str] = []
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        ):
            keys += [o["Key"] for o in page.get("Contents", [])]
        return {k: client.get_object(Bucket=self.bucket, Key=k)["Body"].read() for k in keys}


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def _table(key: str, data: bytes):  # type: ignore[no-untyped-def]
    if key.endswith(".parquet"):
        return pq.read_table(io.BytesIO(data))
    if key.endswith(".csv"):
        return pacsv.read_csv(io.BytesIO(data))
    return pajson.read_json(io.BytesIO(data))


def check_day(scene: Scene, erased: set[str], day: str = DAY) -> dict[str, Any] | None:
    """The invariants of a day at the destination and in the store; its manifest."""
    objects = scene.objects()
    data = {k: v for k, v in objects.items() if f"/date={day}/part-" in k}
    ids: dict[str, list[str]] = {}
    users: set[str] = set()
    for key, body in data.items():
        table = _table(key, body)
        held = set(table.column("user_id").to_pylist())
        assert not held & erased, f"{key} holds an erased subject"
        users |= held
        ids[key] = sorted(table.column("event_id").to_pylist())
    with scene.engine.connect() as conn:
        ledger = conn.execute(
            select(export_ledger).where(
                export_ledger.c.sync_id == scene.sync.id, export_ledger.c.day == day
            )
        ).first()
        indexed = set(
            conn.execute(
                select(export_subjects.c.subject_id).where(
                    export_subjects.c.sync_id == scene.sync.id,
                    export_subjects.c.day == day,
                    export_subjects.c.subject_type == "user",
                )
            ).scalars()
        )
    # Whatever a file holds, an erasure finds the day (the write-ahead index).
    assert users <= indexed, users - indexed
    body = objects.get(f"exports/{layout.manifest_key(scene.sync.id, day)}")
    if body is None:
        assert ledger is None or ledger.status != "exported"
        return None
    doc = json.loads(body)
    if doc["status"] == "rewriting":
        assert doc["files"] == [] and ledger is not None
        assert ledger.status in ("rewriting", "failed") and json.loads(ledger.files) == []
        return doc
    assert doc["status"] == "complete"
    listed = {f"exports/{f['key']}": f for f in doc["files"]}
    assert set(listed) == set(data), "the manifest lists exactly the day's files"
    for key, entry in listed.items():
        assert hashlib.sha256(data[key]).hexdigest() == entry["sha256"], key
        assert len(data[key]) == entry["bytes"] and len(ids[key]) == entry["rows"], key
        assert entry["rows"] == doc["rows"], key
    assert len({tuple(v) for v in ids.values()}) == 1, "one generation: every format the same"
    assert ledger is not None and ledger.status == "exported"
    assert (ledger.rows, ledger.export_id) == (doc["rows"], doc["export_id"])
    assert json.loads(ledger.files) == doc["files"]
    return doc


def generations(scene: Scene, day: str = DAY) -> int:
    with scene.engine.connect() as conn:
        return conn.execute(
            select(day_fences.c.generation).where(
                day_fences.c.sync_id == scene.sync.id, day_fences.c.day == day
            )
        ).scalar_one()


@pytest.fixture
def make_scene(
    pg_store_url: str, s3_server: S3Target, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[], Scene]]:
    engine = engine_for(pg_store_url)
    admin = create_engine(pg_store_url, poolclass=NullPool)
    for name, value in {
        "EVENTSYNC_S3_ENDPOINT_URL": s3_server.url,
        "AWS_ACCESS_KEY_ID": s3_server.rw["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": s3_server.rw["aws_secret_access_key"],
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    options = (
        {} if s3_server.applies_sse_s3 else {"sse": "aws:kms", "kms_key_id": s3_server.kms_key_id}
    )
    bucket = s3_server.new_bucket()

    def make() -> Scene:
        ws = create_workspace(engine, f"faults-{uuid.uuid4().hex[:6]}").workspace_id
        sync = create_sync(
            engine,
            ws,
            f"s3://{bucket}/exports",
            formats=FORMATS,
            compression="none",
            options=options,
            sync_id=f"sync_{uuid.uuid4().hex[:10]}",
        )
        insert_day(engine, ws, DAY, ROWS)
        return Scene(engine, admin, s3_server, bucket, ws, sync)

    yield make
    admin.dispose()


@pytest.fixture
def scene(make_scene: Callable[[], Scene]) -> Scene:
    return make_scene()


def _at(point: str, action: Callable[[], None]) -> Callable[..., None]:
    """A listener that runs `action` the first time `point` is reached."""
    fired: list[str] = []

    def listener(reached: str, **_facts: Any) -> None:
        if reached == point and not fired:
            fired.append(reached)
            action()

    listener.fired = fired  # type: ignore[attr-defined]
    return listener


# --- connections dropped at each point -----------------------------------------------
def _export_with_a_drop_at(scene: Scene, point: str) -> Any:
    def drop() -> None:
        assert scene.drop_connections() >= 2  # the locks' connections at least
        scene.second_run_is_refused()

    listener = _at(point, drop)
    with checkpoints.listening(listener):
        result = scene.export()
    assert listener.fired, f"{point} was not reached"  # type: ignore[attr-defined]
    return result


def test_an_export_and_a_reexport_survive_a_drop_of_every_store_connection_anywhere(
    make_scene: Callable[[], Scene],
):
    """At each point the locks come back at once (a second run is refused meanwhile),
    the token is unchanged, and the export completes: a drop after the manifest does
    not fail a complete day. Staging that lost its locks fails instead, naming why (an
    erasure may have run meanwhile), and leaves no temp file."""
    scene = make_scene()
    with (
        checkpoints.listening(_at("staging.written", scene.drop_connections)),
        pytest.raises(LockLost, match="dropped while it was staged"),
    ):
        scene.stage()
    assert not list(staging_dir(scene.sync.id, DAY).glob("*.tmp"))
    for point in EXPORT_POINTS:  # first exports, one sync each
        scene = make_scene()
        assert _export_with_a_drop_at(scene, point).rows == ROWS, point
        doc = check_day(scene, set())
        assert doc is not None and doc["rows"] == ROWS, point
        assert generations(scene) == 1
    scene = make_scene()  # re-exports of one day, more rows each time
    scene.export()
    rows = ROWS
    for n, point in enumerate(REEXPORT_POINTS):
        scene.add_rows(start=rows)
        rows += MORE
        assert _export_with_a_drop_at(scene, point).rows == rows, point
        doc = check_day(scene, set())
        assert doc is not None and doc["rows"] == rows, point
        assert generations(scene) == n + 2


def test_an_erasure_completes_through_a_drop_of_every_store_connection_anywhere(
    make_scene: Callable[[], Scene],
):
    for point in REWRITE_POINTS:
        scene = make_scene()
        scene.export()
        listener = _at(point, scene.drop_connections)
        scene.erase(listener=listener)
        assert listener.fired, point  # type: ignore[attr-defined]
        doc = check_day(scene, {ERASED})
        assert doc is not None and doc["rows"] == ROWS - 5, point  # rows 3, 16, 29, 42, 55
        scene.export()  # the next run brings nothing back
        assert check_day(scene, {ERASED}) is not None


# --- erasures interleaved with exports ------------------------------------------------
@settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    reexport=st.booleans(),
    export_point=st.sampled_from(REEXPORT_POINTS),
    erasure_drop=st.sampled_from([None, *REWRITE_POINTS]),
)
# Once flaky: the erasure dropped the watcher's re-take of the partition lock too.
@example(reexport=True, export_point="export.indexed", erasure_drop="rewrite.fenced")
def test_an_erasure_while_an_export_lost_its_locks_is_never_undone(
    make_scene: Callable[[], Scene], reexport: bool, export_point: str, erasure_drop: str | None
):
    """The export loses every store connection (and so its locks) at `export_point`;
    an erasure of a subject of the day runs to completion meanwhile (itself losing its
    connections at `erasure_drop`). The export then either publishes a day without
    the subject or stops without publishing; the next run completes the day."""
    scene = make_scene()
    if reexport:
        scene.export()
        scene.add_rows()
    elif export_point in ("export.marked", "export.cleaned"):
        export_point = "export.uploaded"  # a first export has no marker

    def erase_meanwhile() -> None:
        scene.drop_connections()
        drop = _at(erasure_drop, scene.drop_connections) if erasure_drop else None
        scene.erase(listener=drop)

    with checkpoints.listening(_at(export_point, erase_meanwhile)):
        try:
            scene.export()
        except Exception as exc:  # stopped by the fence: it published nothing after
            assert "lost day" in str(exc) or "changed during its export" in str(exc), exc
    check_day(scene, {ERASED})
    scene.export()
    doc = check_day(scene, {ERASED})
    assert doc is not None and doc["status"] == "complete"


# --- kill -9 between the files of a re-export ------------------------------------------
def _child(scene: Scene, kill_at: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "EVENTSYNC_DATABASE_URL": scene.engine.url.render_as_string(hide_password=False),
    }
    args = [sys.executable, "-m", "tests.e2e.crash_child", scene.sync.id, DAY]
    return subprocess.run(
        args + ([kill_at] if kill_at else []),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize("s3_server", ["ceph"], indirect=True)
def test_a_reexport_killed_between_files_leaves_a_day_readers_skip(scene: Scene):
    scene.export()
    before = check_day(scene, set())
    scene.add_rows()
    killed = _child(scene, kill_at="export.uploaded")
    assert killed.returncode == -9, killed.stderr[-2000:]
    # One readable generation: the day is marked, listing nothing; the new first file
    # and the old others are there, and readers that follow the manifest skip the day.
    doc = check_day(scene, set())
    assert doc is not None and doc["status"] == "rewriting", doc
    # An erasure meanwhile cleans every part of the day, listed or not.
    scene.erase()
    assert check_day(scene, {ERASED})["status"] == "rewriting"  # type: ignore[index]
    done = _child(scene)
    assert done.returncode == 0, done.stderr[-2000:]
    after = check_day(scene, {ERASED})
    assert after is not None and after["status"] == "complete"
    assert after["rows"] == ROWS + MORE - 6 and after["export_id"] != before["export_id"]  # type: ignore[index]


# --- a full disk -----------------------------------------------------------------------
@contextmanager
def small_tmpfs(size: str) -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="eventsync-full-"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("s3_server", ["moto"], indirect=True)
def test_a_reexport_on_a_full_disk_fails_with_its_cause_and_leaves_no_temp_file(
    scene: Scene, monkeypatch: pytest.MonkeyPatch
):
    scene.export()
    # A day whose CSV alone is larger than the export's temp folder.
    rows = [
        event_row(scene.workspace_id, DAY, i, properties=json.dumps({"pad": "x" * 2000}))
        for i in range(ROWS, ROWS + 400)
    ]
    with scene.engine.begin() as conn:
        insert_event_rows(conn, rows)
    with small_tmpfs("256k") as tmp:
        monkeypatch.setattr(tempfile, "tempdir", str(tmp))
        # The cause, whoever raises it (DuckDB renders the CSV): not a lock's error.
        with pytest.raises(Exception, match="No space left on device"):
            scene.export()
        assert list(tmp.iterdir()) == [], "temp files left behind"
    monkeypatch.setattr(tempfile, "tempdir", None)
    doc = check_day(scene, set())
    assert doc is not None and doc["status"] == "rewriting"
    assert not list(staging_dir(scene.sync.id, DAY).glob(".export-*"))
    after = scene.export()  # room again: the next run completes the day
    assert after.rows == ROWS + 400
    assert check_day(scene, set())["status"] == "complete"  # type: ignore[index]


@pytest.mark.parametrize("s3_server", ["moto"], indirect=True)
def test_staging_on_a_full_disk_fails_with_its_cause_and_leaves_no_temp_file(
    scene: Scene, monkeypatch: pytest.MonkeyPatch
):
    rows = [
        event_row(scene.workspace_id, DAY, i, properties=json.dumps({"pad": os.urandom(900).hex()}))
        for i in range(ROWS, ROWS + 600)
    ]
    with scene.engine.begin() as conn:
        insert_event_rows(conn, rows)
    with small_tmpfs("384k") as data:
        monkeypatch.setenv("EVENTSYNC_DATA_DIR", str(data))
        with pytest.raises(OSError, match="No space left on device"):
            scene.stage()
        left = [p.name for p in data.rglob("*") if p.is_file() and p.suffix == ".tmp"]
        assert left == [], "temp files left behind"

"""Steps on Dagster's Celery executor, run by a real worker process against a real
broker on 127.0.0.1, through a real (filesystem) Dagster instance shared with it."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pytest

from eventsync.engine import layout
from eventsync.errors import ConfigError
from pipeline.executors import celery_queue, executor_from_env, executor_name
from tests.dagster_code.trivial import trivial_job_celery
from tests.fixtures.broker import Broker

ROOT = Path(__file__).resolve().parent.parent
DAY = "2026-11-20"


def test_executor_choice_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EVENTSYNC_EXECUTOR", raising=False)
    assert executor_name() == "in_process"
    assert executor_from_env().name == "in_process"
    assert executor_from_env("multiprocess").name == "multiprocess"
    assert executor_from_env("in_process").name == "in_process"
    assert executor_from_env("celery").name == "celery"
    monkeypatch.setenv("EVENTSYNC_EXECUTOR", "kubernetes")
    with pytest.raises(ConfigError) as err:
        executor_from_env()
    assert err.value.field == "EVENTSYNC_EXECUTOR"
    monkeypatch.setenv("EVENTSYNC_EXECUTOR", "multiprocess")
    monkeypatch.setenv("EVENTSYNC_MAX_CONCURRENT_STEPS", "zero")
    with pytest.raises(ConfigError, match="EVENTSYNC_MAX_CONCURRENT_STEPS"):
        executor_from_env()


@contextmanager
def running_worker(
    broker: Broker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[subprocess.Popen]:
    """`celery -A pipeline.celery_app worker` (what `make workers` runs) in the
    background with this test's environment (DAGSTER_HOME, store URL); stopped after."""
    marker_dir = tmp_path / "markers"
    marker_dir.mkdir()
    monkeypatch.setenv("EVENTSYNC_CELERY_BROKER", broker.url)
    monkeypatch.setenv("EVENTSYNC_CELERY_BACKEND", broker.backend)
    monkeypatch.setenv("EVENTSYNC_EXECUTOR", "celery")
    monkeypatch.setenv("EVENTSYNC_TEST_MARKER_DIR", str(marker_dir))
    log = tmp_path / "worker.log"
    celery = Path(sys.executable).parent / "celery"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                str(celery),
                "-A",
                "pipeline.celery_app",
                "worker",
                "-Q",
                celery_queue(),  # the deployment's queue (not Celery's or dagster's default)
                "--pool",
                "solo",
                "--prefetch-multiplier",
                "1",
                "--loglevel",
                "INFO",
                "-n",
                f"es-test-{os.getpid()}-{tmp_path.name}@%h",
            ],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while "ready." not in log.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"celery worker did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.3)
        proc.marker_dir = marker_dir  # type: ignore[attr-defined]
        proc.log = log  # type: ignore[attr-defined]
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def celery_worker(
    celery_broker: Broker, es_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[subprocess.Popen]:
    with running_worker(celery_broker, tmp_path, monkeypatch) as proc:
        yield proc


@pytest.mark.timeout(180)
def test_job_steps_run_in_a_celery_worker(celery_worker: subprocess.Popen) -> None:
    with dg.DagsterInstance.get() as instance:
        with dg.execute_job(dg.reconstructable(trivial_job_celery), instance=instance) as result:
            assert result.success
            assert result.output_for_node("write_marker") == "2"
        messages = [e.message for e in instance.all_logs(result.run_id) if e.message]
    assert any("in celery worker" in m for m in messages), messages
    marker = celery_worker.marker_dir / f"{result.run_id}.txt"  # type: ignore[attr-defined]
    value, pid = marker.read_text().split()
    assert value == "2"
    assert int(pid) == celery_worker.pid  # the step ran in the worker, not in this process
    assert "execute_plan" in celery_worker.log.read_text()  # type: ignore[attr-defined]


def _files(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.mark.timeout(300)
def test_same_partition_is_byte_identical_on_every_executor(
    celery_broker: Broker,
    es_home: Path,
    pg_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One day of one sync, event store on PostgreSQL, exported with the in-process,
    multiprocess and Celery executors (a real worker): the same bytes every time."""
    from eventsync.store.connection import engine_for, upgrade
    from eventsync.syncs.config import create_sync
    from eventsync.workspaces import create_workspace
    from tests.dagster_code import export as export_jobs
    from tests.factories import insert_day

    monkeypatch.setenv("EVENTSYNC_DATABASE_URL", pg_url)
    upgrade(pg_url)
    engine = engine_for(pg_url)
    ws = create_workspace(engine, "acme").workspace_id
    out = tmp_path / "bucket"
    sync = create_sync(engine, ws, str(out), formats=["parquet", "csv", "jsonl"])
    insert_day(engine, ws, DAY, 500, i7={"properties": "not json"})
    snapshots: dict[str, dict[str, str]] = {}
    with running_worker(celery_broker, tmp_path, monkeypatch), dg.DagsterInstance.get() as inst:
        for name in ("in_process", "multiprocess", "celery"):
            shutil.rmtree(out, ignore_errors=True)
            with dg.execute_job(
                dg.reconstructable(getattr(export_jobs, f"export_job_{name}")),
                instance=inst,
                tags={"dagster/partition": DAY, "eventsync/syncs": sync.id},
            ) as result:
                assert result.success, name
            messages = [e.message or "" for e in inst.all_logs(result.run_id)]
            assert any("in celery worker" in m for m in messages) == (name == "celery")
            assert any("Launching subprocess" in m for m in messages) == (name == "multiprocess"), (
                messages
            )
            snapshots[name] = _files(out)
    manifest_key = layout.manifest_key(sync.id, DAY)
    assert {manifest_key, layout.part_key(sync.id, "parquet", DAY, "zstd")} <= set(
        snapshots["in_process"]
    )
    assert snapshots["in_process"] == snapshots["multiprocess"] == snapshots["celery"]
    manifest = json.loads((out / manifest_key).read_text())
    assert manifest["rows"] == 499 and manifest["quarantined"] == 1


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_worker_killed_mid_step_loses_nothing_another_worker_finishes_it(
    es_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two workers on the deployment's queue; the one running the step is killed with
    SIGKILL: the task was not acknowledged (acks_late), the broker hands it to the other
    worker, and the run completes with no manual step."""
    import signal
    import threading

    from tests.dagster_code.slow_step import slow_job_celery
    from tests.fixtures.broker import _broker_for, _reachable

    # RabbitMQ hands an unacknowledged task back as soon as its worker's connection drops
    # (Redis only after its visibility timeout, an hour by default: docs/deploy.md).
    amqp = "amqp://guest:guest@127.0.0.1:5672//"
    if _reachable(amqp) is not None:
        pytest.fail(f"this test needs RabbitMQ on 127.0.0.1:5672: {_reachable(amqp)}")
    celery_broker = _broker_for(amqp)
    monkeypatch.setenv("EVENTSYNC_TEST_STEP_SECONDS", "8")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with (
        running_worker(celery_broker, tmp_path / "a", monkeypatch) as first,
        running_worker(celery_broker, tmp_path / "b", monkeypatch) as second,
    ):
        folders = [first.marker_dir, second.marker_dir]  # type: ignore[attr-defined]
        outcome: dict = {}

        def run() -> None:
            job = dg.reconstructable(slow_job_celery)
            with dg.DagsterInstance.get() as inst, dg.execute_job(job, instance=inst) as r:
                outcome["success"] = r.success
                outcome["pid"] = r.output_for_node("slow_step") if r.success else None

        thread = threading.Thread(target=run)
        thread.start()
        deadline = time.monotonic() + 90
        while not [p for f in folders for p in f.glob("started-*")]:
            assert time.monotonic() < deadline, "no worker started the step"
            time.sleep(0.2)
        (started,) = [p for f in folders for p in f.glob("started-*")]
        victim = first if int(started.name.split("-")[1]) == first.pid else second
        survivor = second if victim is first else first
        os.kill(victim.pid, signal.SIGKILL)
        thread.join(timeout=180)
        assert not thread.is_alive(), "the run never finished"
    assert outcome["success"] is True
    assert outcome["pid"] == survivor.pid
    assert int((survivor.marker_dir / "finished").read_text()) == survivor.pid  # type: ignore[attr-defined]
    assert not (victim.marker_dir / "finished").exists()  # type: ignore[attr-defined]

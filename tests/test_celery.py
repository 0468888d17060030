"""Steps on Dagster's Celery executor, run by a real worker process against a real
broker on 127.0.0.1, through a real (filesystem) Dagster instance shared with it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from pipeline.errors import ConfigError
from pipeline.executors import CELERY_QUEUE, executor_from_env, executor_name
from tests.dagster_code.trivial import trivial_job_on_configured_executor
from tests.fixtures.broker import Broker

ROOT = Path(__file__).resolve().parent.parent


def test_executor_choice_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EVENTSYNC_EXECUTOR", raising=False)
    assert executor_name() == "multiprocess"
    assert executor_from_env().name == "multiprocess"
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


@pytest.fixture
def celery_worker(
    celery_broker: Broker, es_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[subprocess.Popen]:
    """`celery -A pipeline.celery_app worker` (what `make workers` runs) in the
    background, sharing this test's DAGSTER_HOME; stopped afterwards."""
    marker_dir = tmp_path / "markers"
    marker_dir.mkdir()
    monkeypatch.setenv("EVENTSYNC_CELERY_BROKER", celery_broker.url)
    monkeypatch.setenv("EVENTSYNC_CELERY_BACKEND", celery_broker.backend)
    monkeypatch.setenv("EVENTSYNC_EXECUTOR", "celery")
    monkeypatch.setenv("EVENTSYNC_TEST_MARKER_DIR", str(marker_dir))
    log = tmp_path / "worker.log"
    celery = Path(sys.executable).parent / "celery"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(celery), "-A", "pipeline.celery_app", "worker", "-Q", CELERY_QUEUE,
             "--pool", "solo", "--prefetch-multiplier", "1", "--loglevel", "INFO",
             "-n", f"es-test-{os.getpid()}@%h"],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=out, stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while "ready." not in log.read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"celery worker did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.3)
    proc.marker_dir = marker_dir  # type: ignore[attr-defined]
    proc.log = log  # type: ignore[attr-defined]
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.timeout(180)
def test_job_steps_run_in_a_celery_worker(celery_worker: subprocess.Popen) -> None:
    with dg.DagsterInstance.get() as instance:
        with dg.execute_job(
            dg.reconstructable(trivial_job_on_configured_executor), instance=instance
        ) as result:
            assert result.success
            assert result.output_for_node("write_marker") == "2"
        messages = [
            e.message for e in instance.all_logs(result.run_id) if e.message
        ]
    assert any("in celery worker" in m for m in messages), messages
    marker = celery_worker.marker_dir / f"{result.run_id}.txt"  # type: ignore[attr-defined]
    value, pid = marker.read_text().split()
    assert value == "2"
    assert int(pid) == celery_worker.pid  # the step ran in the worker, not in this process
    assert "execute_plan" in celery_worker.log.read_text()  # type: ignore[attr-defined]

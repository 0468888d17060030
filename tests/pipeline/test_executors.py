"""The executor is chosen by EVENTSYNC_EXECUTOR: in-process by default, multiprocess with
an optional step limit, Celery reading its broker from the environment at run time."""

from __future__ import annotations

import dagster as dg
import pytest

from eventsync.errors import ConfigError
from pipeline.executors import celery_executor_config, executor_from_env, executor_name


def test_in_process_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EVENTSYNC_EXECUTOR", raising=False)
    assert executor_name() == "in_process"
    assert executor_from_env() is dg.in_process_executor


def test_an_unknown_executor_names_the_variable_and_the_choices() -> None:
    with pytest.raises(
        ConfigError, match="unknown executor 'threads'; choose from in_process"
    ) as e:
        executor_name("threads")
    assert e.value.field == "EVENTSYNC_EXECUTOR"


def test_multiprocess_is_limited_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EVENTSYNC_MAX_CONCURRENT_STEPS", raising=False)
    assert executor_from_env("multiprocess") is dg.multiprocess_executor
    monkeypatch.setenv("EVENTSYNC_MAX_CONCURRENT_STEPS", "2")
    limited = executor_from_env("multiprocess")
    assert limited is not dg.multiprocess_executor and limited.name == "multiprocess"
    monkeypatch.setenv("EVENTSYNC_MAX_CONCURRENT_STEPS", "0")
    with pytest.raises(ConfigError, match="EVENTSYNC_MAX_CONCURRENT_STEPS"):
        executor_from_env("multiprocess")


def test_a_set_broker_is_read_at_run_time_never_copied(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTSYNC_CELERY_BROKER", "redis://:secret@127.0.0.1:6379/0")
    monkeypatch.delenv("EVENTSYNC_CELERY_BACKEND", raising=False)
    config = celery_executor_config()
    assert config["broker"] == {"env": "EVENTSYNC_CELERY_BROKER"}
    assert config["backend"] == "rpc://"
    assert executor_from_env("celery").name == "celery"

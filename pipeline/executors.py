"""Which Dagster executor runs the steps of a run, chosen by configuration.

``EVENTSYNC_EXECUTOR``:

- ``in_process`` (default): every step in the run's own process. A run's steps are
  sequential (stage, then export), so a process per step buys nothing and costs the
  start-up of one: measured with `dagster asset materialize` of one 2,000-row day, a
  run took 3.5 s in-process against 8.3-9.3 s with the multiprocess executor;
- ``multiprocess``: one child process per step on the run's machine;
- ``celery``: steps are sent to a Celery broker (RabbitMQ or Redis) and executed by
  ``dagster_celery`` workers on any number of machines (``make workers``).

Celery settings: ``EVENTSYNC_CELERY_BROKER`` (RabbitMQ by default;
``redis://host:6379/0`` works too) and ``EVENTSYNC_CELERY_BACKEND`` (docs/configuration.md
has the defaults). When the variables are set, the
executor reads them at run time (``{"env": ...}``), so a broker password never lands
in run config or in the UI.
"""

from __future__ import annotations

from typing import Any, get_args

import dagster as dg

from eventsync import settings
from eventsync.errors import ConfigError

EXECUTORS: tuple[str, ...] = get_args(settings.Settings.model_fields["executor"].annotation)


def celery_queue() -> str:
    """The queue runs send every step to and workers listen on (EVENTSYNC_CELERY_QUEUE):
    one per deployment, so deployments sharing a broker never run each other's steps."""
    return settings.load().celery_queue


def executor_name(value: str | None = None) -> str:
    """The configured executor name, checked."""
    if value is None or not value.strip():
        return settings.load().executor
    name = value.strip()
    if name not in EXECUTORS:
        raise ConfigError(
            "EVENTSYNC_EXECUTOR", f"unknown executor {name!r}; choose from {', '.join(EXECUTORS)}"
        )
    return name


def _from_env_or_default(configured: settings.Settings, field: str) -> Any:
    """A configured value is read from the environment at run time (it may hold a
    password); the default is written as it is."""
    if configured.is_set(field):
        return {"env": settings.Settings.env_name(field)}
    return getattr(configured, field)


def celery_executor_config() -> dict[str, Any]:
    """Config for dagster_celery's ``celery_executor``; the same values the workers use."""
    configured = settings.load()
    return {
        "broker": _from_env_or_default(configured, "celery_broker"),
        "backend": _from_env_or_default(configured, "celery_backend"),
        # dagster_celery sends a step to its `dagster-celery/queue` tag, else to the app's
        # task_default_queue: this deployment's queue.
        "config_source": {"task_default_queue": configured.celery_queue},
    }


def executor_from_env(value: str | None = None) -> dg.ExecutorDefinition:
    """The executor to put on ``Definitions(executor=...)``."""
    name = executor_name(value)
    if name == "in_process":
        return dg.in_process_executor
    if name == "multiprocess":
        max_concurrent = settings.load().max_concurrent_steps
        if max_concurrent is None:
            return dg.multiprocess_executor
        return dg.multiprocess_executor.configured(
            {"max_concurrent": max_concurrent}, name="multiprocess"
        )
    from dagster_celery import celery_executor

    return celery_executor.configured(celery_executor_config(), name="celery")

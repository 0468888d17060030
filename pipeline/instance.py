"""The Dagster instance the CLI talks to: the same one `make demo` and `dagster`
commands run from the project use ($DAGSTER_HOME, else the project's dagster_home/,
see eventsync/settings.py). A home Dagster cannot use is one ConfigError naming
DAGSTER_HOME and the fix, not Dagster's traceback."""

from __future__ import annotations

import dagster as dg

from eventsync.errors import ConfigError
from eventsync.settings import PROJECT_ROOT, ensure_dagster_home


def dagster_instance() -> dg.DagsterInstance:
    home = ensure_dagster_home()
    try:
        return dg.DagsterInstance.get()
    except Exception as exc:  # a bad dagster.yaml, storage it cannot open...
        detail = " ".join(str(exc).split())[:500]
        raise ConfigError(
            "DAGSTER_HOME",
            f"the Dagster instance in {home} cannot be opened ({type(exc).__name__}: {detail}); "
            f"fix its dagster.yaml, or unset DAGSTER_HOME to use {PROJECT_ROOT / 'dagster_home'}",
        ) from None


# The daemon writes a heartbeat every 30 s; two missed ones and a margin mean it is gone.
HEARTBEAT_STALE_SECONDS = 75.0


def backfill_daemon_heartbeat_age(instance: dg.DagsterInstance) -> float | None:
    """Seconds since the backfill daemon's last heartbeat on this instance; None when
    no daemon ever ran on it."""
    import time

    beat = instance.get_daemon_heartbeats().get("BACKFILL")
    return None if beat is None else max(0.0, time.time() - beat.timestamp)


def daemon_problem(instance: dg.DagsterInstance, wait_seconds: float = 8.0) -> str | None:
    """Why no Dagster daemon will run a backfill on this instance, or None when one is
    heartbeating. Waits up to `wait_seconds` for a daemon that is just starting."""
    import time

    deadline = time.monotonic() + wait_seconds
    while True:
        age = backfill_daemon_heartbeat_age(instance)
        if age is not None and age <= HEARTBEAT_STALE_SECONDS:
            return None
        if time.monotonic() >= deadline:
            break
        time.sleep(1)
    seen = "never" if age is None else f"{age:.0f} s ago"
    return (
        f"no Dagster daemon is running on {instance.root_directory} (its last heartbeat: "
        f"{seen}): nothing will run the backfill until one starts (`make demo` runs one; "
        "or `dagster-daemon run` with the same DAGSTER_HOME; docs/deploy.md)"
    )

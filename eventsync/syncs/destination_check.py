"""`eventsync sync test S` and the check `sync create` runs before it stores a sync:
open the destination (plain factory, no Dagster) and probe it. Whatever goes wrong,
the result is a classified problem with a one-line message and the fix, never an
exception: errors the destination layer did not classify (a client that cannot even
be built, e.g. Google's DefaultCredentialsError without Application Default
Credentials) are classified here by their type."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import Engine

from eventsync.destinations import DestinationSettings, open_destination
from eventsync.destinations.probe import advice, check_destination, provider_of
from eventsync.engine import layout
from eventsync.settings import load
from eventsync.syncs.config import get_sync, require_not_deleted

_BY_TYPE = {  # exception class name -> problem, for errors raised before any request
    "DefaultCredentialsError": "bad_credentials",
    "RefreshError": "bad_credentials",
    "NoCredentialsError": "bad_credentials",
    "PartialCredentialsError": "bad_credentials",
    "NoRegionError": "bad_credentials",
    "EndpointConnectionError": "endpoint_unreachable",
    "ConnectTimeoutError": "endpoint_unreachable",
    "ConnectionError": "endpoint_unreachable",
}


def classify(exc: BaseException) -> str:
    """The problem an exception stands for (the destination layer's `reason` first)."""
    reason = getattr(exc, "reason", None)
    if isinstance(reason, str) and reason:
        return reason
    for cls in type(exc).__mro__:
        if cls.__name__ in _BY_TYPE:
            return _BY_TYPE[cls.__name__]
    return "refused" if isinstance(exc, PermissionError) else "error"


def _failed(destination: str, exc: BaseException) -> dict[str, Any]:
    problem = classify(exc)
    message = " ".join(str(exc).split()) or type(exc).__name__
    return {
        "ok": False,
        "destination": destination,
        "can_write": False,
        "problem": problem,
        "error": f"{type(exc).__name__}: {message}"[:1000],
        "advice": advice(problem, provider_of(destination)),
        "notes": [],
    }


def check_settings() -> DestinationSettings:
    """The destination settings of a check someone waits for: retried for
    EVENTSYNC_DEST_CHECK_RETRY_SECONDS, not for the length of an outage."""
    configured = load()
    return replace(
        DestinationSettings.from_settings(configured),
        retry_seconds=configured.dest_check_retry_seconds,
    )


def probe_destination(
    uri: str, options: dict[str, Any], sync_id: str, settings: Any = None
) -> dict[str, Any]:
    """Open a destination and check it can be written (with the configured encryption);
    list/read/delete are reported for information."""
    try:
        settings = settings or check_settings()
        destination = open_destination(uri, options, sync_id=sync_id, settings=settings)
        return check_destination(destination, layout.manifest_key(sync_id, "YYYY-MM-DD"))
    except Exception as exc:  # every failure becomes a classified result
        return _failed(uri, exc)


def run_sync_test(engine: Engine, sync_id: str, settings: Any = None) -> dict[str, Any]:
    """Probe an existing sync's destination."""
    sync = require_not_deleted(get_sync(engine, sync_id))
    return {
        "sync_id": sync.id,
        **probe_destination(sync.destination, sync.options, sync.id, settings),
    }


def one_line(result: dict[str, Any]) -> str:
    """A failed probe as one line: where, what, and the fix."""
    if result["ok"]:
        return f"{result['destination']}: ok"
    error = " ".join(str(result.get("error") or "").split())
    fix = f"; fix: {result['advice']}" if result.get("advice") else ""
    return f"{result['destination']}: {result['problem']}: {error}{fix}"


def destination_check(uri: str, options: dict[str, Any], sync_id: str) -> tuple[bool, str]:
    """The check `create_sync(check=...)` runs (eventsync.syncs.config.DestinationCheck)."""
    result = probe_destination(uri, options, sync_id)
    return result["ok"], one_line(result)

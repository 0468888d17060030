"""`eventsync sync test S` and the check `sync create` runs: open the sync's
destination (plain factory, no Dagster) and probe it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from pipeline.syncs.config import get_sync
from resources.destinations import open_destination
from resources.destinations.base import DestinationError
from resources.destinations.probe import ADVICE, check_destination


def run_sync_test(engine: Engine, sync_id: str, settings: Any = None) -> dict[str, Any]:
    """Open the sync's destination and check it; the result says what works."""
    sync = get_sync(engine, sync_id)
    try:
        destination = open_destination(
            sync.destination, sync.options, sync_id=sync.id, settings=settings
        )
    except DestinationError as exc:  # e.g. the role cannot be assumed
        return {
            "ok": False,
            "sync_id": sync.id,
            "destination": sync.destination,
            "can_write": False,
            "problem": getattr(exc, "reason", "bad_credentials"),
            "error": str(exc),
            "advice": ADVICE["bad_credentials"],
            "notes": [],
        }
    return {"sync_id": sync.id, **check_destination(destination)}

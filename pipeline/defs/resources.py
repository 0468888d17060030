"""The Dagster resources every code location and test uses, built in one place."""

from __future__ import annotations

from typing import Any

import dagster as dg

from resources.destinations.resource import DestinationsResource
from resources.settings import is_set
from resources.store import EventStoreResource


def store_resource() -> EventStoreResource:
    """The event store. Its URL may hold a password: when set, it is read from the
    environment at run time (EnvVar), never copied into run config."""
    if is_set("EVENTSYNC_DATABASE_URL"):
        return EventStoreResource(database_url=dg.EnvVar("EVENTSYNC_DATABASE_URL"))
    return EventStoreResource()


def build_resources() -> dict[str, Any]:
    return {"store": store_resource(), "destinations": DestinationsResource.from_env()}

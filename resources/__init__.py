"""The Dagster resources of the code location, defined and built in one place: the event
store (`EventStoreResource`) and the destinations (`DestinationsResource`, which takes
the fields of dagster-aws ``S3Resource`` and dagster-gcp ``GCSResource``)."""

from __future__ import annotations

from typing import Any

from resources.destination_resources import DestinationsResource, GCSConfig, S3Config
from resources.event_store import EventStoreResource, store_resource

__all__ = [
    "DestinationsResource",
    "EventStoreResource",
    "GCSConfig",
    "S3Config",
    "build_resources",
    "store_resource",
]


def build_resources() -> dict[str, Any]:
    return {"store": store_resource(), "destinations": DestinationsResource.from_env()}

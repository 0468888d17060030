"""The code location's resources, built in one place from the environment: the store
and the destinations every asset, job and sensor uses."""

from __future__ import annotations

import dagster as dg
import pytest
from sqlalchemy import Engine

from resources import DestinationsResource, EventStoreResource, build_resources


def test_a_run_gets_the_configured_store_and_destination_settings(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVENTSYNC_S3_ENDPOINT_URL", "http://127.0.0.1:9000")
    seen: dict[str, str | None] = {}

    @dg.asset
    def probe(store: EventStoreResource, destinations: DestinationsResource) -> None:
        seen["store"] = str(store.engine().url)
        seen["s3"] = destinations.settings().s3_endpoint_url

    assert dg.materialize([probe], resources=build_resources()).success
    assert seen == {"store": str(engine.url), "s3": "http://127.0.0.1:9000"}

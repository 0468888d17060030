"""The event store resource: the configured store's engine; a configured URL (it may
carry a password) reaches runs through the environment, never through run config."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy import Engine, text

from resources import EventStoreResource, store_resource


def test_a_set_url_is_an_env_var_not_a_value(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    resource = store_resource()
    assert resource.database_url == dg.EnvVar("EVENTSYNC_DATABASE_URL")
    monkeypatch.delenv("EVENTSYNC_DATABASE_URL")
    assert store_resource().database_url == ""


def test_an_asset_reads_the_configured_store_through_it(engine: Engine, es_home: Path) -> None:
    @dg.asset
    def workspaces_count(store: EventStoreResource) -> int:
        with store.engine().connect() as conn:
            return conn.execute(text("SELECT count(*) FROM workspaces")).scalar_one()

    result = dg.materialize([workspaces_count], resources={"store": store_resource()})
    assert result.output_for_node("workspaces_count") == 0
    assert "eventsync.db" not in str(result.dagster_run.run_config)

"""A sync's settings: validated field by field (the first wrong one named), the
destination fixed at creation, options merged on update, re-enabling clears a pause."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, update

from eventsync.errors import ConfigError, NotFound
from eventsync.store.schema import syncs
from eventsync.syncs.config import (
    DestinationRefused,
    create_sync,
    get_sync,
    list_syncs,
    update_sync,
)
from eventsync.syncs.destination_check import destination_check
from eventsync.workspaces import create_workspace


@pytest.fixture
def ws(engine: Engine) -> str:
    return create_workspace(engine, "acme").workspace_id


def test_a_role_gets_the_workspace_as_its_external_id(engine: Engine, ws: str) -> None:
    role = {"role_arn": "arn:aws:iam::123456789012:role/export"}
    sync = create_sync(engine, ws, "s3://bucket/exports", options=role)
    assert sync.options == {**role, "external_id": ws}
    assert sync.formats == ["parquet"] and sync.title == "Sync to s3://bucket/exports"


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"kms_key_id": "k"}, "kms_key_id"),
        ({"sse": "aws:kms", "gcs_kms_key_name": "k"}, "gcs_kms_key_name"),
        ({"region": "eu-west-1"}, "options.region"),
    ],
)
def test_options_that_do_not_fit_name_the_option(
    engine: Engine, ws: str, options: dict, field: str
) -> None:
    with pytest.raises(ConfigError) as info:
        create_sync(engine, ws, "s3://bucket/exports", options=options)
    assert info.value.field == field


def test_a_destination_the_check_refuses_is_not_stored(engine: Engine, ws: str, tmp_path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(DestinationRefused, match=r"\(to create the sync anyway: --no-check\)"):
        create_sync(engine, ws, str(blocker / "exports"), check=destination_check)
    assert list_syncs(engine, ws) == []


def test_update_merges_options_and_none_leaves_a_setting(engine: Engine, ws: str) -> None:
    sync = create_sync(engine, ws, "s3://bucket/exports", options={"sse": "aws:kms"})
    changed = update_sync(engine, sync.id, options={"kms_key_id": "key-1"}, title=None)
    assert changed.options == {"sse": "aws:kms", "kms_key_id": "key-1"}
    assert changed.title == sync.title


def test_enabling_a_paused_sync_clears_its_pause(engine: Engine, ws: str, tmp_path) -> None:
    sync = create_sync(engine, ws, str(tmp_path))
    with engine.begin() as conn:
        conn.execute(update(syncs).values(paused_reason="3 failures", consecutive_failures=3))
    assert list_syncs(engine, enabled_only=True) == []
    resumed = update_sync(engine, sync.id, enabled=True)
    assert (resumed.paused_reason, resumed.consecutive_failures) == (None, 0)
    assert [s.id for s in list_syncs(engine, enabled_only=True)] == [sync.id]


def test_another_workspaces_sync_is_not_found(engine: Engine, ws: str, tmp_path) -> None:
    sync = create_sync(engine, ws, str(tmp_path))
    other = create_workspace(engine, "other").workspace_id
    with pytest.raises(NotFound, match=f"sync '{sync.id}' not found"):
        get_sync(engine, sync.id, workspace_id=other)

"""Outside Dagster, privacy operations open a sync's destination from the sync itself."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from eventsync.destinations import LocalDestination
from eventsync.privacy.opener import default_opener
from eventsync.syncs.config import create_sync
from eventsync.workspaces import create_workspace


def test_the_default_opener_opens_the_syncs_own_destination(engine: Engine, tmp_path: Path) -> None:
    ws = create_workspace(engine, "acme").workspace_id
    sync = create_sync(engine, ws, str(tmp_path / "exports"))
    dest = default_opener(sync)
    assert isinstance(dest, LocalDestination)
    dest.put_bytes("probe.txt", b"x")
    assert (tmp_path / "exports" / "probe.txt").read_bytes() == b"x"

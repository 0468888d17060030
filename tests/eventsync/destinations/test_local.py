"""The local-folder destination: create-only writes and the temp files a killed run
leaves (its analogue of an unfinished multipart upload)."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from eventsync.destinations import DestinationExistsError, open_destination
from eventsync.destinations.local import TMP_PREFIX


def test_create_only_never_clobbers(tmp_path: Path) -> None:
    dest = open_destination(str(tmp_path / "out"), {}, sync_id="s_l")
    assert dest.put_bytes("_deletions/r1.json", b"first", create_only=True).key == (
        "_deletions/r1.json"
    )
    with pytest.raises(DestinationExistsError) as info:
        dest.put_bytes("_deletions/r1.json", b"second", create_only=True)
    assert isinstance(info.value, FileExistsError) and info.value.reason == "exists"
    assert dest.get_bytes("_deletions/r1.json") == b"first"
    assert dest.list("_deletions/") == ["_deletions/r1.json"]  # no temp file left behind


def test_abort_stale_uploads_removes_a_killed_runs_temp_files(tmp_path: Path) -> None:
    dest = open_destination(str(tmp_path / "out"), {}, sync_id="s_l")
    day = tmp_path / "out" / "s_l" / "events" / "date=2024-05-01"
    day.mkdir(parents=True)
    stale = day / f"{TMP_PREFIX}abc-part-00000.parquet"
    stale.write_bytes(b"half")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    live = day / f"{TMP_PREFIX}def-part-00001.parquet"
    live.write_bytes(b"being written")
    other_day = tmp_path / "out" / "s_l" / "events" / "date=2024-05-02"
    other_day.mkdir()
    (other_day / f"{TMP_PREFIX}x").write_bytes(b"")

    result = dest.abort_stale_uploads(
        "s_l/events/date=2024-05-01/", initiated_before=datetime.now(UTC) - timedelta(minutes=1)
    )
    assert result.permitted and result.kept == 1
    assert result.aborted == [f"s_l/events/date=2024-05-01/{stale.name}"]
    assert not stale.exists() and live.exists() and (other_day / f"{TMP_PREFIX}x").exists()

"""`eventsync sync test` and the check before `sync create`: whatever goes wrong is a
classified result with a one-line message and the fix, never an exception."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from eventsync.destinations import DestinationError
from eventsync.syncs.config import create_sync
from eventsync.syncs.destination_check import (
    classify,
    destination_check,
    probe_destination,
    run_sync_test,
)
from eventsync.workspaces import create_workspace


def test_a_writable_folder_passes_in_one_line(tmp_path: Path) -> None:
    assert destination_check(str(tmp_path), {}, "sync_a") == (True, f"file://{tmp_path}: ok")


def test_a_folder_that_cannot_be_written_is_a_classified_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    ok, line = destination_check(str(blocker / "exports"), {}, "sync_a")
    assert not ok
    assert line.startswith(f"file://{blocker}/exports: ")
    assert "\n" not in line


def test_an_unopenable_destination_is_a_result_not_an_exception() -> None:
    result = probe_destination("ftp://host/x", {}, "sync_a")
    assert (result["ok"], result["problem"], result["can_write"]) == (False, "error", False)
    assert "unsupported scheme 'ftp'" in result["error"]


@pytest.mark.parametrize(
    ("exc", "problem"),
    [
        (DestinationError("x", reason="no_such_bucket"), "no_such_bucket"),
        (PermissionError("denied"), "refused"),
        (ConnectionError("reset"), "endpoint_unreachable"),
        (RuntimeError("?"), "error"),
    ],
)
def test_errors_are_classified_by_reason_then_type(exc: BaseException, problem: str) -> None:
    assert classify(exc) == problem


def test_a_stored_sync_is_tested_by_its_id(engine: Engine, tmp_path: Path) -> None:
    ws = create_workspace(engine, "acme").workspace_id
    sync = create_sync(engine, ws, str(tmp_path))
    result = run_sync_test(engine, sync.id)
    assert (result["sync_id"], result["ok"], result["can_write"]) == (sync.id, True, True)

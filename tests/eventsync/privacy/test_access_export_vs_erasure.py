"""Access exports and erasures agree: an export whose file an erasure deleted, and an
export of an erased subject."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from click.testing import CliRunner
from sqlalchemy import Engine

from eventsync.cli import main
from eventsync.privacy import request_store, runner
from eventsync.privacy.access_export import HEADER, SUBJECT_ERASED_NOTE
from eventsync.workspaces import create_workspace
from tests.eventsync.privacy.scenario import TARGET, TARGET_EXPORTED_ROWS, seed
from tests.factories import insert_day

DAY = "2025-04-10"


def cli(*args: str) -> dict:
    result = CliRunner().invoke(main, [*args, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_access_export_without_sync_goes_to_the_local_privacy_folder(engine: Engine, es_home):
    ws = create_workspace(engine, "acme").workspace_id
    rows = insert_day(engine, ws, DAY, 26)
    out = cli("privacy", "export", "--workspace", ws, "--company-id", "company-2", "--now")
    assert out["status"] == "completed"
    path = es_home / "eventsync" / "privacy" / ws / "_privacy" / "access" / f"{out['id']}.csv"
    assert out["result_location"] == str(path)
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert sorted(frame["event_id"]) == sorted(
        r["event_id"] for r in rows if r["company_id"] == "company-2"
    )
    assert set(frame["company_id"]) == {"company-2"}
    # bad input names the problem, exit status 2
    bad = CliRunner().invoke(main, ["privacy", "export", "--workspace", ws])
    assert bad.exit_code == 2 and "name at least one user id or company id" in bad.output
    bad = CliRunner().invoke(
        main, ["privacy", "export", "--workspace", ws, "--user-id", "a", "--company-id", "b"]
    )
    assert bad.exit_code == 2 and "exactly one user or one company" in bad.output
    bad = CliRunner().invoke(main, ["privacy", "status", "era_nope"])
    assert bad.exit_code == 2 and "not found" in bad.output


def test_an_access_export_whose_file_an_erasure_deleted_says_so(
    engine: Engine, tmp_path: Path
) -> None:
    sync = seed(engine, tmp_path / "dest")
    acc = request_store.create_request(
        engine, sync.workspace_id, "access_export", [TARGET], [], "t"
    )
    acc = runner.run_all(engine, acc.id, "t")
    csv_path = tmp_path / "dest" / "_privacy" / "access" / f"{acc.id}.csv"
    assert acc.status == "completed" and acc.result_location == f"file://{csv_path}"
    assert len(pd.read_csv(csv_path, dtype=str)) == TARGET_EXPORTED_ROWS  # valid rows only
    era = request_store.create_request(engine, sync.workspace_id, "erasure", [TARGET], [], "t")
    era = runner.run_all(engine, era.id, "t")
    assert era.progress.steps["access_exports"].result["requests_removed"] == [acc.id]
    after = request_store.get_request(engine, acc.id)
    assert not csv_path.exists()
    assert after.status == "erased" and after.result_location is None
    assert f"file deleted by erasure {era.id}" in (after.result_note or "")


def test_an_access_export_after_the_erasure_is_empty_with_the_reason(
    engine: Engine, tmp_path: Path
) -> None:
    sync = seed(engine, tmp_path / "dest")
    era = request_store.create_request(engine, sync.workspace_id, "erasure", [TARGET], [], "t")
    runner.run_all(engine, era.id, "t")
    acc = request_store.create_request(
        engine, sync.workspace_id, "access_export", [TARGET], [], "t"
    )
    acc = runner.run_all(engine, acc.id, "t")
    assert acc.status == "completed" and acc.result_note == SUBJECT_ERASED_NOTE
    frame = pd.read_csv(tmp_path / "dest" / "_privacy" / "access" / f"{acc.id}.csv", dtype=str)
    assert frame.empty and list(frame.columns) == list(HEADER)
    assert acc.progress.steps["write_csv"].result["events"] == 0


def test_an_id_an_older_version_stored_with_a_tab_is_exported(
    engine: Engine, tmp_path: Path
) -> None:
    ws = create_workspace(engine, "acme").workspace_id
    legacy = "legacy\tuser\n2"
    insert_day(engine, ws, DAY, 4, i1={"user_id": legacy}, i2={"user_id": legacy})
    out = cli("privacy", "export", "--workspace", ws, "--user-id", legacy, "--now")
    assert out["status"] == "completed"
    frame = pd.read_csv(out["result_location"], dtype=str, keep_default_na=False)
    assert list(frame["user_id"]) == [legacy, legacy]

"""Access exports: the CSV of one subject, and how it agrees with erasures."""

from __future__ import annotations

import json

import pandas as pd
from click.testing import CliRunner
from sqlalchemy import Engine

from pipeline.cli import main
from pipeline.workspaces import create_workspace
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

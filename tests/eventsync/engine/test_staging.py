"""The staging area's own layout: erasure filters its partitions (summaries kept
true), verification reads them, retention removes old days."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq

from eventsync.engine import staging
from eventsync.settings import database_url
from eventsync.workspaces import create_workspace
from tests.eventsync.engine.conftest import staged_table


def put(sync_id: str, day: str) -> Path:
    path = staging.staged_path(sync_id, day)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(staged_table(), path)
    (path.parent / staging.SUMMARY_FILE).write_text(json.dumps({"valid": 3, "quarantined": 0}))
    return path


def test_partitions_lists_each_syncs_days(es_home):
    put("s1", "2024-05-01")
    put("s1", "2024-05-02")
    put("s2", "2024-05-01")
    found = [(s, d) for s, d, _ in staging.partitions("staging", ["s1"])]
    assert found == [("s1", "2024-05-01"), ("s1", "2024-05-02")]


def test_remove_subjects_rewrites_only_files_that_hold_them_and_adjusts_the_summary(es_home):
    held = put("s1", "2024-05-01")
    assert staging.remove_subjects("staging", ["s1"], {"u1"}, set()) == (1, 2)
    assert pq.read_table(held)["user_id"].to_pylist() == ["u2"]
    summary = json.loads((held.parent / staging.SUMMARY_FILE).read_text())
    assert summary["valid"] == 1 and summary["extra"]["erased_rows"] == 2
    mtime = held.stat().st_mtime_ns
    assert staging.remove_subjects("staging", ["s1"], {"u1"}, set()) == (0, 0)
    assert held.stat().st_mtime_ns == mtime
    assert staging.files_with_subjects("staging", ["s1"], {"u1"}, {"c1"}) == (1, [held])


def test_retention_removes_partitions_before_the_cutoff(es_home):
    old, kept = put("s1", "2024-04-30"), put("s1", "2024-05-01")
    assert staging.remove_partitions_before(["s1"], date(2024, 5, 1)) == 1
    assert not old.parent.exists() and kept.exists()


def test_a_day_s_invalid_share_limit_comes_from_the_settings_unless_given(engine, monkeypatch):
    ws = create_workspace(engine, "acme").workspace_id
    monkeypatch.setenv("EVENTSYNC_MAX_INVALID_SHARE", "0.5")
    assert (
        staging.stage_day(database_url(), engine, "s1", ws, "2024-05-01").max_invalid_share == 0.5
    )
    given = staging.stage_day(database_url(), engine, "s1", ws, "2024-05-01", max_invalid_share=0.2)
    assert given.max_invalid_share == 0.2

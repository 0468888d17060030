"""The canary scan: ids planted inside every free-text field of a subject's events
(event_name, pathname, hostname, session_id, user_agent, properties, and the ids
themselves), some of the events invalid so that quarantine reasons and checks see
them, go through the exports (Dagster assets, checks) and an erasure (erasure_job).
Afterwards none of them is anywhere in DAGSTER_HOME (the SQLite run, event-log and
schedule storage, compute logs), in the staging area's non-data files, or in the logs
the runs wrote."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy import Engine

from eventsync.privacy import request_store, runner
from eventsync.syncs.config import create_sync
from eventsync.workspaces import create_workspace
from pipeline.privacy_jobs import run_config
from pipeline.runs.tags import ATTEMPT_TAG, REQUEST_TAG
from tests.factories import insert_day
from tests.fixtures.dagster_env import materialize_day

pytestmark = pytest.mark.slow
DAYS = ("2026-11-20", "2026-11-21")
USER = "cnry-uid-5a1"
CANARIES = {
    "event_name": "cnry-en-7b2",
    "pathname": "cnry-pn-3c4",
    "hostname": "cnry-hn-9d8",
    "session_id": "cnry-si-1e6",
    "user_agent": "cnry-ua-2f0",
    "properties": "cnry-pr-4a7",
}


def _planted(i: int) -> dict:
    return {
        "user_id": USER,
        "event_name": f"/users/{CANARIES['event_name']}/settings",
        "pathname": f"/users/{CANARIES['pathname']}",
        "hostname": f"{CANARIES['hostname']}.example.com",
        "session_id": CANARIES["session_id"],
        "user_agent": f"Mozilla/5.0 ({CANARIES['user_agent']})",
        "properties": json.dumps({"email": CANARIES["properties"], "n": i}),
    }


def _invalid(i: int) -> dict:
    """Planted rows the export refuses (quarantined, with a reason per row)."""
    row = _planted(i)
    if i % 2:
        row["properties"] = "not json " + CANARIES["properties"]
    else:
        row["event_type"] = "bogus " + CANARIES["event_name"]
    return row


def _scan(root: Path, needles: list[str], skip: set[Path]) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if not path.is_file() or any(path.is_relative_to(s) for s in skip):
            continue
        data = path.read_bytes()
        found += [f"{path.relative_to(root)}: {n}" for n in needles if n.encode() in data]
    return found


def erasure_job_with_resources() -> dg.JobDefinition:
    from pipeline.definitions import defs

    return defs.get_job_def("erasure_job")


def test_no_planted_id_reaches_dagster_or_the_logs(
    engine: Engine,
    instance: dg.DagsterInstance,
    resources: dict,
    es_home: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    ws = create_workspace(engine, "acme").workspace_id
    sync = create_sync(engine, ws, str(tmp_path / "bucket"))
    for day in DAYS:
        planted = {f"i{i}": _planted(i) for i in range(0, 40, 4)}
        planted |= {f"i{i}": _invalid(i) for i in (1, 2)}  # 2 of 40 invalid: still exported
        insert_day(engine, ws, day, 40, **planted)
        result = materialize_day(
            instance,
            resources,
            day,
            sync.id,
            run_config={"ops": {"events_daily": {"config": {"max_invalid_share": 0.1}}}},
        )
        assert result.success
    req = request_store.create_request(engine, ws, "erasure", [USER], [], "test")
    req = runner.claim(engine, req.id, "test")
    recon = dg.reconstructable(erasure_job_with_resources)
    tags = {REQUEST_TAG: req.id, ATTEMPT_TAG: str(req.attempt)}
    with dg.execute_job(recon, instance, run_config=run_config(req.id), tags=tags) as run:
        assert run.success
    assert request_store.get_request(engine, req.id).status == "completed"

    needles = [USER, *CANARIES.values()]
    store = Path(engine.url.database or "")
    data_dir = es_home / "eventsync"
    # Dagster's storage and compute logs: everything under DAGSTER_HOME but the event
    # store (which keeps the privacy request) and eventsync's own data folder.
    found = _scan(es_home, needles, skip={store, data_dir})
    # The staging area: every file but the staged data itself (Parquet parts).
    staging_meta = [p for p in data_dir.rglob("*") if p.is_file() and p.suffix != ".parquet"]
    assert staging_meta or data_dir.exists()
    found += _scan(data_dir, needles, skip={p for p in data_dir.rglob("*.parquet")})
    found += [f"log: {n}" for n in needles if n in caplog.text]
    assert found == [], "planted ids outside the event store:\n" + "\n".join(found)

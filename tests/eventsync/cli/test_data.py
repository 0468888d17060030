"""`eventsync ingest` and `demo seed`: events in from a file (each rejected line kept
with its reason), deterministic demo data that is safe to write again."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import Engine, func, select

from eventsync.cli import main
from eventsync.store.schema import events
from eventsync.workspaces import create_workspace


def run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_a_file_is_ingested_and_its_bad_lines_kept_with_reasons(
    engine: Engine, tmp_path: Path
) -> None:
    ws = create_workspace(engine, "acme").workspace_id
    good = {
        "event_id": "e1",
        "event_type": "track",
        "event_name": "Clicked",
        "user_id": "u1",
        "occurred_at": "2025-03-01T10:00:00Z",
    }
    source = tmp_path / "events.jsonl"
    source.write_text(
        json.dumps(good) + "\n" + json.dumps({**good, "event_id": "e2", "user_id": ""}) + "\n"
    )
    result = CliRunner().invoke(main, ["ingest", "--workspace", ws, str(source)])
    rejects = tmp_path / "events.jsonl.rejects.jsonl"
    assert result.exit_code == 1, result.output  # a rejected line: exit status 1
    assert result.stdout == (
        f"1 events accepted, 1 rejected; rejected lines with reasons: {rejects}\n"
    )
    assert "1 of 2 lines rejected" in result.stderr
    (line,) = rejects.read_text().splitlines()
    assert "user_id" in json.loads(line)["reason"]


def test_demo_seed_writes_the_days_once(engine: Engine) -> None:
    first = json.loads(run("demo", "seed", "--days", "2", "--events-per-day", "30", "--json"))
    again = json.loads(run("demo", "seed", "--days", "2", "--events-per-day", "30", "--json"))
    with engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(events)).scalar_one()
    assert first["inserted"] == stored > 0
    assert (again["inserted"], again["skipped_existing"]) == (0, stored)

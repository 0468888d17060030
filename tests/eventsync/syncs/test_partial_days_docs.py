"""docs/destinations.md, "Complete and partial days": its DuckDB block, run verbatim
on a sync with a complete day, a partial day and a day being rewritten, reads exactly
the complete day's rows."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from eventsync.engine import layout
from eventsync.privacy.opener import default_opener
from eventsync.syncs.config import create_sync
from eventsync.syncs.export_days import Outcome
from eventsync.syncs.intraday import export_intraday, plan_intraday
from eventsync.workspaces import create_workspace
from tests.eventsync.privacy.scenario import export_days as export_complete
from tests.factories import insert_day

ROOT = Path(__file__).resolve().parents[3]
CLOSED, TODAY, REWRITING = "2026-11-19", "2026-11-20", "2026-11-18"


def docs_block() -> str:
    text = (ROOT / "docs/destinations.md").read_text()
    section = text[text.index("## Complete and partial days") : text.index("## Check a")]
    (code,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    return code


def test_the_duckdb_query_reads_only_complete_days(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "bucket"
    ws = create_workspace(engine, "acme").workspace_id
    sync = create_sync(engine, ws, str(root), frequency="hourly", formats=["parquet"])
    for day, n in ((CLOSED, 12), (TODAY, 7), (REWRITING, 5)):
        insert_day(engine, ws, day, n)
    export_complete(engine, sync, (CLOSED, REWRITING))
    (run,) = plan_intraday(datetime(2026, 11, 20, 9, tzinfo=UTC), [sync])
    (out,) = export_intraday(engine, str(engine.url), run, default_opener, holder="t")
    assert out.kind is Outcome.EXPORTED
    marker = root / layout.manifest_key(sync.id, REWRITING)  # as a failed re-export leaves it
    doc = json.loads(marker.read_text())
    marker.write_text(json.dumps({**doc, "status": "rewriting", "files": []}))

    (tmp_path / "exports").mkdir()
    (tmp_path / "exports/sync_ab12").symlink_to(root / sync.id)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(docs_block(), "docs/destinations.md", "exec"), namespace)
    events = namespace["events"]
    assert len(events) == 12
    assert {row[0].startswith(f"{ws}-{CLOSED}") for row in events} == {True}

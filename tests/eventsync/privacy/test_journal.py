"""A restore never resurrects: back the store up, erase a subject, restore the backup,
run the export the 03:00 job runs (events_daily + events_export through Dagster): not
one row of the subject leaves, on SQLite (sqlite3's online backup) and PostgreSQL
(pg_dump / pg_restore). The journal file lost as well: the destinations' copies bring
the erasure back. A wrong subject key stops the export; a lift after the erasure is
re-applied in order."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy import Engine, func, select

from eventsync.engine import layout
from eventsync.errors import ConfigError
from eventsync.privacy import journal, request_store, runner, suppressions
from eventsync.privacy.opener import default_opener
from eventsync.store.connection import engine_for, upgrade
from eventsync.store.schema import erasure_journal_applied, events, privacy_request_log
from eventsync.store.schema import suppressions as suppressions_table
from eventsync.syncs.config import Sync
from eventsync.syncs.export_days import Outcome, export_days
from resources import build_resources
from tests.eventsync.privacy.scenario import DAYS, TARGET, rows_of, seed
from tests.fixtures.dagster_env import materialize_day
from tests.fixtures.postgres import libpq_url


class Backup:
    """The operator's backup of the store: SQLite's online backup, or pg_dump."""

    def __init__(self, url: str, folder: Path) -> None:
        self.url, self.file = url, folder / "store.backup"

    def take(self) -> None:
        if self.url.startswith("sqlite"):
            src = sqlite3.connect(self.url.removeprefix("sqlite:///"))
            dst = sqlite3.connect(self.file)
            src.backup(dst)
            src.close(), dst.close()
        else:
            subprocess.run(
                ["pg_dump", "-Fc", "-f", str(self.file), libpq_url(self.url)], check=True
            )

    def restore(self) -> Engine:
        engine_for(self.url).dispose()
        if self.url.startswith("sqlite"):
            path = Path(self.url.removeprefix("sqlite:///"))
            for extra in ("-wal", "-shm"):
                Path(f"{path}{extra}").unlink(missing_ok=True)
            shutil.copyfile(self.file, path)
        else:
            subprocess.run(
                ["pg_restore", "--clean", "--if-exists", "--no-owner", "-d",
                 libpq_url(self.url), str(self.file)],
                check=True,
            )  # fmt: skip
        upgrade(self.url)
        return engine_for(self.url)


def _target_rows(engine: Engine, ws: str) -> int:
    with engine.connect() as conn:
        return conn.execute(
            select(func.count()).where(events.c.workspace_id == ws, events.c.user_id == TARGET)
        ).scalar_one()


def _exported_rows(root: Path, sync: Sync) -> list[dict]:
    """Every row of every file the days' manifests list, read back independently."""
    import json

    rows: list[dict] = []
    for day in DAYS:
        manifest = json.loads((root / layout.manifest_key(sync.id, day)).read_text())
        for f in manifest["files"]:
            rows += rows_of(f["key"], (root / f["key"]).read_bytes())
    return rows


def _erase(engine: Engine, ws: str, user: str) -> str:
    req = request_store.create_request(engine, ws, "erasure", [user], [], "test")
    done = runner.run_all(engine, req.id, "test")
    assert done.status == "completed", done.error
    return done.id


def _restore_drill(engine: Engine, url: str, tmp_path: Path) -> tuple[Engine, Sync, Path]:
    root = tmp_path / "dest"
    sync = seed(engine, root)
    backup = Backup(url, tmp_path)
    backup.take()
    _erase(engine, sync.workspace_id, TARGET)
    assert not [r for r in _exported_rows(root, sync) if r["user_id"] == TARGET]
    engine = backup.restore()
    # The restored store holds the subject again, and no suppression of them.
    assert _target_rows(engine, sync.workspace_id) > 0
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(suppressions_table)).scalar() == 0
    return engine, sync, root


@pytest.mark.slow
def test_backup_erase_restore_then_the_daily_job_exports_no_row_of_the_subject(
    store_url: str, tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    engine, sync, root = _restore_drill(engine_for(store_url), store_url, tmp_path)

    for day in DAYS:
        result = materialize_day(instance, build_resources(), day, sync.id)
        assert result.success
    rows = _exported_rows(root, sync)
    assert rows and not [r for r in rows if r["user_id"] == TARGET]
    assert {r["user_id"] for r in rows} >= {"user-1", "user-2"}
    # Re-applied: suppressed again, purged from the restored store, audited by entry.
    assert suppressions.is_suppressed(engine, sync.workspace_id, "user", TARGET)
    assert _target_rows(engine, sync.workspace_id) == 0
    with engine.connect() as conn:
        actions = list(
            conn.execute(
                select(privacy_request_log.c.action).where(
                    privacy_request_log.c.actor == journal.ACTOR
                )
            ).scalars()
        )
        sources = list(conn.execute(select(erasure_journal_applied.c.source)).scalars())
    assert actions == ["journal_reapplied_erase"] and sources == ["journal"]
    # Nothing left to do on the next run.
    assert journal.reconcile(engine) == []


def test_a_lost_journal_file_is_completed_from_the_destination_copies(
    engine: Engine, tmp_path: Path
) -> None:
    url = engine.url.render_as_string(hide_password=False)
    engine, sync, root = _restore_drill(engine, url, tmp_path)
    copies = list((root / journal.DESTINATION_PREFIX).glob("*.json"))
    assert len(copies) == 1
    journal.path().unlink()  # the data directory was restored, or lost, too
    from eventsync.engine.formats import staging_codec
    from eventsync.engine.staging import stage_day
    from eventsync.settings import database_url

    # Staged from the restored store (the subject's rows in it), then exported.
    for day in DAYS:
        stage_day(
            database_url(), engine, sync.id, sync.workspace_id, day,
            codec=staging_codec(sync.formats, sync.compression),
        )  # fmt: skip
    outcomes = list(
        export_days(engine, [(d, sync.id) for d in DAYS], default_opener, holder="test")
    )
    assert [o.kind for o in outcomes] == [Outcome.EXPORTED, Outcome.EXPORTED]
    rows = _exported_rows(root, sync)
    assert rows and not [r for r in rows if r["user_id"] == TARGET]
    assert [e.id for e in journal.read()] == [copies[0].stem]
    assert _target_rows(engine, sync.workspace_id) == 0


def _suppression_rows(engine: Engine) -> list[tuple]:
    with engine.connect() as conn:
        return sorted(map(tuple, conn.execute(select(suppressions_table)).all()))


def test_a_restore_gets_back_the_very_suppression_rows_the_erasure_wrote(
    store_url: str, tmp_path: Path
) -> None:
    engine = engine_for(store_url)
    sync = seed(engine, tmp_path / "dest")
    backup = Backup(store_url, tmp_path)
    backup.take()
    _erase(engine, sync.workspace_id, TARGET)
    written = _suppression_rows(engine)
    assert len(written) == 1
    engine = backup.restore()
    assert _suppression_rows(engine) == []
    assert len(journal.reconcile(engine)) == 1
    # Key id, request and time too: the journal entry's, which the erasure wrote with.
    assert _suppression_rows(engine) == written


def test_an_hourly_syncs_intraday_run_re_applies_the_journal_first(
    engine: Engine, tmp_path: Path
) -> None:
    from datetime import datetime, time

    from eventsync.settings import database_url
    from eventsync.syncs.config import update_sync
    from eventsync.syncs.intraday import IntradayRun, export_intraday

    url = engine.url.render_as_string(hide_password=False)
    engine, sync, _root = _restore_drill(engine, url, tmp_path)
    update_sync(engine, sync.id, frequency="hourly")
    end = datetime.combine(datetime.fromisoformat(DAYS[-1]), time(23, 59))
    run = IntradayRun(DAYS[-1], int(end.timestamp() * 1_000_000), (sync.id,))
    outcomes = list(export_intraday(engine, database_url(), run, default_opener, holder="t"))
    assert [o.kind for o in outcomes] == [Outcome.SUPERSEDED]  # the complete day stays
    assert suppressions.is_suppressed(engine, sync.workspace_id, "user", TARGET)
    assert _target_rows(engine, sync.workspace_id) == 0


def test_db_reapply_erasures_reads_the_destinations_after_a_restore(
    engine: Engine, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from eventsync.cli import main

    url = engine.url.render_as_string(hide_password=False)
    engine, sync, _root = _restore_drill(engine, url, tmp_path)
    journal.path().unlink()
    result = CliRunner().invoke(main, ["db", "reapply-erasures", "--from-destinations", "--json"])
    assert result.exit_code == 0, result.output
    import json

    out = json.loads(result.output)
    assert out["merged_from_destinations"] == 1 and len(out["reapplied"]) == 1
    assert _target_rows(engine, sync.workspace_id) == 0


def test_a_wrong_subject_key_stops_the_export_instead_of_resurrecting(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = engine.url.render_as_string(hide_password=False)
    engine, sync, _root = _restore_drill(engine, url, tmp_path)
    monkeypatch.setenv("EVENTSYNC_SUBJECT_KEY", "another-key-" + "x" * 32)
    with pytest.raises(ConfigError, match="EVENTSYNC_SUBJECT_KEY"):
        list(export_days(engine, [(DAYS[0], sync.id)], default_opener, holder="test"))
    assert _target_rows(engine, sync.workspace_id) > 0  # nothing applied under that key


def test_a_lift_after_the_erasure_is_re_applied_in_order(engine: Engine, tmp_path: Path) -> None:
    url = engine.url.render_as_string(hide_password=False)
    sync = seed(engine, tmp_path / "dest")
    backup = Backup(url, tmp_path)
    backup.take()
    _erase(engine, sync.workspace_id, TARGET)
    _erase(engine, sync.workspace_id, "user-5")
    suppressions.lift(engine, sync.workspace_id, "user", TARGET, "test", "consent")
    engine = backup.restore()
    assert [e.op for e in journal.reconcile(engine)] == ["erase", "erase", "lift"]
    assert not suppressions.is_suppressed(engine, sync.workspace_id, "user", TARGET)
    assert suppressions.is_suppressed(engine, sync.workspace_id, "user", "user-5")

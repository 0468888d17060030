"""The store's subject key: named and checked before an upgrade hashes anything, recorded
with the first keyed hash, and a process with another key refused (never a re-hash)."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from eventsync.cli import main
from eventsync.errors import ConfigError
from eventsync.privacy import suppressions
from eventsync.pseudonyms import key_id
from eventsync.store import subject_key
from eventsync.store.connection import engine_for, upgrade
from eventsync.workspaces import create_workspace

OTHER_KEY = "another-installation-key-" + "k" * 32


def _pre_0004_store_with_a_suppression(url: str) -> None:
    upgrade(url, "0002")
    with engine_for(url).begin() as conn:
        conn.execute(
            text("INSERT INTO suppressions VALUES ('ws_1', 'user', 'alice', 'era_1', 't')")
        )


def test_an_upgrade_that_would_hash_needs_the_key_named_and_refuses_another(
    es_home, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    url = os.environ["EVENTSYNC_DATABASE_URL"]
    _pre_0004_store_with_a_suppression(url)
    runner = CliRunner()
    unnamed = runner.invoke(main, ["db", "upgrade"])
    assert unnamed.exit_code != 0 and f"--subject-key-id {key_id()}" in unnamed.output
    wrong = runner.invoke(main, ["db", "upgrade", "--subject-key-id", "0123456789abcdef"])
    assert wrong.exit_code != 0 and "you named subject key 0123456789abcdef" in wrong.output
    with engine_for(url).connect() as conn:  # nothing was hashed or migrated
        assert conn.execute(text("SELECT subject_id FROM suppressions")).scalar() == "alice"
    ok = runner.invoke(main, ["db", "upgrade", "--subject-key-id", key_id(), "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["subject_key_id"] == key_id()
    with engine_for(url).connect() as conn:
        assert subject_key.stored(conn) == key_id()  # recorded by 0015 from the hashes

    # Another shell, another key: the upgrade and every process refuse, nothing re-hashed.
    monkeypatch.setenv("EVENTSYNC_SUBJECT_KEY", OTHER_KEY)
    again = runner.invoke(main, ["db", "upgrade"])
    assert again.exit_code != 0 and "were made with subject key" in again.output
    with pytest.raises(ConfigError, match="EVENTSYNC_SUBJECT_KEY"):
        subject_key.check(engine_for(url))


def test_hashes_of_another_key_refuse_an_upgrade_before_the_key_is_recorded(
    es_home, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """A store from before `store_meta` whose suppressions were hashed with another key:
    the upgrade would record no key (two of them) and hash requests with the wrong one."""
    url = os.environ["EVENTSYNC_DATABASE_URL"]
    upgrade(url, "0011_hashed_request_subjects")
    theirs = key_id()
    with engine_for(url).begin() as conn:
        conn.execute(
            text("INSERT INTO suppressions VALUES ('ws_1', 'user', 'h', :k, 'era_1', 't')"),
            {"k": theirs},
        )
    monkeypatch.setenv("EVENTSYNC_SUBJECT_KEY", OTHER_KEY)
    with pytest.raises(ConfigError, match=f"were made with subject key {theirs}"):
        upgrade(url, "head")
    monkeypatch.delenv("EVENTSYNC_SUBJECT_KEY")
    upgrade(url, "head")
    with engine_for(url).connect() as conn:
        assert subject_key.stored(conn) == theirs


def test_the_first_keyed_hash_records_the_key_and_a_wrong_key_cannot_start(
    engine, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    ws = create_workspace(engine, "acme").workspace_id
    with engine.connect() as conn:
        assert subject_key.stored(conn) is None
    suppressions.add(engine, ws, "era_1", [("user", "alice")])
    with engine.connect() as conn:
        assert subject_key.stored(conn) == key_id()
    monkeypatch.setenv("EVENTSYNC_SUBJECT_KEY", OTHER_KEY)
    started = CliRunner().invoke(main, ["api", "--port", "1"])
    assert started.exit_code != 0 and "EVENTSYNC_SUBJECT_KEY" in started.output
    assert "re-hashed" in started.output

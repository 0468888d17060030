"""Keyed hashes of subject ids: stable for one installation's secret, unrelated across
workspaces and subject types, and the secret itself kept owner-readable only."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from eventsync.errors import ConfigError
from eventsync.pseudonyms import key_id, key_path, subject_hash


def test_equal_ids_of_other_workspaces_or_types_hash_apart(es_home: Path) -> None:
    h = subject_hash("ws_1", "user", "u-1")
    assert h == subject_hash("ws_1", "user", "u-1") and len(h) == 64
    assert h != subject_hash("ws_2", "user", "u-1")
    assert h != subject_hash("ws_1", "company", "u-1")
    assert "u-1" not in h


def test_the_secret_file_is_created_once_readable_by_the_owner_only(es_home: Path) -> None:
    assert not key_path().exists()
    first = key_id()
    assert stat.S_IMODE(key_path().stat().st_mode) == 0o600
    assert key_id() == first


def test_the_environment_secret_wins_and_no_key_file_is_written(
    es_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVENTSYNC_SUBJECT_KEY", "a secret shared by every machine here")
    from_env = subject_hash("ws_1", "user", "u-1")
    assert not key_path().exists()
    monkeypatch.delenv("EVENTSYNC_SUBJECT_KEY")
    assert subject_hash("ws_1", "user", "u-1") != from_env


def test_a_truncated_key_file_is_a_config_error_naming_it(es_home: Path) -> None:
    key_path().parent.mkdir(parents=True)
    key_path().write_bytes(b"short")
    with pytest.raises(ConfigError, match="truncated; restore it from backup"):
        key_id()

"""Workspaces' API keys: scopes, names, expiry, listing, last use, verification cost,
and keys created before migration 0003 keeping full scope."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select, text

from eventsync import keys, workspaces
from eventsync.cli import main
from eventsync.errors import ConfigError
from eventsync.store.connection import engine_for, upgrade
from eventsync.store.schema import api_keys
from eventsync.workspaces import create_key, create_workspace, list_keys, revoke_key, verify_key


def test_a_key_gets_the_scopes_name_and_expiry_asked_for(engine: Engine) -> None:
    ws = create_workspace(engine, "acme").workspace_id
    key = create_key(
        engine, ws, ["privacy:read", "events:write"], name="tracker", expires_in_days=7
    )
    row = next(k for k in list_keys(engine, ws) if k["id"] == keys.split_key(key)[0])
    assert row["scopes"] == ["events:write", "privacy:read"]  # stored in canonical order
    assert row["name"] == "tracker" and row["expires_at"] > row["created_at"]
    assert "key_hash" not in row and "salt" not in row
    info, reason = verify_key(engine, key)
    assert info is not None and info.scopes == {"events:write", "privacy:read"}, reason


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scopes": ["events:read"]}, "unknown scope 'events:read'"),
        ({"scopes": []}, "give at least one scope"),
        ({"expires_in_days": 0}, "expires_in_days: must be between 1 and 3650"),
        ({"name": " "}, "name: must be a non-empty string"),
    ],
)
def test_bad_key_settings_are_named(engine: Engine, kwargs: dict, message: str) -> None:
    ws = create_workspace(engine, "acme").workspace_id
    with pytest.raises(ConfigError, match=message):
        create_key(engine, ws, **kwargs)


def test_the_workspace_key_has_the_default_scopes(engine: Engine) -> None:
    ws = create_workspace(engine, "acme")
    (row,) = list_keys(engine, ws.workspace_id)
    assert row["scopes"] == keys.DEFAULT_SCOPES.split()


def test_last_use_is_written_at_most_once_a_minute(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVENTSYNC_KEY_CACHE_SECONDS", "0")
    ws = create_workspace(engine, "acme")
    key_id = keys.split_key(ws.api_key)[0]
    workspaces._last_used.pop(key_id, None)
    assert list_keys(engine, ws.workspace_id)[0]["last_used_at"] is None
    verify_key(engine, ws.api_key)
    first = list_keys(engine, ws.workspace_id)[0]["last_used_at"]
    assert first is not None
    verify_key(engine, ws.api_key)
    assert list_keys(engine, ws.workspace_id)[0]["last_used_at"] == first


def test_a_verified_key_costs_no_slow_hash_again(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = create_workspace(engine, "acme").api_key
    calls = []
    real = keys.verify
    monkeypatch.setattr(keys, "verify", lambda *a: calls.append(1) or real(*a))
    for _ in range(3):
        assert verify_key(engine, key)[0] is not None
    assert len(calls) == 1
    # A wrong secret for the same key id is a different fingerprint: hashed, refused.
    assert verify_key(engine, key[:-3] + "xyz")[0] is None
    assert len(calls) == 2


def test_revoke_evicts_the_cached_key(engine: Engine) -> None:
    key = create_workspace(engine, "acme").api_key
    assert verify_key(engine, key)[0] is not None
    revoke_key(engine, key)
    assert verify_key(engine, key) == (None, "invalid or revoked API key")


def test_keys_from_before_0003_keep_full_scope(pg_url: str) -> None:
    upgrade(pg_url, "0002")
    engine = engine_for(pg_url)
    old = keys.new_key()
    with engine.begin() as conn:  # a key as revision 0002 stored it: no scopes column
        conn.execute(
            text(
                "INSERT INTO api_keys (id, workspace_id, salt, key_hash, created_at) "
                "VALUES (:id, 'ws_old', :salt, :hash, '2025-01-01')"
            ),
            {"id": old.key_id, "salt": old.salt, "hash": old.key_hash},
        )
    upgrade(pg_url)
    with engine.connect() as conn:
        scopes = conn.execute(select(api_keys.c.scopes)).scalar_one()
    assert scopes.split() == keys.DEFAULT_SCOPES.split()


def test_cli_key_create_list_revoke(engine: Engine) -> None:
    ws = create_workspace(engine, "acme").workspace_id
    runner = CliRunner()
    out = runner.invoke(
        main,
        [
            "key",
            "create",
            "--workspace",
            ws,
            "--scope",
            "events:write",
            "--name",
            "web",
            "--expires-in-days",
            "30",
            "--json",
        ],
    )
    assert out.exit_code == 0, out.output
    made = json.loads(out.output)
    assert made["scopes"] == ["events:write"] and made["api_key"].startswith("esk_")
    listed = json.loads(runner.invoke(main, ["key", "list", "--workspace", ws, "--json"]).output)
    assert [k["id"] for k in listed][-1] == made["id"]
    assert all("api_key" not in k for k in listed)
    human = runner.invoke(main, ["key", "list", "--workspace", ws]).output
    assert f"{made['id']}  web  [events:write]  active" in human
    assert runner.invoke(main, ["key", "revoke", made["id"]]).exit_code == 0
    assert verify_key(engine, made["api_key"])[0] is None
    bad = runner.invoke(main, ["key", "create", "--workspace", ws, "--scope", "admin"])
    assert bad.exit_code == 2 and "admin" in bad.output

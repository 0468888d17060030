"""`eventsync db`, `workspace` and `key`: create the store, a workspace with its first
key, and keys that are shown once, listed without their secret, revoked by id or key."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import Engine, inspect

from eventsync.cli import main
from eventsync.store.connection import engine_for
from eventsync.workspaces import authenticate, create_workspace


def run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_db_upgrade_creates_the_configured_store(es_home: Path) -> None:
    out = json.loads(run("db", "upgrade", "--json"))
    from eventsync.pseudonyms import key_id

    assert out == {
        "database": f"sqlite:///{es_home / 'eventsync.db'}",
        "revision": "head",
        "subject_key_id": key_id(),
        "key": f"the key file {es_home / 'eventsync' / 'keys' / 'subject.key'}",
    }
    assert "workspaces" in inspect(engine_for(out["database"])).get_table_names()


def test_a_new_workspace_comes_with_a_working_key(engine: Engine) -> None:
    out = json.loads(
        run("workspace", "create", "--name", "Acme", "--retention-days", "30", "--json")
    )
    assert (out["name"], out["retention_days"]) == ("Acme", 30)
    assert authenticate(engine, out["api_key"]) == out["workspace_id"]


def test_a_quiet_key_is_the_key_alone_and_the_list_never_shows_it(engine: Engine) -> None:
    ws = create_workspace(engine, "acme").workspace_id
    key = run(
        "key", "create", "--workspace", ws, "--scope", "events:write", "--name", "ci", "-q"
    ).strip()
    assert authenticate(engine, key) == ws
    listed = run("key", "list", "--workspace", ws)
    secret = key.split("_", 2)[2]  # the secret may itself hold "_"
    assert "ci  [events:write]  active" in listed and secret not in listed


def test_a_key_revoked_by_its_full_text_stops_working(engine: Engine) -> None:
    ws = create_workspace(engine, "acme")
    key_id = ws.api_key.split("_")[1]
    assert run("key", "revoke", ws.api_key) == f"revoked key {key_id}\n"
    assert authenticate(engine, ws.api_key) is None
    assert "revoked" in run("key", "list", "--workspace", ws.workspace_id)

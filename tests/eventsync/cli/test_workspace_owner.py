"""`eventsync workspace create --owner-email` and `workspace invite`: the console's
first owner gets a one-time invitation link, printed once and stored hashed."""

from __future__ import annotations

import json

from click.testing import CliRunner
from sqlalchemy import Engine, select

from eventsync.accounts import tokens
from eventsync.cli import main
from eventsync.store.account_tables import console_tokens


def test_workspace_create_prints_an_owner_invitation_once(engine: Engine, monkeypatch) -> None:
    monkeypatch.setenv("EVENTSYNC_CONSOLE_URL", "https://eventsync.example.com/console")
    result = CliRunner().invoke(
        main, ["workspace", "create", "--name", "Acme", "--owner-email", "Boss@Acme.test", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    link = data["owner_invitation"]
    assert link.startswith("https://eventsync.example.com/console/invitations/")
    token = link.rsplit("/", 1)[1]
    found = tokens.peek(engine, tokens.INVITATION, token)
    assert (found.workspace_id, found.email, found.role) == (
        data["workspace_id"],
        "boss@acme.test",
        "owner",
    )
    with engine.connect() as conn:
        assert token not in repr(conn.execute(select(console_tokens)).all())


def test_a_bad_owner_address_creates_nothing(engine: Engine) -> None:
    result = CliRunner().invoke(
        main, ["workspace", "create", "--name", "Acme", "--owner-email", "nope"]
    )
    assert result.exit_code == 2
    assert "email: enter an e-mail address" in result.output


def test_workspace_invite_names_the_role(engine: Engine) -> None:
    created = json.loads(
        CliRunner().invoke(main, ["workspace", "create", "--name", "Acme", "--json"]).output
    )
    result = CliRunner().invoke(
        main,
        [
            "workspace",
            "invite",
            "--workspace",
            created["workspace_id"],
            "--email",
            "dev@acme.test",
            "--role",
            "developer",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    token = json.loads(result.output)["invitation"].rsplit("/", 1)[1]
    assert tokens.peek(engine, tokens.INVITATION, token).role == "developer"

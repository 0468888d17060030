"""Migration 0009_totp_sealed: TOTP secrets stored as they were are sealed with the
installation's TOTP key; the console reads them as before; a downgrade unseals them.
A process with another key is told so, naming EVENTSYNC_TOTP_KEY."""

from __future__ import annotations

import os
from pathlib import Path

import pyotp
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text

import eventsync.store.connection as store
from eventsync.accounts import members, mfa
from eventsync.errors import ConfigError
from eventsync.store.connection import engine_for, upgrade
from eventsync.store.totp_sealing import PREFIX, key_path, seal, unseal


def _stored(engine, account_id: str) -> str:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT totp_secret FROM console_accounts WHERE id = :i"), {"i": account_id}
        ).scalar_one()


def test_plain_secrets_are_sealed_on_upgrade_and_unsealed_on_downgrade(es_home) -> None:  # type: ignore[no-untyped-def]
    url = os.environ["EVENTSYNC_DATABASE_URL"]
    upgrade(url, "0008")
    engine = engine_for(url)
    plain = pyotp.random_base32()
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO console_accounts (id, email, must_change_password, totp_secret,"
                " created_at) VALUES ('acc_1', 'a@b.test', false, :s, 't')"
            ),
            {"s": plain},
        )
    upgrade(url, "head")
    stored = _stored(engine, "acc_1")
    assert stored.startswith(PREFIX) and plain not in stored
    assert members.get_account(engine, "acc_1").totp_secret == plain
    assert (key_path().stat().st_mode & 0o777) == 0o600

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(store.__file__).parent / "migrations"))
    cfg.attributes["engine"] = engine
    command.downgrade(cfg, "0008")
    assert _stored(engine, "acc_1") == plain


def test_enrollment_stores_the_secret_sealed(engine, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    account = members.create_account(engine, "m@b.test", "Canary-Passw0rd-7f3a9c")
    secret = mfa.pending_secret(engine, account.id)
    assert secret not in _stored(engine, account.id)
    assert mfa.pending_secret(engine, account.id) == secret  # read back unsealed

    monkeypatch.setenv("EVENTSYNC_TOTP_KEY", "another-key-of-at-least-32-characters!")
    with pytest.raises(ConfigError, match="EVENTSYNC_TOTP_KEY"):
        unseal(_stored(engine, account.id))
    assert unseal(seal("ABC")) == "ABC"

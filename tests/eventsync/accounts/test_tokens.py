"""One-time tokens (invitations, resets, SSO state) and sessions: stored hashed only,
used once, expiring; sessions rotate and end after idle and absolute limits."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select, update

from eventsync.accounts import sessions, tokens
from eventsync.accounts.secrets_hash import digest
from eventsync.clock import utcnow
from eventsync.store.account_tables import console_sessions, console_tokens
from eventsync.workspaces import create_workspace


def _dump(engine: Engine, table) -> str:
    with engine.connect() as conn:
        return repr(conn.execute(select(table)).all())


def test_a_token_is_stored_hashed_and_used_once(engine: Engine) -> None:
    ws = create_workspace(engine, "acme").workspace_id
    token = tokens.issue(
        engine, tokens.INVITATION, workspace_id=ws, email="a@b.test", role="viewer"
    )
    assert token not in _dump(engine, console_tokens)
    assert digest(token) in _dump(engine, console_tokens)
    assert tokens.peek(engine, tokens.INVITATION, token).email == "a@b.test"
    assert tokens.peek(engine, tokens.RESET, token) is None  # another purpose
    assert tokens.consume(engine, tokens.INVITATION, token) is not None
    assert tokens.consume(engine, tokens.INVITATION, token) is None
    assert tokens.peek(engine, tokens.INVITATION, token) is None


def test_racing_consumers_get_a_token_once(engine: Engine) -> None:
    token = tokens.issue(engine, tokens.RESET, account_id="acct_x", email="a@b.test")
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda _: tokens.consume(engine, tokens.RESET, token), range(8)))
    assert sum(g is not None for g in got) == 1


@pytest.mark.parametrize("purpose", [tokens.INVITATION, tokens.RESET, tokens.SSO])
def test_an_expired_token_is_refused(engine: Engine, purpose: str) -> None:
    token = tokens.issue(engine, purpose)
    lifetime = tokens.LIFETIME[purpose]
    past = (utcnow() - timedelta(seconds=1)).isoformat()
    with engine.begin() as conn:
        conn.execute(update(console_tokens).values(expires_at=past))
    assert tokens.consume(engine, purpose, token) is None
    assert lifetime <= timedelta(days=7)


def test_sessions_are_stored_hashed_rotate_and_expire(engine: Engine, monkeypatch) -> None:
    anonymous_id, anonymous = sessions.create(engine)
    assert anonymous_id not in _dump(engine, console_sessions)
    new_id, new = sessions.rotate(engine, anonymous_id, "acct_1", sessions.FULL, "password")
    assert new_id != anonymous_id and new.csrf_token != anonymous.csrf_token
    assert sessions.load(engine, anonymous_id) is None  # the old id is gone
    assert sessions.load(engine, new_id).signed_in

    # Idle: no request for longer than the idle limit ends it.
    monkeypatch.setenv("EVENTSYNC_CONSOLE_IDLE_MINUTES", "5")
    stale = (utcnow() - timedelta(minutes=6)).isoformat()
    with engine.begin() as conn:
        conn.execute(update(console_sessions).values(last_seen_at=stale))
    assert sessions.load(engine, new_id) is None

    # Absolute: however active, it ends at its expiry.
    active_id, _ = sessions.create(engine, "acct_1", sessions.FULL, "password")
    with engine.begin() as conn:
        conn.execute(update(console_sessions).values(expires_at=utcnow().isoformat()))
    assert sessions.load(engine, active_id) is None

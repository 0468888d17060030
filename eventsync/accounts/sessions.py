"""Server-side console sessions. The browser holds a random session id (256 bits) in
a cookie; the store holds only its SHA-256, so a copy of the store opens no session.

A session is `anonymous` (the sign-in forms' CSRF token lives in it), `mfa` (the
password or the identity provider was accepted, the TOTP code is still due) or `full`.
Every step up replaces the session with a new id (`rotate`): an id that someone
planted or saw before sign-in is worth nothing after it. Sessions end after
EVENTSYNC_CONSOLE_IDLE_MINUTES without a request and EVENTSYNC_CONSOLE_SESSION_HOURS
after sign-in, whichever comes first.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, insert, or_, select, update

from eventsync import settings
from eventsync.accounts.secrets_hash import digest, new_secret
from eventsync.clock import utcnow
from eventsync.store.account_tables import console_sessions

ANONYMOUS, MFA, FULL = "anonymous", "mfa", "full"
ANONYMOUS_HOURS = 1.0  # a sign-in form's session
MFA_MINUTES = 10.0  # to type the TOTP code
TOUCH_EVERY_SECONDS = 60.0


@dataclass(frozen=True)
class Session:
    id_hash: str
    account_id: str | None
    stage: str
    auth_method: str | None
    sso_workspace_id: str | None
    csrf_token: str
    created_at: str
    last_seen_at: str
    expires_at: str

    @property
    def signed_in(self) -> bool:
        return self.stage == FULL and self.account_id is not None


def _iso(value: datetime) -> str:
    return value.isoformat(timespec="microseconds")


def _session(row: Any) -> Session:
    return Session(**dict(row._mapping))


def create(
    engine: Engine,
    account_id: str | None = None,
    stage: str = ANONYMOUS,
    auth_method: str | None = None,
    sso_workspace_id: str | None = None,
) -> tuple[str, Session]:
    """A new session: (the id for the cookie, the session)."""
    now = utcnow()
    if stage == ANONYMOUS:
        lifetime = timedelta(hours=ANONYMOUS_HOURS)
    elif stage == MFA:
        lifetime = timedelta(minutes=MFA_MINUTES)
    else:
        lifetime = timedelta(hours=settings.load().console_session_hours)
    session_id = new_secret()
    values = {
        "id_hash": digest(session_id),
        "account_id": account_id,
        "stage": stage,
        "auth_method": auth_method,
        "sso_workspace_id": sso_workspace_id,
        "csrf_token": secrets.token_urlsafe(32),
        "created_at": _iso(now),
        "last_seen_at": _iso(now),
        "expires_at": _iso(now + lifetime),
    }
    with engine.begin() as conn:
        conn.execute(insert(console_sessions).values(**values))
    return session_id, Session(**values)


def load(engine: Engine, session_id: str | None) -> Session | None:
    """The live session with this id, or None (unknown, idle too long, or expired);
    marks it seen (at most once a minute)."""
    if not session_id or len(session_id) > 100:
        return None
    id_hash = digest(session_id)
    with engine.connect() as conn:
        row = conn.execute(
            select(console_sessions).where(console_sessions.c.id_hash == id_hash)
        ).first()
    if row is None:
        return None
    session = _session(row)
    now = utcnow()
    idle = timedelta(minutes=settings.load().console_idle_minutes)
    last_seen = datetime.fromisoformat(session.last_seen_at)
    if datetime.fromisoformat(session.expires_at) <= now or last_seen + idle <= now:
        end(engine, session_id)
        return None
    if (now - last_seen).total_seconds() >= TOUCH_EVERY_SECONDS:
        with engine.begin() as conn:
            conn.execute(
                update(console_sessions)
                .where(console_sessions.c.id_hash == id_hash)
                .values(last_seen_at=_iso(now))
            )
    return session


def rotate(
    engine: Engine,
    old_session_id: str | None,
    account_id: str,
    stage: str,
    auth_method: str,
    sso_workspace_id: str | None = None,
) -> tuple[str, Session]:
    """End the old session (if any) and start a new one with a new id and CSRF token."""
    if old_session_id:
        end(engine, old_session_id)
    purge_expired(engine)
    return create(engine, account_id, stage, auth_method, sso_workspace_id)


def end(engine: Engine, session_id: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            delete(console_sessions).where(console_sessions.c.id_hash == digest(session_id))
        )


def end_all(engine: Engine, account_id: str, keep_session_id: str | None = None) -> int:
    """End every session of an account (but `keep_session_id`); returns how many."""
    query = delete(console_sessions).where(console_sessions.c.account_id == account_id)
    if keep_session_id:
        query = query.where(console_sessions.c.id_hash != digest(keep_session_id))
    with engine.begin() as conn:
        return conn.execute(query).rowcount


def purge_expired(engine: Engine) -> None:
    now = utcnow()
    idle_cutoff = _iso(now - timedelta(minutes=settings.load().console_idle_minutes))
    with engine.begin() as conn:
        conn.execute(
            delete(console_sessions).where(
                or_(
                    console_sessions.c.expires_at <= _iso(now),
                    console_sessions.c.last_seen_at <= idle_cutoff,
                )
            )
        )

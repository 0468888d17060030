"""One-time tokens: invitations (7 days), password resets (1 hour) and single sign-on
state (10 minutes). The holder gets a 256-bit random token once (in an e-mail, a
printed link, or the identity provider's redirect); the store keeps only its SHA-256.
A token is used at most once: `consume` marks it in one conditional UPDATE, so two
requests racing with the same token cannot both succeed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, delete, insert, select, update

from eventsync.accounts.secrets_hash import digest, new_secret
from eventsync.clock import now_iso, utcnow
from eventsync.store.account_tables import console_tokens

INVITATION, RESET, SSO = "invitation", "reset", "sso"
LIFETIME = {
    INVITATION: timedelta(days=7),
    RESET: timedelta(hours=1),
    SSO: timedelta(minutes=10),
}


@dataclass(frozen=True)
class Token:
    token_hash: str
    purpose: str
    workspace_id: str | None
    account_id: str | None
    email: str | None
    role: str | None
    data: dict[str, Any]
    created_by: str | None
    created_at: str
    expires_at: str
    used_at: str | None


def _token(row: Any) -> Token:
    m = dict(row._mapping)
    m["data"] = json.loads(m["data"] or "{}")
    return Token(**m)


def issue(
    engine: Engine,
    purpose: str,
    *,
    workspace_id: str | None = None,
    account_id: str | None = None,
    email: str | None = None,
    role: str | None = None,
    data: dict[str, Any] | None = None,
    created_by: str | None = None,
) -> str:
    """A new token (returned once, stored hashed)."""
    token = new_secret()
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(
            insert(console_tokens).values(
                token_hash=digest(token),
                purpose=purpose,
                workspace_id=workspace_id,
                account_id=account_id,
                email=email,
                role=role,
                data=json.dumps(data or {}),
                created_by=created_by,
                created_at=now.isoformat(timespec="microseconds"),
                expires_at=(now + LIFETIME[purpose]).isoformat(timespec="microseconds"),
            )
        )
    return token


def _unused(purpose: str) -> Any:
    return (
        console_tokens.c.purpose == purpose,
        console_tokens.c.used_at.is_(None),
        console_tokens.c.expires_at > now_iso(),
    )


def _live(purpose: str, token_hash: str) -> Any:
    return (console_tokens.c.token_hash == token_hash, *_unused(purpose))


def peek(engine: Engine, purpose: str, token: str) -> Token | None:
    """The token's record while it is unused and unexpired (the form behind a link)."""
    if not token or len(token) > 100:
        return None
    with engine.connect() as conn:
        row = conn.execute(select(console_tokens).where(*_live(purpose, digest(token)))).first()
    return _token(row) if row else None


def consume(engine: Engine, purpose: str, token: str) -> Token | None:
    """Use the token: its record if it was live (now used), else None."""
    found = peek(engine, purpose, token)
    if found is None:
        return None
    with engine.begin() as conn:
        done = conn.execute(
            update(console_tokens)
            .where(*_live(purpose, found.token_hash))
            .values(used_at=now_iso())
        ).rowcount
    return found if done == 1 else None


def pending_invitations(engine: Engine, workspace_id: str) -> list[Token]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(console_tokens)
            .where(console_tokens.c.workspace_id == workspace_id, *_unused(INVITATION))
            .order_by(console_tokens.c.created_at)
        ).all()
    return [_token(r) for r in rows]


def revoke_invitation(engine: Engine, workspace_id: str, token_hash: str) -> Token | None:
    """Withdraw a pending invitation of this workspace (by the hash the Team page shows)."""
    with engine.begin() as conn:
        row = conn.execute(
            select(console_tokens).where(
                console_tokens.c.workspace_id == workspace_id, *_live(INVITATION, token_hash)
            )
        ).first()
        if row is None:
            return None
        conn.execute(delete(console_tokens).where(console_tokens.c.token_hash == token_hash))
    return _token(row)


def revoke_resets(engine: Engine, account_id: str) -> None:
    """Unused reset tokens of an account stop working (its password just changed)."""
    with engine.begin() as conn:
        conn.execute(
            update(console_tokens)
            .where(
                console_tokens.c.account_id == account_id,
                console_tokens.c.purpose == RESET,
                console_tokens.c.used_at.is_(None),
            )
            .values(used_at=now_iso())
        )

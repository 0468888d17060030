"""Workspaces and their API keys."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import Engine, insert, select, update

from resources import keys
from resources.clock import now_iso
from resources.errors import ConfigError, NotFound
from resources.schema import api_keys, workspaces

MAX_RETENTION_DAYS = 3650


@dataclass(frozen=True)
class CreatedWorkspace:
    workspace_id: str
    name: str
    retention_days: int | None
    api_key: str  # plaintext, shown once


def _check_retention(retention_days: int | None) -> None:
    if retention_days is not None and not 1 <= retention_days <= MAX_RETENTION_DAYS:
        raise ConfigError(
            "retention_days", f"must be between 1 and {MAX_RETENTION_DAYS}, got {retention_days}"
        )


def create_workspace(
    engine: Engine, name: str, retention_days: int | None = None, workspace_id: str | None = None
) -> CreatedWorkspace:
    if not name or not name.strip() or len(name) > 200:
        raise ConfigError("name", "must be a non-empty string of at most 200 characters")
    _check_retention(retention_days)
    workspace_id = workspace_id or f"ws_{secrets.token_hex(6)}"
    with engine.begin() as conn:
        conn.execute(
            insert(workspaces).values(
                id=workspace_id,
                name=name.strip(),
                retention_days=retention_days,
                created_at=now_iso(),
            )
        )
    api_key = create_key(engine, workspace_id)
    return CreatedWorkspace(workspace_id, name.strip(), retention_days, api_key)


def get_workspace(engine: Engine, workspace_id: str) -> dict:
    with engine.connect() as conn:
        row = conn.execute(select(workspaces).where(workspaces.c.id == workspace_id)).first()
    if row is None:
        raise NotFound(f"workspace {workspace_id!r} not found")
    return dict(row._mapping)


def set_retention(engine: Engine, workspace_id: str, retention_days: int | None) -> None:
    _check_retention(retention_days)
    get_workspace(engine, workspace_id)
    with engine.begin() as conn:
        conn.execute(
            update(workspaces)
            .where(workspaces.c.id == workspace_id)
            .values(retention_days=retention_days)
        )


def create_key(engine: Engine, workspace_id: str) -> str:
    """Create an API key for the workspace; returns the plaintext (stored hashed only)."""
    get_workspace(engine, workspace_id)
    key = keys.new_key()
    with engine.begin() as conn:
        conn.execute(
            insert(api_keys).values(
                id=key.key_id,
                workspace_id=workspace_id,
                salt=key.salt,
                key_hash=key.key_hash,
                created_at=now_iso(),
            )
        )
    return key.plaintext


def revoke_key(engine: Engine, key: str) -> str:
    """Revoke by key id or by the full key; returns the key id."""
    parts = keys.split_key(key)
    key_id = parts[0] if parts else key
    with engine.begin() as conn:
        result = conn.execute(
            update(api_keys)
            .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=now_iso())
        )
    if result.rowcount == 0:
        raise NotFound(f"no active API key {key_id!r}")
    return key_id


def authenticate(engine: Engine, plaintext: str) -> str | None:
    """The workspace id the key belongs to, or None (unknown, revoked or wrong secret)."""
    parts = keys.split_key(plaintext)
    if parts is None:
        return None
    key_id, secret = parts
    with engine.connect() as conn:
        row = conn.execute(
            select(api_keys).where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        ).first()
    if row is None:
        # Spend the same time as a real check so key ids cannot be probed by timing.
        keys.verify(secret, "00" * 16, "")
        return None
    return row.workspace_id if keys.verify(secret, row.salt, row.key_hash) else None

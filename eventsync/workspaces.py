"""Workspaces and their API keys (scoped, optionally expiring, revocable).

Verification costs one row lookup and at most one slow hash; keys that passed are
cached in this process (resources/keys.py: VerifiedKeyCache), re-read every
EVENTSYNC_KEY_CACHE_SECONDS so a revocation elsewhere takes effect within seconds, and
evicted at once when revoked here. `last_used_at` is written at most once a minute
per key and process.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert, select, update

from eventsync import keys, settings
from eventsync.clock import now_iso, utcnow
from eventsync.errors import ConfigError, NotFound
from eventsync.store.schema import api_keys, workspaces

MAX_RETENTION_DAYS = 3650
MAX_KEY_DAYS = 3650
LAST_USED_EVERY_SECONDS = 60.0
VERIFY_AGAIN_SECONDS = 900.0  # a cached key passes the slow hash again after this
KEY_CACHE_SIZE = 10_000

_cache: keys.VerifiedKeyCache | None = None
_last_used: dict[str, float] = {}
_last_used_lock = threading.Lock()


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


def _key_cache() -> keys.VerifiedKeyCache:
    """The process's cache (rebuilt when EVENTSYNC_KEY_CACHE_SECONDS changes)."""
    global _cache
    seconds = settings.load().key_cache_seconds
    if _cache is None or _cache.recheck_seconds != seconds:
        _cache = keys.VerifiedKeyCache(KEY_CACHE_SIZE, seconds, VERIFY_AGAIN_SECONDS)
    return _cache


def create_key(
    engine: Engine,
    workspace_id: str,
    scopes: list[str] | tuple[str, ...] | None = None,
    name: str | None = None,
    expires_in_days: int | None = None,
) -> str:
    """Create an API key for the workspace (all scopes unless `scopes` names some);
    returns the plaintext, which is stored hashed only."""
    get_workspace(engine, workspace_id)
    try:
        stored_scopes = keys.check_scopes(scopes)
    except ValueError as exc:
        raise ConfigError("scope", str(exc)) from None
    if name is not None and (not name.strip() or len(name) > 200):
        raise ConfigError("name", "must be a non-empty string of at most 200 characters")
    expires_at = None
    if expires_in_days is not None:
        if not 1 <= expires_in_days <= MAX_KEY_DAYS:
            raise ConfigError(
                "expires_in_days", f"must be between 1 and {MAX_KEY_DAYS}, got {expires_in_days}"
            )
        expires_at = (utcnow() + timedelta(days=expires_in_days)).isoformat(timespec="microseconds")
    key = keys.new_key()
    with engine.begin() as conn:
        conn.execute(
            insert(api_keys).values(
                id=key.key_id,
                workspace_id=workspace_id,
                salt=key.salt,
                key_hash=key.key_hash,
                created_at=now_iso(),
                name=name.strip() if name else None,
                scopes=stored_scopes,
                expires_at=expires_at,
            )
        )
    return key.plaintext


def list_keys(engine: Engine, workspace_id: str) -> list[dict[str, Any]]:
    """The workspace's keys (never their secrets), oldest first, revoked ones included."""
    get_workspace(engine, workspace_id)
    cols = [c for c in api_keys.c if c.name not in ("salt", "key_hash")]
    with engine.connect() as conn:
        rows = conn.execute(
            select(*cols)
            .where(api_keys.c.workspace_id == workspace_id)
            .order_by(api_keys.c.created_at, api_keys.c.id)
        ).all()
    out = []
    for row in rows:
        data = dict(row._mapping)
        data["scopes"] = data["scopes"].split()
        out.append(data)
    return out


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
    _key_cache().evict(key_id)
    if result.rowcount == 0:
        raise NotFound(f"no active API key {key_id!r}")
    return key_id


def _expired(expires_at: str | None) -> bool:
    return expires_at is not None and datetime.fromisoformat(expires_at) <= utcnow()


def _active_row(engine: Engine, key_id: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(
            select(api_keys).where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        ).first()


def key_id_exists(engine: Engine, plaintext: str) -> bool:
    """Whether the key names an id that has an active (not revoked) key: one indexed
    lookup, no hash (the API's failed-authentication limits tell made-up keys from
    wrong secrets of a real key by it)."""
    parts = keys.split_key(plaintext)
    return parts is not None and _active_row(engine, parts[0]) is not None


def _info(row: Any) -> keys.KeyInfo:
    return keys.KeyInfo(row.id, row.workspace_id, frozenset(row.scopes.split()), row.expires_at)


def _touch(engine: Engine, key_id: str) -> None:
    """Stamp last_used_at, at most once a minute per key in this process."""
    now = time.monotonic()
    with _last_used_lock:
        if now - _last_used.get(key_id, -LAST_USED_EVERY_SECONDS) < LAST_USED_EVERY_SECONDS:
            return
        _last_used[key_id] = now
        if len(_last_used) > KEY_CACHE_SIZE:
            _last_used.clear()
    with engine.begin() as conn:
        conn.execute(update(api_keys).where(api_keys.c.id == key_id).values(last_used_at=now_iso()))


def cached_key(engine: Engine, plaintext: str) -> tuple[keys.KeyInfo | None, bool]:
    """(grants, False) when this process verified the key within the last seconds (no
    database read, no slow hash); (None, False) when it verified it earlier and only
    its row must be read again; (None, True) when verifying needs the slow hash."""
    info, fresh = _key_cache().get(keys.fingerprint(plaintext, str(engine.url)))
    if info is None:
        return None, True
    if not fresh or _expired(info.expires_at):
        return None, False
    return info, False


def verify_key(engine: Engine, plaintext: str) -> tuple[keys.KeyInfo | None, str]:
    """(grants, "") for a valid key, else (None, why). One lookup, at most one slow hash;
    a key verified recently costs a lookup only."""
    parts = keys.split_key(plaintext)
    if parts is None:
        return None, "invalid or revoked API key"
    key_id, secret = parts
    cache = _key_cache()
    fp = keys.fingerprint(plaintext, str(engine.url))
    known, fresh = cache.get(fp)
    if known is not None and fresh and not _expired(known.expires_at):
        _touch(engine, key_id)
        return known, ""
    row = _active_row(engine, key_id)
    if row is None:
        # No slow hash for an unknown id: key ids are public (the audit log names them)
        # and 64 random bits, so timing reveals nothing worth hiding, and a flood of made-up
        # keys costs one indexed lookup each instead of a core of scrypt.
        cache.drop(fp)
        return None, "invalid or revoked API key"
    if known is None and not keys.verify(secret, row.salt, row.key_hash):
        return None, "invalid or revoked API key"
    if _expired(row.expires_at):
        cache.drop(fp)
        return None, "API key expired"
    info = _info(row)
    cache.put(fp, info, verified=known is None)
    _touch(engine, key_id)
    return info, ""


def authenticate(engine: Engine, plaintext: str) -> str | None:
    """The workspace id the key belongs to, or None (unknown, revoked, expired or wrong)."""
    info, _ = verify_key(engine, plaintext)
    return info.workspace_id if info else None

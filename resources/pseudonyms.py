"""Keyed hashes of subject ids (HMAC-SHA256 with the installation's secret), so a list
that must outlive an erasure -- the suppression list -- holds no plain identifier, and
whoever reads the store without the secret cannot test ids against it.

The secret is `EVENTSYNC_SUBJECT_KEY` when set (set the same value on every machine of
a multi-machine installation), else `<data dir>/keys/subject.key`: 32 random bytes
created on first use, readable by the owner only. `key_id()` names the secret without
revealing it; suppression rows record it, so a lost or changed secret is reported
instead of silently matching nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from functools import lru_cache
from pathlib import Path

from resources.errors import ConfigError
from resources.settings import data_root, subject_key

KEY_FILE = Path("keys") / "subject.key"
_SEP = "\x1f"  # unit separator: cannot occur in a workspace id or a subject type


def key_path() -> Path:
    return data_root() / KEY_FILE


def _create_key_file(path: Path) -> None:
    """Write the key to a temporary file, then link it into place: a concurrent
    creator either wins the link or reads the winner's complete file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, secrets.token_bytes(32))
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)


@lru_cache(maxsize=8)
def _secret(env_value: str | None, path: str) -> bytes:
    if env_value is not None:
        return env_value.encode()
    key = Path(path)
    if not key.exists():
        _create_key_file(key)
    data = key.read_bytes()
    if len(data) < 16:
        raise ConfigError(str(key), "the subject key file is truncated; restore it from backup")
    return data


def secret() -> bytes:
    """The installation's secret (environment first, then the key file)."""
    return _secret(subject_key(), str(key_path()))


def key_id() -> str:
    """A short, non-reversible name of the current secret."""
    return hmac.new(secret(), b"eventsync subject key id", hashlib.sha256).hexdigest()[:16]


def subject_hash(workspace_id: str, subject_type: str, subject_id: str) -> str:
    """HMAC-SHA256 (hex) of one subject of one workspace: equal ids of different
    workspaces or types get unrelated hashes."""
    message = f"{workspace_id}{_SEP}{subject_type}{_SEP}{subject_id}".encode(
        "utf-8", "surrogatepass"
    )
    return hmac.new(secret(), message, hashlib.sha256).hexdigest()

"""Keys kept in files under the data directory (the subject key, the TOTP key): 32
random bytes created on first use, owner-only, and read back whole."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from eventsync.errors import ConfigError


def _create(path: Path) -> None:
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


def read_or_create(path: Path, what: str) -> bytes:
    """The key in `path`, created first when missing; ConfigError names `what` (the
    subject key, the TOTP key) when the file is truncated."""
    if not path.exists():
        _create(path)
    raw = path.read_bytes()
    if len(raw) < 16:
        raise ConfigError(str(path), f"the {what} file is truncated; restore it from backup")
    return raw

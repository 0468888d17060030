"""TOTP secrets encrypted at rest (Fernet: AES-128-CBC with HMAC-SHA256, from the
`cryptography` package), so a copy of the store (a dump, a backup) does not hold
what generates every member's codes.

The key is `EVENTSYNC_TOTP_KEY` when set (the same value in every process of an
installation), else `<data dir>/keys/totp.key`: 32 random bytes created on first use,
readable by the owner only -- keep it with the store's backups, apart from them. A
stored secret is `fernet:<token>`; a value without the prefix is one stored before
encryption (migration 0009_totp_sealed seals those) and is read as it is.
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from eventsync import key_files
from eventsync.errors import ConfigError
from eventsync.settings import data_root, load

PREFIX = "fernet:"
KEY_FILE = Path("keys") / "totp.key"


def key_path() -> Path:
    return data_root() / KEY_FILE


@lru_cache(maxsize=8)
def _fernet(env_value: str | None, path: str) -> Fernet:
    if env_value is not None:
        raw = env_value.encode()
    else:
        raw = key_files.read_or_create(Path(path), "TOTP key")
    derived = hashlib.blake2b(raw, digest_size=32, person=b"eventsync-totp").digest()
    return Fernet(base64.urlsafe_b64encode(derived))


def fernet() -> Fernet:
    configured = load().totp_key
    return _fernet(configured.get_secret_value() if configured else None, str(key_path()))


def seal(secret: str) -> str:
    """The stored form of a TOTP secret."""
    return PREFIX + fernet().encrypt(secret.encode()).decode("ascii")


def unseal(stored: str | None) -> str | None:
    """The TOTP secret of a stored value (None stays None)."""
    if stored is None or not stored.startswith(PREFIX):
        return stored
    try:
        return fernet().decrypt(stored[len(PREFIX) :].encode("ascii")).decode()
    except InvalidToken:
        raise ConfigError(
            "EVENTSYNC_TOTP_KEY",
            f"a TOTP secret was sealed with another key than this process has: restore that "
            f"key (the environment variable or {key_path()}); members cannot sign in with "
            "two-factor codes until then",
        ) from None

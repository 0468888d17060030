"""API keys: shown once, stored only as salted scrypt hashes, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

KEY_PREFIX = "esk"
# scrypt work factor: ~15 ms per verification on this hardware, 16 MiB memory.
_N, _R, _P = 2**14, 8, 1


@dataclass(frozen=True)
class NewKey:
    key_id: str
    plaintext: str  # returned to the caller once, never stored
    salt: str
    key_hash: str


def _hash(secret: str, salt: str) -> str:
    digest = hashlib.scrypt(
        secret.encode(), salt=bytes.fromhex(salt), n=_N, r=_R, p=_P, maxmem=64 * 1024 * 1024
    )
    return digest.hex()


def new_key() -> NewKey:
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_hex(16)
    return NewKey(key_id, f"{KEY_PREFIX}_{key_id}_{secret}", salt, _hash(secret, salt))


def split_key(plaintext: str) -> tuple[str, str] | None:
    """(key_id, secret) of a well-formed key, else None."""
    parts = plaintext.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def verify(secret: str, salt: str, key_hash: str) -> bool:
    return hmac.compare_digest(_hash(secret, salt), key_hash)

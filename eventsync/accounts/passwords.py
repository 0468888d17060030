"""Passwords: argon2id (argon2-cffi's defaults: RFC 9106's low-memory profile, 64 MiB,
3 passes), the rule a new password must meet, and rehashing when the parameters
change."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from eventsync.errors import ConfigError

MIN_LENGTH = 12
MAX_LENGTH = 256  # argon2 hashes any length; a bound keeps a request's cost bounded

_hasher = PasswordHasher()  # argon2id
# Verified against when the account is unknown or has no password, so that the answer
# takes as long as for a real account (no account enumeration by timing).
_DUMMY_HASH = _hasher.hash("an account that does not exist")


def check_new(password: str, email: str = "") -> None:
    """ConfigError naming the problem when `password` may not be set."""
    if len(password) < MIN_LENGTH:
        raise ConfigError("password", f"must be at least {MIN_LENGTH} characters long")
    if len(password) > MAX_LENGTH:
        raise ConfigError("password", f"must be at most {MAX_LENGTH} characters long")
    if email and password.strip().lower() == email.strip().lower():
        raise ConfigError("password", "must not be your e-mail address")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify(stored: str | None, password: str) -> bool:
    """Whether `password` matches `stored` (None: no password; costs the same)."""
    if len(password) > MAX_LENGTH:
        return False
    try:
        return _hasher.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return _hasher.check_needs_rehash(stored)

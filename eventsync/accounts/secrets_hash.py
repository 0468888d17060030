"""Hashes of random secrets (session ids, one-time tokens, recovery codes).

They are 256-bit random values, so a fast unsalted hash suffices: there is nothing to
guess, and a lookup by hash needs the same hash every time."""

from __future__ import annotations

import hashlib
import secrets


def new_secret() -> str:
    """A 256-bit random value, URL-safe."""
    return secrets.token_urlsafe(32)


def digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()

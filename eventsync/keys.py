"""API keys: shown once, stored only as salted scrypt hashes, compared in constant time.

A key reads `esk_<id>_<secret>`: the public id finds its row with one lookup, so a
request costs at most one slow hash. `VerifiedKeyCache` remembers keys that passed
(under a keyed fast hash of the whole key, never the key), so a client that sends the
same key again costs no slow hash at all.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from eventsync.access import DEFAULT_KEY_SCOPES, KEY_SCOPES

KEY_PREFIX = "esk"
# scrypt work factor: ~15 ms per verification on this hardware, 16 MiB memory.
_N, _R, _P = 2**14, 8, 1

# What a key may do (eventsync/access.py: the permissions a key can hold). A key
# without a scope gets 403 naming it.
SCOPES = tuple(str(s) for s in KEY_SCOPES)
# Stored form: space-separated. A key made without naming scopes (and every key from
# before 0003) holds these: all but syncs:write (eventsync/access.py).
DEFAULT_SCOPES = " ".join(str(s) for s in DEFAULT_KEY_SCOPES)

# Per process: fingerprints are meaningless outside it, so nothing can be precomputed.
_FINGERPRINT_KEY = secrets.token_bytes(32)


@dataclass(frozen=True)
class NewKey:
    key_id: str
    plaintext: str  # returned to the caller once, never stored
    salt: str
    key_hash: str


@dataclass(frozen=True)
class KeyInfo:
    """What a verified key grants."""

    key_id: str
    workspace_id: str
    scopes: frozenset[str]
    expires_at: str | None = None


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
    if len(parts[1]) > 32 or len(parts[2]) > 128 or not plaintext.isascii():
        return None
    return parts[1], parts[2]


# One slow hash at a time per process: a flood of wrong keys can then hold at most one
# core, whatever the number of threads serving it; the other requests keep the rest.
_slow_hash_gate = threading.BoundedSemaphore(1)


def verify(secret: str, salt: str, key_hash: str) -> bool:
    with _slow_hash_gate:
        return hmac.compare_digest(_hash(secret, salt), key_hash)


def check_scopes(scopes: list[str] | tuple[str, ...] | None) -> str:
    """The stored form of `scopes` (DEFAULT_SCOPES when None); ValueError names a bad one."""
    if scopes is None:
        return DEFAULT_SCOPES
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise ValueError(f"unknown scope {unknown[0]!r}; scopes: {', '.join(SCOPES)}")
    if not scopes:
        raise ValueError(f"give at least one scope: {', '.join(SCOPES)}")
    return " ".join(s for s in SCOPES if s in scopes)


def fingerprint(plaintext: str, context: str = "") -> bytes:
    """A keyed fast hash (BLAKE2b) of a presented key: the cache's key, not a secret."""
    return hashlib.blake2b(
        f"{context}\x00{plaintext}".encode("utf-8", "surrogatepass"),
        key=_FINGERPRINT_KEY,
        digest_size=32,
    ).digest()


@dataclass
class _Entry:
    info: KeyInfo
    verified: float  # monotonic time of the slow-hash verification
    checked: float  # monotonic time the row was last read (revocation, expiry, scopes)


class VerifiedKeyCache:
    """Bounded LRU of verified keys. An entry is trusted without a database read for
    `recheck_seconds` (so a revocation in another process takes effect that fast); after
    that the row is read again (one lookup, no slow hash) until `verify_seconds`, when
    the key must pass the slow hash again. Thread-safe."""

    def __init__(self, size: int, recheck_seconds: float, verify_seconds: float) -> None:
        self.size = size
        self.recheck_seconds = recheck_seconds
        self.verify_seconds = verify_seconds
        self._entries: OrderedDict[bytes, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, fp: bytes) -> tuple[KeyInfo | None, bool]:
        """(info, fresh): fresh entries need no read; stale ones need a row read."""
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(fp)
            if entry is None or now - entry.verified > self.verify_seconds:
                self._entries.pop(fp, None)
                return None, False
            self._entries.move_to_end(fp)
            return entry.info, now - entry.checked <= self.recheck_seconds

    def put(self, fp: bytes, info: KeyInfo, verified: bool = True) -> None:
        now = time.monotonic()
        with self._lock:
            old = self._entries.get(fp)
            since = old.verified if (old is not None and not verified) else now
            self._entries[fp] = _Entry(info, since, now)
            self._entries.move_to_end(fp)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def evict(self, key_id: str) -> None:
        """Forget every entry of a key id (on revoke)."""
        with self._lock:
            for fp in [fp for fp, e in self._entries.items() if e.info.key_id == key_id]:
                del self._entries[fp]

    def drop(self, fp: bytes) -> None:
        with self._lock:
            self._entries.pop(fp, None)

"""API keys: `esk_<id>_<secret>`, stored as a salted hash, checked in constant time;
scopes in one stored form; verified keys cached, bounded, evicted on revoke."""

from __future__ import annotations

import pytest

from eventsync.keys import (
    DEFAULT_SCOPES,
    KeyInfo,
    VerifiedKeyCache,
    check_scopes,
    fingerprint,
    new_key,
    split_key,
    verify,
)


def test_a_new_key_verifies_against_its_stored_hash_and_nothing_else() -> None:
    key = new_key()
    key_id, secret = split_key(key.plaintext)
    assert key_id == key.key_id
    assert secret not in key.key_hash and verify(secret, key.salt, key.key_hash)
    assert not verify(secret + "x", key.salt, key.key_hash)


@pytest.mark.parametrize(
    "text",
    ["", "esk_abc", "esk__secret", "xsk_abc_secret", "esk_abc_sécret", "esk_" + "a" * 33 + "_s"],
)
def test_malformed_keys_are_refused_before_any_hash(text: str) -> None:
    assert split_key(text) is None


def test_scopes_are_stored_in_one_order_and_a_bad_one_is_named() -> None:
    assert check_scopes(None) == DEFAULT_SCOPES
    assert check_scopes(["syncs:read", "events:write"]) == "events:write syncs:read"
    with pytest.raises(ValueError, match="unknown scope 'events:delete'"):
        check_scopes(["events:delete"])
    with pytest.raises(ValueError, match="give at least one scope"):
        check_scopes([])


def test_the_cache_forgets_the_least_recently_used_and_every_entry_of_a_revoked_key() -> None:
    cache = VerifiedKeyCache(size=2, recheck_seconds=60, verify_seconds=600)
    a, b, c = (fingerprint(f"esk_{k}_s") for k in "abc")
    cache.put(a, KeyInfo("ka", "ws", frozenset()))
    cache.put(b, KeyInfo("kb", "ws", frozenset()))
    assert cache.get(a) == (KeyInfo("ka", "ws", frozenset()), True)  # a is now the newest
    cache.put(c, KeyInfo("kc", "ws", frozenset()))
    assert cache.get(b) == (None, False)
    cache.evict("ka")
    assert cache.get(a) == (None, False) and cache.get(c)[0] is not None


def test_a_cached_key_past_its_recheck_time_asks_for_a_row_read() -> None:
    cache = VerifiedKeyCache(size=4, recheck_seconds=0, verify_seconds=600)
    fp = fingerprint("esk_a_s")
    cache.put(fp, KeyInfo("ka", "ws", frozenset({"events:write"})))
    info, fresh = cache.get(fp)
    assert info is not None and fresh is False

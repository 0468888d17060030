"""Every kind of advisory lock has its own namespace: holding one never blocks another,
even when the second keys (crc32 of a workspace id, of a sync's day) are equal. A
partition lock whose connection drops is taken back, also when its first re-take drops."""

from __future__ import annotations

import threading
import time
import zlib

import pytest
from sqlalchemy import create_engine, event, text

from eventsync.store.locks import (
    WATCH_SECONDS,
    LockKind,
    PartitionBusy,
    partition_lock,
    reassert_held,
    subject_gate,
)

SYNC, DAY = "sync_locks", "2026-11-20"
ALPHABET = (ord("a"), ord("b"))  # two choices per position: differ in bits 0 and 1


def same_crc32(target: bytes, length: int = 48) -> str:
    """A lowercase ASCII string of `length` letters whose crc32 equals target's.

    crc32 of strings of one length is affine over GF(2): flipping a position from 'a'
    to 'b' XORs a fixed 32-bit vector into it. Gaussian elimination picks positions."""
    base = bytes([ALPHABET[0]] * length)
    want = zlib.crc32(target) ^ zlib.crc32(base)
    rows = []  # (vector, set of positions giving it)
    for i in range(length):
        flipped = bytearray(base)
        flipped[i] = ALPHABET[1]
        vec = zlib.crc32(bytes(flipped)) ^ zlib.crc32(base)
        picks = {i}
        for pivot_vec, pivot_picks in rows:
            if vec ^ pivot_vec < vec:
                vec ^= pivot_vec
                picks ^= pivot_picks
        if vec:
            rows.append((vec, picks))
            rows.sort(reverse=True)
    chosen: set[int] = set()
    for vec, picks in rows:
        if want ^ vec < want:
            want ^= vec
            chosen ^= picks
    assert want == 0, "no solution: make the string longer"
    out = bytes(ALPHABET[1] if i in chosen else ALPHABET[0] for i in range(length)).decode()
    assert zlib.crc32(out.encode()) == zlib.crc32(target)
    return out


def test_lock_kinds_are_distinct_and_named():
    assert len({k.value for k in LockKind}) == len(LockKind) == 3
    assert [k.name for k in LockKind] == ["EXPORT", "GATE", "PARTITION"]


def test_a_partition_lock_does_not_block_the_workspace_ingestion_gate(pg_store_url):
    engine = create_engine(pg_store_url)
    # A workspace whose gate has the same second key as the partition's lock.
    workspace = same_crc32(f"{SYNC}|{DAY}".encode())
    got_gate = threading.Event()

    def ingest() -> None:
        with subject_gate(engine, workspace, exclusive=True):
            got_gate.set()

    try:
        with partition_lock(engine, SYNC, DAY, "test holder"):
            worker = threading.Thread(target=ingest, daemon=True)
            worker.start()
            assert got_gate.wait(10), "the ingestion gate waited for a partition lock"
            worker.join(10)
    finally:
        engine.dispose()


def test_a_partition_lock_whose_retake_drops_too_is_taken_back_not_lost(pg_store_url):
    """The store drops the lock's connection, then the connection of the watcher's first
    re-take mid-way (an erasure terminating every backend twice): that is the store
    failing, not another run taking the partition, so the lock is taken back on the
    next tick, a second run is refused again, and the holder learns it was re-taken."""
    engine, admin = create_engine(pg_store_url), create_engine(pg_store_url)
    armed = threading.Event()

    @event.listens_for(engine, "before_cursor_execute")
    def drop_the_retake(conn, cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        if armed.is_set() and "application_name" in statement:
            armed.clear()
            with admin.begin() as other:
                other.execute(
                    text("SELECT pg_terminate_backend(:p)"),
                    {"p": conn.connection.dbapi_connection.get_backend_pid()},
                )

    def holder_pids(*, holding: bool = False) -> list[int]:
        """The holder's backends (`holding`: only those granted the partition lock; a
        re-take names its connection before it takes the lock)."""
        locked = (
            " AND pid IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND classid = CAST(:c AS oid))"
        )
        with admin.connect() as other:
            return list(
                other.execute(
                    text(
                        "SELECT pid FROM pg_stat_activity WHERE application_name = 'holder'"
                        + (locked if holding else "")
                    ),
                    {"c": int(LockKind.PARTITION)},
                ).scalars()
            )

    try:
        with partition_lock(engine, SYNC, DAY, "holder"):
            armed.set()
            with admin.begin() as other:
                for pid in holder_pids():
                    other.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
            deadline = time.monotonic() + 20 * WATCH_SECONDS
            while (armed.is_set() or not holder_pids(holding=True)) and (
                time.monotonic() < deadline
            ):
                time.sleep(WATCH_SECONDS / 5)
            assert not armed.is_set(), "the watcher never re-took the lock"
            assert holder_pids(holding=True), "the lock was given up after its re-take dropped"
            with (
                pytest.raises(PartitionBusy, match="already being exported by holder"),
                partition_lock(admin, SYNC, DAY, "second run"),
            ):
                pass
            assert reassert_held() is True
    finally:
        engine.dispose()
        admin.dispose()

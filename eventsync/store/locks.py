"""The export/erasure lock of a workspace: exports share it, erasure takes it alone.

Why: an export reads the store into staging, then the staged file into the
destination and the subject -> days index. An erasure cleans staging, quarantine and
the indexed days. Without coordination an export that read an erased subject's rows
before the suppression could write them to staging or the destination after the
erasure had cleaned them (the subject comes back, unindexed or after verification),
and an erasure rewriting a day while an export writes the same day loses one of the
two writes. So staging a day and exporting a staged day hold the lock SHARED (exports
of different days still run in parallel), and the erasure steps that clean files
(staging, quarantine, exports, verify) hold it EXCLUSIVE: a step waits for the exports
in flight, and exports wait for the step.

PostgreSQL: a session-level advisory lock (`pg_advisory_lock[_shared]`) on
(LockKind.EXPORT, crc32(workspace_id)), held by a connection of its own that is NOT
inside a transaction while the holder works (an erasure step rewrites files for
minutes; an open transaction would be killed by `idle_in_transaction_session_timeout`
and keep vacuum waiting), released by `pg_advisory_unlock[_shared]`, or by the
connection's end when the process dies (a connection whose unlock failed is discarded,
never pooled with the lock). A dropped connection is noticed by the holder's next
`reassert_held` (see "locks on connections that drop" below).
SQLite (one machine by construction): `flock` on `<data dir>/locks/<crc32 of workspace id>.lock`.

Never nest it (e.g. call `stage_day` while holding it): PostgreSQL queues a new shared
request behind a waiting exclusive one, so a process waiting on itself would hang.

The PostgreSQL locks live on connections, and connections drop (a restart, a failover,
an idle timeout) while their holder goes on. Each lock is therefore held on a connection
of its own that the holder can re-assert (`reassert_held`, called before each upload by
the fencing of eventsync/store/fencing.py): a dropped connection is noticed there and the
lock taken again on a new one; a partition lock is also re-asserted in the background
every WATCH_SECONDS, so a second run of a partition is still refused while the first
lives. Releasing never raises (a dropped connection released the lock already), so the
real outcome of the work is what the caller sees. Who may still *publish* after a drop
is the fencing token's business, not the lock's.

`subject_gate` is a second lock of a workspace, between ingestion and erasure: every
ingestion transaction holds it shared from reading the suppression list to its commit;
the erasure holds it exclusive while it adds subjects to the list (and while it proves
the store clean). So once a suppression is committed, no transaction that read the list
before it is still in flight, and every later one sees it: an erased subject can never
slip in between the check and the insert.
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import IntEnum, unique

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from eventsync.errors import EventsyncError
from eventsync.settings import data_root

log = logging.getLogger(__name__)


@unique
class LockKind(IntEnum):
    """The first key of each two-int advisory lock: one namespace per kind of lock
    ("es" + a number), so a lock of one kind never blocks a lock of another kind whose
    second key (a crc32) happens to be equal."""

    EXPORT = 0x65730001  # a workspace's export/erasure lock
    GATE = 0x65730002  # a workspace's ingestion/suppression gate
    PARTITION = 0x65730003  # one sync's one day (staging or exporting it)


def _keys(kind: LockKind, key: int) -> dict[str, int]:
    """The two ints of an advisory lock, as bind parameters."""
    return {"c": int(kind), "o": key}


def _object_key(workspace_id: str) -> int:
    """crc32 of the workspace id as a signed int4 (a collision only serializes more)."""
    value = zlib.crc32(workspace_id.encode())
    return value - (1 << 32) if value >= (1 << 31) else value


@contextmanager
def export_lock(engine: Engine, workspace_id: str, *, exclusive: bool = False) -> Iterator[None]:
    """Hold the workspace's export/erasure lock (shared unless `exclusive`)."""
    if engine.dialect.name == "postgresql":
        mode = "" if exclusive else "_shared"
        keys = _keys(LockKind.EXPORT, _object_key(workspace_id))

        def take(conn: Connection) -> None:
            conn.execute(text(f"SELECT pg_advisory_lock{mode}(:c, :o)"), keys)
            conn.commit()  # held outside any transaction

        def release(conn: Connection) -> None:
            conn.execute(text(f"SELECT pg_advisory_unlock{mode}(:c, :o)"), keys)
            conn.commit()

        kind = "exclusive" if exclusive else "shared"
        # Not watched in the background: taking it back after a drop may wait for an
        # erasure; the holder's next `reassert_held` does it (and its fence tells).
        with _watched(
            engine, f"the export lock of its workspace ({kind})", keys, take, release, watch=False
        ):
            yield
        return
    with _flock(f"{_object_key(workspace_id) & 0xFFFFFFFF:08x}.lock", exclusive):
        yield


@contextmanager
def _flock(name: str, exclusive: bool) -> Iterator[None]:
    folder = data_root() / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / name).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class PartitionBusy(EventsyncError):
    """Another process is staging or exporting the same partition (message names it)."""


def default_holder() -> str:
    """Who holds a partition when the caller names nobody: this process."""
    return f"process {os.getpid()} on {socket.gethostname()}"


def _partition_key(sync_id: str, day: str) -> int:
    return _object_key(f"{sync_id}|{day}")


@contextmanager
def partition_lock(engine: Engine, sync_id: str, day: str, holder: str) -> Iterator[None]:
    """Hold the partition (one sync's one day) alone while staging or exporting it; a
    second run of the same partition at the same time fails at once with PartitionBusy
    naming the holder (`holder`: e.g. the Dagster run id), instead of both writing the
    same staging files. Taken before the workspace's export lock, never inside it.

    PostgreSQL: a session advisory lock on a connection whose application_name is the
    holder (pg_stat_activity names it to the loser); released by the connection's end,
    also when the process dies. SQLite: flock on `<data dir>/locks/partitions/<key>`,
    the file holding the holder's name."""
    where = f"partition {day}|{sync_id}"
    key = _partition_key(sync_id, day)
    if engine.dialect.name == "postgresql":
        keys = _keys(LockKind.PARTITION, key)

        def take(conn: Connection) -> None:
            conn.execute(
                text("SELECT set_config('application_name', :h, false)"), {"h": holder[:63]}
            )
            got = conn.execute(text("SELECT pg_try_advisory_lock(:c, :o)"), keys).scalar_one()
            conn.commit()
            if not got:
                other = conn.execute(
                    text(
                        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a"
                        " ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.classid = :c"
                        " AND l.objid = :o AND l.granted AND l.pid <> pg_backend_pid()"
                    ),
                    {"c": keys["c"] & 0xFFFFFFFF, "o": keys["o"] & 0xFFFFFFFF},
                ).scalar()
                conn.execute(text("SELECT set_config('application_name', '', false)"))
                conn.commit()
                raise PartitionBusy(
                    f"{where} is already being exported by {other or 'another run'}"
                )

        def release(conn: Connection) -> None:
            conn.execute(text("SELECT pg_advisory_unlock(:c, :o)"), keys)
            conn.execute(text("SELECT set_config('application_name', '', false)"))
            conn.commit()

        with _watched(engine, where, keys, take, release):
            yield
        return
    folder = data_root() / "locks" / "partitions"
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / f"{key & 0xFFFFFFFF:08x}.lock").open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            other = handle.read().strip()
            raise PartitionBusy(
                f"{where} is already being exported by {other or 'another run'}"
            ) from None
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(holder)
            handle.flush()
            yield
        finally:
            handle.truncate(0)
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def subject_gate(
    engine: Engine, workspace_id: str, *, exclusive: bool = False
) -> Iterator[Connection]:
    """A transaction (the connection is yielded) that holds the workspace's ingestion /
    suppression gate until it commits or rolls back (shared unless `exclusive`)."""
    if engine.dialect.name == "postgresql":
        fn = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
        with engine.begin() as conn:
            conn.execute(
                text(f"SELECT {fn}(:c, :o)"),
                _keys(LockKind.GATE, _object_key(workspace_id)),
            )
            yield conn
        return
    # SQLite: the file lock is taken before the transaction begins and released after
    # it committed, so the commit happens inside the gate.
    name = f"gate-{_object_key(workspace_id) & 0xFFFFFFFF:08x}.lock"
    with _flock(name, exclusive), engine.begin() as conn:
        yield conn


# --- locks on connections that drop ----------------------------------------------------
class LockLost(EventsyncError):
    """A lock's connection dropped and the lock could not be taken back (another
    writer has it now): the holder must stop before its next write."""


@dataclass
class _HeldLock:
    """A PostgreSQL advisory lock this thread holds, on the connection `conn`."""

    engine: Engine
    what: str
    keys: dict[str, int]
    take: Callable[[Connection], None]
    conn: Connection
    session: bool  # a session lock: no transaction may stay open on its connection
    mutex: threading.Lock = field(default_factory=threading.Lock)
    lost: LockLost | None = None  # what the watcher found
    retaken: bool = False  # taken again after a drop, at least once

    def reassert(self) -> bool:
        """`_reassert`, or the loss the watcher found meanwhile."""
        with self.mutex:
            if self.lost is not None:
                raise self.lost
            return self._reassert()

    def watch(self, stop: threading.Event) -> None:
        """Re-assert a session lock every WATCH_SECONDS until `stop`: a partition lock
        whose connection dropped is taken back at once, so a second run of the
        partition is still refused while this one lives. (A workspace lock is re-taken
        by the holder's next check only: taking it back may wait for an erasure.)"""
        while not stop.wait(WATCH_SECONDS):
            with self.mutex:
                if self.lost is not None:
                    return
                try:
                    self._reassert()
                except LockLost as exc:
                    if isinstance(exc.__cause__, DBAPIError):
                        # The store dropped or refused the new connection too: not a
                        # loss yet. The next tick (or the holder's check) tries again.
                        log.warning("%s: could not be re-asserted (%s)", self.what, exc)
                        continue
                    self.lost = exc  # another run holds it now
                    log.warning("%s", exc)
                    return
                except Exception as exc:  # the store is down: the holder's check tells
                    log.warning("%s: could not be re-asserted (%s)", self.what, exc)

    def _reassert(self) -> bool:
        """Check the lock on its connection; when the connection dropped (a server
        restart, a failover, pg_terminate_backend, an idle timeout), take the lock again
        on a new one. True when it had to be taken again: whatever the lock guarded may
        have changed meanwhile, which the caller's fencing token tells. Raises LockLost
        when it cannot be had at once (PartitionBusy) or the store does not answer."""
        try:
            held = self.conn.execute(text(_HELD), _unsigned(self.keys)).scalar_one()
            if self.session:
                self.conn.rollback()
            if held:
                return False
        except SQLAlchemyError:
            pass  # the connection is gone (or a failed re-take discarded it): the lock too
        _discard(self.conn)
        try:
            conn = self.engine.connect()
        except DBAPIError as exc:
            raise LockLost(f"{self.what}: lost with its store connection ({exc.orig})") from exc
        try:
            self.take(conn)
        except PartitionBusy as exc:
            _discard(conn)
            raise LockLost(f"{self.what}: lost with its store connection; {exc}") from exc
        except DBAPIError as exc:
            _discard(conn)
            raise LockLost(f"{self.what}: lost with its store connection ({exc.orig})") from exc
        self.conn = conn
        self.retaken = True
        log.warning("%s: its store connection dropped; the lock was taken again", self.what)
        return True


# How often a held session lock (the partition lock) is re-asserted in the background.
WATCH_SECONDS = 0.5
_HELD = (
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
    " AND classid = :c AND objid = :o AND objsubid = 2 AND granted"
)
_held: ContextVar[tuple[_HeldLock, ...]] = ContextVar("eventsync_held_locks", default=())


def _unsigned(keys: dict[str, int]) -> dict[str, int]:
    return {k: v & 0xFFFFFFFF for k, v in keys.items()}


def _discard(conn: Connection) -> None:
    """Drop a connection that may be dead (never raises: its locks die with it)."""
    with suppress(Exception):
        conn.invalidate()
    with suppress(Exception):
        conn.close()


@contextmanager
def _watched(
    engine: Engine,
    what: str,
    keys: dict[str, int],
    take: Callable[[Connection], None],
    release: Callable[[Connection], None] | None,
    watch: bool = True,
) -> Iterator[None]:
    """Hold a lock taken by `take` on a connection of its own, registered for
    `reassert_held` while held. Releasing never raises: a connection that dropped has
    released its locks already, and the error of the work the lock guarded (or its
    success) is what the caller must see, not the release's."""
    conn = engine.connect()
    try:
        take(conn)
    except BaseException:
        _discard(conn)
        raise
    lock = _HeldLock(engine, what, keys, take, conn, session=release is not None)
    token = _held.set((*_held.get(), lock))
    stop = threading.Event()
    watcher = None
    if lock.session and watch:
        watcher = threading.Thread(target=lock.watch, args=(stop,), daemon=True, name=what)
        watcher.start()
    try:
        yield
    finally:
        _held.reset(token)
        stop.set()
        if watcher is not None:
            watcher.join()
        try:
            if release is not None:
                release(lock.conn)
            else:
                lock.conn.rollback()
            lock.conn.close()
        except Exception as exc:  # see the docstring
            log.warning("%s: not released cleanly (%s); its connection is dropped", what, exc)
            _discard(lock.conn)


def reassert_held() -> bool:
    """Re-assert every lock this thread holds (see `_HeldLock.reassert`); True when one
    had to be taken again since it was first taken (whatever it guarded may have changed
    meanwhile). SQLite's file locks cannot drop: nothing to do."""
    for lock in _held.get():
        lock.reassert()
    return any(lock.retaken for lock in _held.get())

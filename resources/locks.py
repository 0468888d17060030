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

PostgreSQL: a transaction-level advisory lock (`pg_advisory_xact_lock[_shared]`) on
(LOCK_CLASS, crc32(workspace_id)), held by a connection whose transaction stays open
for the duration and released by its commit or rollback, also if the process dies.
SQLite (one machine by construction): `flock` on `<data dir>/locks/<crc32 of workspace id>.lock`.

Never nest it (e.g. call `stage_day` while holding it): PostgreSQL queues a new shared
request behind a waiting exclusive one, so a process waiting on itself would hang.
"""

from __future__ import annotations

import fcntl
import os
import socket
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text

from resources.errors import EventsyncError
from resources.settings import data_root

# First key of the two-int advisory lock: the "eventsync export/erasure" namespace.
LOCK_CLASS = 0x65730001


def _object_key(workspace_id: str) -> int:
    """crc32 of the workspace id as a signed int4 (a collision only serializes more)."""
    value = zlib.crc32(workspace_id.encode())
    return value - (1 << 32) if value >= (1 << 31) else value


@contextmanager
def export_lock(engine: Engine, workspace_id: str, *, exclusive: bool = False) -> Iterator[None]:
    """Hold the workspace's export/erasure lock (shared unless `exclusive`)."""
    if engine.dialect.name == "postgresql":
        fn = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
        with engine.begin() as conn:
            conn.execute(
                text(f"SELECT {fn}(:c, :o)"), {"c": LOCK_CLASS, "o": _object_key(workspace_id)}
            )
            yield
        return
    folder = data_root() / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / f"{_object_key(workspace_id) & 0xFFFFFFFF:08x}.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# First key of the partition lock: "eventsync partition" (one sync's one day).
PARTITION_LOCK_CLASS = 0x65730002


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
        with engine.connect() as conn:
            conn.execute(
                text("SELECT set_config('application_name', :h, false)"), {"h": holder[:63]}
            )
            got = conn.execute(
                text("SELECT pg_try_advisory_lock(:c, :o)"), {"c": PARTITION_LOCK_CLASS, "o": key}
            ).scalar_one()
            conn.commit()
            if not got:
                other = conn.execute(
                    text(
                        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a"
                        " ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.classid = :c"
                        " AND l.objid = :o AND l.granted AND l.pid <> pg_backend_pid()"
                    ),
                    {"c": PARTITION_LOCK_CLASS & 0xFFFFFFFF, "o": key & 0xFFFFFFFF},
                ).scalar()
                conn.execute(text("SELECT set_config('application_name', '', false)"))
                conn.commit()
                raise PartitionBusy(
                    f"{where} is already being exported by {other or 'another run'}"
                )
            try:
                yield
            finally:
                conn.execute(
                    text("SELECT pg_advisory_unlock(:c, :o)"),
                    {"c": PARTITION_LOCK_CLASS, "o": key},
                )
                conn.execute(text("SELECT set_config('application_name', '', false)"))
                conn.commit()
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

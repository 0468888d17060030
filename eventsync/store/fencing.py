"""Fencing tokens: who may still publish a sync's day.

Why: the locks of eventsync/store/locks.py live on PostgreSQL connections, and
connections drop (a restart, a failover, `idle_in_transaction_session_timeout`,
pg_terminate_backend). The lock goes with the connection, but the process that held it
goes on: an export that lost its lock while it uploaded once wrote an erased subject's
rows back after the erasure had completed and been verified. A lock says who may
*start*; a fencing token says who may still *finish*.

Every writer of a day -- an export or re-export (eventsync/engine/day_export.py), an
erasure's rewrite (eventsync/engine/rewrite.py), and any later writer such as an
intraday export -- takes the day's next generation (`take`) once it holds its locks and
before it writes anything. Then:

- before each upload it calls `Fence.check`: every lock the thread holds is
  re-asserted on its connection (a dropped one is noticed there and taken back on a
  new connection), and the day's generation must still be the writer's. A writer that
  lost its lock to another stops before its next upload;
- each publishing write (the manifest, the ledger row, the subject index, the deletion
  of stale parts) runs inside `Fence.publishing`: a transaction that first updates the
  day's row *where the generation is still the writer's*. That row stays locked until
  the commit, so a writer taking the day meanwhile waits for it, and a writer whose
  generation is no longer current publishes nothing (`Fenced`).

The generation only grows, so an export that began before an erasure rewrote its day
(the erasure took a later generation) can never publish after it. A publishing
transaction whose connection drops is retried on a new one (`publish`): its writes are
idempotent, and the fence is checked again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import Connection, Engine, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError

from eventsync.clock import now_iso
from eventsync.errors import EventsyncError
from eventsync.store.locks import reassert_held
from eventsync.store.schema import day_fences

log = logging.getLogger(__name__)
T = TypeVar("T")
# A publishing transaction that lost its connection is tried this often in all.
PUBLISH_ATTEMPTS = 3


class Fenced(EventsyncError):
    """Another writer took the day after this one: it must not write or publish it."""


def _day(sync_id: str, day: str):  # type: ignore[no-untyped-def]
    return (day_fences.c.sync_id == sync_id) & (day_fences.c.day == day)


def take(engine: Engine, sync_id: str, day: str, writer: str) -> Fence:
    """The day's next generation, for `writer` (it supersedes every earlier one)."""
    insert = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert
    stmt = insert(day_fences).values(
        sync_id=sync_id, day=day, generation=1, writer=writer[:160], taken_at=now_iso()
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["sync_id", "day"],
        set_={
            "generation": day_fences.c.generation + 1,
            "writer": stmt.excluded.writer,
            "taken_at": stmt.excluded.taken_at,
        },
    ).returning(day_fences.c.generation)
    with engine.begin() as conn:
        generation = conn.execute(stmt).scalar_one()
    return Fence(engine, sync_id, day, int(generation), writer)


def current(engine: Engine, sync_id: str, day: str) -> tuple[int, str] | None:
    """(generation, writer) of the day, or None when no writer ever took it."""
    with engine.connect() as conn:
        row = conn.execute(
            select(day_fences.c.generation, day_fences.c.writer).where(_day(sync_id, day))
        ).first()
    return (int(row.generation), row.writer) if row is not None else None


@dataclass(frozen=True)
class Fence:
    """A writer's generation of one sync-day."""

    engine: Engine
    sync_id: str
    day: str
    generation: int
    writer: str

    @property
    def where(self) -> str:
        return f"{self.day}|{self.sync_id}"

    def _lost(self, now: tuple[int, str] | None) -> Fenced:
        by = f"generation {now[0]} of {now[1]}" if now else "nobody"
        return Fenced(
            f"{self.writer} lost day {self.where} (its generation {self.generation} is "
            f"superseded by {by}): it stops without publishing"
        )

    def check(self) -> None:
        """Before each upload: re-assert the thread's locks, then require the day's
        generation to still be this writer's (raises LockLost or Fenced)."""
        reassert_held()
        now = _retrying(lambda: current(self.engine, self.sync_id, self.day))
        if now is None or now[0] != self.generation:
            raise self._lost(now)

    @contextmanager
    def publishing(self) -> Iterator[Connection]:
        """A transaction that holds the day's fence row while the caller publishes
        (committed at the end); raises Fenced when the generation is not this writer's."""
        with self.engine.begin() as conn:
            held = conn.execute(
                update(day_fences)
                .where(_day(self.sync_id, self.day), day_fences.c.generation == self.generation)
                .values(generation=day_fences.c.generation)
            ).rowcount
            if held != 1:
                raise self._lost(current(self.engine, self.sync_id, self.day))
            yield conn

    def publish(self, write: Callable[[Connection], T]) -> T:
        """`write(conn)` inside `publishing`, tried again on a new connection when the
        store connection drops (`write` must be idempotent: it may have done its
        destination part before the drop)."""
        return _retrying(lambda: self._publish_once(write))

    def _publish_once(self, write: Callable[[Connection], T]) -> T:
        with self.publishing() as conn:
            return write(conn)


def _retrying(fn: Callable[[], T]) -> T:
    """fn(), tried again when the store connection dropped under it (pool_pre_ping
    gives the next attempt a live connection)."""
    for attempt in range(1, PUBLISH_ATTEMPTS + 1):
        try:
            return fn()
        except DBAPIError as exc:
            if not exc.connection_invalidated or attempt == PUBLISH_ATTEMPTS:
                raise
            log.warning("store connection dropped (%s); trying again", exc.orig)
    raise AssertionError("unreachable")

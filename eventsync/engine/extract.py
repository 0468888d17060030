"""Stream one workspace's UTC day out of the event store as Arrow record batches.

The fast path is ADBC (SQLite and PostgreSQL drivers): rows go from the database
into Arrow buffers without Python objects per row, and memory stays bounded by the
batch size, never by the size of the day.
"""

from __future__ import annotations

import queue
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, replace
from datetime import date, timedelta
from functools import partial
from itertools import pairwise

import pyarrow as pa
from sqlalchemy import Engine, text

from eventsync.clock import day_bounds_us
from eventsync.engine.event_schema import COLUMNS
from eventsync.engine.name_filter import sql_condition

# Raw store types of the exported columns (timestamps are µs integers in the store).
RAW_SCHEMA = pa.schema(
    [
        pa.field(
            c,
            pa.int64()
            if c in ("occurred_at", "received_at", "nps_score", "schema_version")
            else pa.string(),
        )
        for c in COLUMNS
    ]
)
_SAFE = re.compile(r"^[A-Za-z0-9_.:@\-]{1,128}$")
# The fingerprint's checksum is kept below 2**63 on any backend: 5M rows x 2**31.
_CHECKSUM_MOD = 2_147_483_647


def _literal(value: str) -> str:
    """Inline a workspace id / event type. ADBC's PostgreSQL driver streams with COPY
    only for queries without bind parameters, so values are inlined -- and therefore
    restricted to a safe alphabet (they are ids we generate and fixed type names)."""
    if not _SAFE.match(value):
        raise ValueError(f"refusing to inline unsafe SQL literal {value!r}")
    return "'" + value + "'"


@dataclass(frozen=True)
class DayQuery:
    """The rows of a sync for one UTC day (or the days first_day..last_day), as stored:
    suppressed subjects are dropped after the read (eventsync/engine/suppressed.py).
    `event_names` are exact names and `*` globs (eventsync/engine/name_filter.py);
    `received_through` (µs) keeps only the rows received at or before that instant
    (an intraday export's cut-off)."""

    workspace_id: str
    day: str
    event_types: Sequence[str] | None = None
    last_day: str | None = None
    event_names: Sequence[str] | None = None
    received_through: int | None = None
    # A sub-range [start, end) of the days in µs (`split`); None: all of them.
    occurred_range: tuple[int, int] | None = None

    def bounds(self) -> tuple[int, int]:
        if self.occurred_range is not None:
            return self.occurred_range
        return day_bounds_us(self.day)[0], day_bounds_us(self.last_day or self.day)[1]

    def split(self, parts: int) -> list[DayQuery]:
        """`parts` queries of consecutive, equally long `occurred_at` ranges that
        together are this one (in export order: one range's rows all sort before the
        next one's)."""
        if parts <= 1:
            return [self]
        start, end = self.bounds()
        step = -(-(end - start) // parts)
        cuts = [min(start + i * step, end) for i in range(parts)] + [end]
        return [replace(self, occurred_range=(a, b)) for a, b in pairwise(cuts) if a < b]

    def where(self, alias: str = "e", dialect: str | None = None) -> str:
        """The WHERE clause; `dialect` (sqlite, postgresql) is needed for event names."""
        start, end = self.bounds()
        clauses = [
            f"{alias}.workspace_id = {_literal(self.workspace_id)}",
            f"{alias}.occurred_at >= {start}",
            f"{alias}.occurred_at < {end}",
        ]
        if self.event_types:
            types = ", ".join(_literal(t) for t in self.event_types)
            clauses.append(f"{alias}.event_type IN ({types})")
        if self.event_names:
            if dialect is None:
                raise ValueError("an event-name filter needs the SQL dialect")
            clauses.append(sql_condition(f"{alias}.event_name", self.event_names, dialect))
        if self.received_through is not None:
            clauses.append(f"{alias}.received_at <= {int(self.received_through)}")
        return " AND ".join(clauses)

    def select_sql(self, dialect: str | None = None) -> str:
        cols = ", ".join(f"e.{c}" for c in COLUMNS)
        return (
            f"SELECT {cols} FROM events e WHERE {self.where(dialect=dialect)}"
            " ORDER BY e.occurred_at, e.event_id"
        )


def _sqlite_sentinel() -> str:
    """ADBC's SQLite driver infers each column's type from the first rows it sees; a
    column that is NULL there becomes int64 and a later string fails the read. A
    typed first row (dropped again below) fixes the types of every column."""
    values = [
        f"0 AS {f.name}" if pa.types.is_integer(f.type) else f"'' AS {f.name}" for f in RAW_SCHEMA
    ]
    return "SELECT " + ", ".join(values)


def _adbc_uri(url: str) -> tuple[str, str]:
    """(driver, uri) for ADBC from a SQLAlchemy URL."""
    if url.startswith("sqlite"):
        return "sqlite", url.split("///", 1)[1]
    if url.startswith("postgresql"):
        return "postgresql", re.sub(r"^postgresql(\+\w+)?://", "postgresql://", url)
    raise ValueError(f"no Arrow extraction path for database URL scheme {url.split(':', 1)[0]!r}")


PG_BATCH_BYTES_OPTION = "adbc.postgresql.batch_size_hint_bytes"
PG_BATCH_BYTES = 1024 * 1024
DRIVER_BATCH_ROWS = 4_096


def stream_day(url: str, query: DayQuery, batch_rows: int) -> Iterator[pa.RecordBatch]:
    """Yield the day's rows as record batches of RAW_SCHEMA, in (occurred_at, event_id)
    order, so output is deterministic for the same input."""
    driver, uri = _adbc_uri(url)
    sql = query.select_sql(driver)
    if driver == "sqlite":
        import adbc_driver_sqlite.dbapi as adbc

        sql = f"SELECT * FROM ({_sqlite_sentinel()}) UNION ALL SELECT * FROM ({sql})"
        conn = adbc.connect(uri)
    else:
        import adbc_driver_postgresql.dbapi as adbc

        conn = adbc.connect(uri)
    with closing(conn), closing(conn.cursor()) as cur:
        if driver == "sqlite":
            # Wait for another process's lock as the store's engine does (60 s): without
            # it the read fails at once with "database is locked" when it meets, e.g.,
            # the checkpoint of another run's last closing connection.
            cur.execute("PRAGMA busy_timeout=60000")
            cur.fetchall()
            # `rebatch` makes the batches of `batch_rows` rows the caller sees: smaller
            # driver batches cost less memory while they wait in `stream_day_ranges`.
            rows = min(batch_rows, DRIVER_BATCH_ROWS)
            cur.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(rows)})
        else:
            # This driver cuts batches by bytes (16 MB by default); smaller ones likewise.
            cur.adbc_statement.set_options(**{PG_BATCH_BYTES_OPTION: str(PG_BATCH_BYTES)})
        cur.execute(sql)
        reader = cur.fetch_record_batch()
        first = True
        for batch in reader:
            if first and driver == "sqlite":
                batch = batch.slice(1)
            first = False
            if batch.num_rows:
                yield _conform(batch)


class Prefetch:
    """A thread that runs `produce()` at most `ahead` items ahead of the caller of
    `items()`, from the moment it is made: the database and the driver fill the next
    batch while the caller validates and writes this one (ADBC, Arrow, DuckDB and
    Parquet release the GIL). Memory grows by `ahead` items only: the thread starts
    reading an item only when the caller is done with all but `ahead` of the earlier
    ones (a bounded queue alone would let it hold one more, blocked in `put`). The
    iterator is created, run and closed in the thread (an ADBC connection stays in
    one thread); its errors are raised to the caller. `close()` (always call it) makes
    the thread close the iterator and end."""

    _DONE = object()

    def __init__(self, produce: Callable[[], Iterator], ahead: int = 1) -> None:
        self._items: queue.SimpleQueue = queue.SimpleQueue()
        self._slots = threading.Semaphore(ahead + 1)  # the caller's item and those ahead
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(produce,), name="eventsync-read-ahead", daemon=True
        )
        self._thread.start()

    def _run(self, produce: Callable[[], Iterator]) -> None:
        try:
            it = produce()
            try:
                while True:
                    while not self._slots.acquire(timeout=0.1):
                        if self._stop.is_set():
                            return
                    if self._stop.is_set():
                        return
                    item = next(it, self._DONE)
                    self._items.put(item)
                    if item is self._DONE:
                        return
                    del item
            finally:
                close = getattr(it, "close", None)
                if close is not None:
                    close()
        except BaseException as exc:  # handed to the consumer, raised there
            self._items.put(exc)

    def items(self) -> Iterator:
        while True:
            item = self._items.get()
            if item is self._DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
            del item
            self._slots.release()

    def read_further(self) -> None:
        """One item more ahead of the caller from now on."""
        self._slots.release()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def read_ahead(produce: Callable[[], Iterator[pa.RecordBatch]], ahead: int = 1) -> Iterator:
    """The items of `produce()`, read by a `Prefetch` thread (started at the first
    `next`) at most `ahead` items ahead of the caller. When the caller stops early,
    the thread closes the iterator and ends."""
    fetch = Prefetch(produce, ahead)
    try:
        yield from fetch.items()
    finally:
        fetch.close()


def rebatch(batches: Iterable[pa.RecordBatch], rows: int) -> Iterator[pa.RecordBatch]:
    """The rows of `batches`, in order, as batches of exactly `rows` rows (the last one
    fewer): what comes out does not depend on how the drivers or the ranges of
    `stream_day_ranges` cut the stream, so validation (per batch: duplicates within a
    batch, pandera's reasons) and the staged file's row groups are the same for the
    same rows. A batch whose rows are already in place passes as a zero-copy slice;
    pieces of several are concatenated into one."""
    pending: list[pa.RecordBatch] = []
    have = 0
    for batch in batches:
        offset = 0
        while offset < batch.num_rows:
            take = min(rows - have, batch.num_rows - offset)
            pending.append(batch.slice(offset, take))
            have += take
            offset += take
            if have == rows:
                out = pending[0] if len(pending) == 1 else pa.concat_batches(pending)
                # The driver batches go before the caller works on the copy.
                pending, have = [], 0
                yield out
                del out
        del batch
    if have:
        yield pending[0] if len(pending) == 1 else pa.concat_batches(pending)


def stream_day_ranges(
    url: str, query: DayQuery, batch_rows: int, connections: int = 1
) -> Iterator[pa.RecordBatch]:
    """The day's rows in `stream_day`'s order, as batches of exactly `batch_rows` rows,
    read as `connections` consecutive `occurred_at` ranges over as many connections at
    once (as connectorx partitions a query), each by its own thread. The ranges are
    yielded one after the other, so the output is the same for any number of
    connections. Memory grows by one driver batch per waiting range and two for the
    one being read (its thread one batch ahead of the caller), never by the size of
    the day."""
    fetchers: list[Prefetch] = []

    def in_order() -> Iterator[pa.RecordBatch]:
        for fetch in fetchers:
            fetch.read_further()
            yield from fetch.items()

    try:
        for part in query.split(connections):
            fetchers.append(Prefetch(partial(stream_day, url, part, batch_rows), ahead=0))
        yield from rebatch(in_order(), batch_rows)
    finally:
        for f in fetchers:
            f.close()


def _conform(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Cast to RAW_SCHEMA (drivers differ: int32 vs int64, large strings)."""
    if batch.schema.equals(RAW_SCHEMA):
        return batch
    return pa.RecordBatch.from_arrays(
        [batch.column(i).cast(RAW_SCHEMA.field(i).type) for i in range(batch.num_columns)],
        schema=RAW_SCHEMA,
    )


@dataclass(frozen=True)
class Fingerprint:
    """What the source held for a day when it was read: decides re-syncs."""

    rows: int
    max_received_at: int | None
    checksum: str

    def to_dict(self) -> dict:
        return {
            "rows": self.rows,
            "max_received_at": self.max_received_at,
            "checksum": self.checksum,
        }


def day_fingerprints(
    engine: Engine,
    workspace_id: str,
    first_day: str,
    last_day: str,
    event_types: Sequence[str] | None = None,
    event_names: Sequence[str] | None = None,
) -> dict[str, Fingerprint]:
    """One aggregate query: the fingerprint of every day in [first_day, last_day] that has
    rows, over the rows as stored (as the staging's accumulator counts them). Days
    without rows are absent."""
    query = DayQuery(
        workspace_id, first_day, event_types, last_day=last_day, event_names=event_names
    )
    where = query.where(dialect=engine.dialect.name)
    day_expr = f"(e.occurred_at / {86_400_000_000})"
    sql = (
        f"SELECT {day_expr} AS d, COUNT(*) AS n, MAX(e.received_at) AS mr,"
        f" SUM(e.received_at % {_CHECKSUM_MOD}) AS sr, SUM(LENGTH(e.event_id)) AS sl"
        f" FROM events e WHERE {where} GROUP BY {day_expr}"
    )
    out: dict[str, Fingerprint] = {}
    with engine.connect() as conn:
        # No bind parameters: a colon inside an inlined event name is text, not one.
        for d, n, mr, sr, sl in conn.execute(text(sql.replace(":", "\\:"))):
            day = (date(1970, 1, 1) + timedelta(days=int(d))).isoformat()
            out[day] = Fingerprint(
                int(n), int(mr) if mr is not None else None, f"{int(sr)}:{int(sl)}"
            )
    return out


class FingerprintAccumulator:
    """The fingerprint `day_fingerprints` computes in SQL, accumulated over the batches
    a stage reads -- so staging needs no second scan of the day (on SQLite that query
    cost 11 s of a 5M-row day's 29 s). It fingerprints exactly the rows exported: a
    row that lands after the read changes the source's fingerprint, and the re-sync
    exports the day again. Same arithmetic as the SQL: SQL's % truncates (fmod)."""

    def __init__(self) -> None:
        self.rows = 0
        self.max_received_at: int | None = None
        self._sum_mod = 0
        self._sum_len = 0

    def add(self, batch: pa.RecordBatch) -> None:
        import numpy as np
        import pyarrow.compute as pc

        if not batch.num_rows:
            return
        received = batch.column("received_at").to_numpy(zero_copy_only=False)
        self.rows += batch.num_rows
        top = int(received.max())
        self.max_received_at = (
            top if self.max_received_at is None else max(self.max_received_at, top)
        )
        self._sum_mod += int(np.fmod(received, _CHECKSUM_MOD).sum())
        self._sum_len += int(pc.sum(pc.utf8_length(batch.column("event_id"))).as_py() or 0)

    def result(self) -> Fingerprint | None:
        if not self.rows:
            return None
        return Fingerprint(self.rows, self.max_received_at, f"{self._sum_mod}:{self._sum_len}")

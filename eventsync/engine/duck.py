"""One in-memory DuckDB connection per thread, for vectorized work on Arrow and
Parquet data (JSON checks, id hashes, CSV/JSON-lines rendering)."""

from __future__ import annotations

import threading

import duckdb

_local = threading.local()


def duck() -> duckdb.DuckDBPyConnection:
    con = getattr(_local, "con", None)
    if con is None:
        con = _local.con = duckdb.connect()
        # One thread keeps row order and memory predictable; the export is I/O-bound.
        con.execute("SET threads = 1")
        con.execute("SET memory_limit = '256MB'")
        con.execute("SET preserve_insertion_order = true")
        # Nothing we compute may depend on the worker's clock: TIMESTAMPTZ values print,
        # cast and truncate in UTC (the renderers also format from µs integers).
        con.execute("SET TimeZone = 'UTC'")
    return con

"""Event store connection and migrations. Where the store is: resources/settings.py
(SQLite under $DAGSTER_HOME by default; ``EVENTSYNC_DATABASE_URL`` in production)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.pool import NullPool

from resources.settings import database_url


@cache
def engine_for(url: str) -> Engine:
    """One engine per URL per process (engines pool connections)."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # NullPool: no SQLite connection stays open between uses. The ADBC driver links
        # its own copy of SQLite; POSIX locks are per process, so when an ADBC connection
        # closes the file it drops the locks of pooled sqlite3 connections, and the next
        # ADBC read sees a stale WAL snapshot (measured: a day read as 0 rows) or
        # "disk I/O error". Without pooled connections both copies stay consistent.
        engine = create_engine(url, connect_args={"timeout": 60}, poolclass=NullPool)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            # WAL lets the API ingest while an export reads the same day.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=60000")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


def default_engine() -> Engine:
    """The configured event store's engine (what every entry point uses)."""
    return engine_for(database_url())


def upgrade(url: str | None = None, revision: str = "head") -> str:
    """Create or migrate the event store with Alembic; returns the URL used."""
    from alembic import command
    from alembic.config import Config

    url = url or database_url()
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    cfg.attributes["engine"] = engine_for(url)
    command.upgrade(cfg, revision)
    return url

"""Event store connection and migrations. Where the store is: eventsync/settings.py
(SQLite under $DAGSTER_HOME by default; ``EVENTSYNC_DATABASE_URL`` in production)."""

from __future__ import annotations

import contextlib
import os
import stat
from functools import cache
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.pool import NullPool

from eventsync.settings import database_url


def private_store_file(path: Path) -> None:
    """Create the SQLite store file readable by its owner only (0600), or make an
    existing one so; its folder, when created here, is 0700. SQLite gives its -wal and
    -shm files the mode of the database file. (It holds subject ids and profiles.)"""
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        try:
            info = name.stat()
            if info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) & 0o077:
                name.chmod(0o600)
        except FileNotFoundError:
            continue


@cache
def engine_for(url: str) -> Engine:
    """One engine per URL per process (engines pool connections)."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:" and not path.startswith("file:"):
            private_store_file(Path(path))
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


def upgrade(
    url: str | None = None, revision: str = "head", subject_key_id: str | None = None
) -> str:
    """Create or migrate the event store with Alembic; returns the URL used. Refuses
    (ConfigError) before migrating when the process's subject key is not the store's,
    or when plain suppressions would be hashed without the key named
    (`subject_key_id`, eventsync/store/subject_key.py)."""
    from alembic import command
    from alembic.config import Config

    from eventsync.store.subject_key import guard_upgrade

    url = url or database_url()
    guard_upgrade(engine_for(url), subject_key_id)
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    cfg.attributes["engine"] = engine_for(url)
    command.upgrade(cfg, revision)
    return url

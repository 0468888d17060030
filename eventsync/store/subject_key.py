"""The store remembers which subject key its keyed hashes were made with.

A process with another key would match nothing (erased subjects would come back) and a
migration would hash with the wrong key. So:

- the key's fingerprint (`pseudonyms.key_id()`, not the key) is recorded in `store_meta`
  when the first keyed hash is written (`record`, in that transaction), or by migration
  0015_store_meta from the existing suppressions;
- `check` (once per process and store) refuses a process whose key differs, naming both
  fingerprints and where the process's key came from: it stops, it never re-hashes;
- `guard_upgrade` runs before `eventsync db upgrade` migrates: a store whose plain
  suppressions (migration 0004) or privacy requests' subjects (0011) are about to be
  hashed needs the operator to name the key (`--subject-key-id`), which must be the
  process's; hashed suppressions of another key refuse the upgrade.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, inspect, select, text

from eventsync.clock import now_iso
from eventsync.errors import ConfigError
from eventsync.pseudonyms import key_id, key_path
from eventsync.settings import load
from eventsync.store.schema import store_meta

NAME = "subject_key_id"
_checked: set[tuple[str, str]] = set()


def key_source() -> str:
    return (
        "EVENTSYNC_SUBJECT_KEY" if load().subject_key is not None else f"the key file {key_path()}"
    )


def stored(conn: Connection) -> str | None:
    if not inspect(conn).has_table("store_meta"):
        return None
    return conn.execute(select(store_meta.c.value).where(store_meta.c.name == NAME)).scalar()


def record(conn: Connection) -> None:
    """Record the process's key fingerprint if the store has none (call where a keyed
    hash is written, in that transaction)."""
    if inspect(conn).has_table("store_meta") and stored(conn) is None:
        conn.execute(store_meta.insert().values(name=NAME, value=key_id(), updated_at=now_iso()))


def _refusal(theirs: str, current: str) -> ConfigError:
    return ConfigError(
        "EVENTSYNC_SUBJECT_KEY",
        f"the event store's keyed hashes were made with subject key {theirs}; this process "
        f"has {current} (from {key_source()}): set the key the store was written with "
        "(the environment variable, or restore <data dir>/keys/subject.key). Nothing is "
        "re-hashed: erased subjects would no longer be recognised",
    )


def check(engine: Engine) -> None:
    """Refuse to work with a store written under another subject key (once per process)."""
    current = key_id()
    marker = (str(engine.url), current)
    if marker in _checked:
        return
    with engine.connect() as conn:
        theirs = stored(conn)
    if theirs is not None and theirs != current:
        raise _refusal(theirs, current)
    _checked.add(marker)


def guard_upgrade(engine: Engine, named: str | None) -> None:
    """Before migrating: a recorded key (or, before `store_meta`, the key of the hashed
    suppressions) must be the process's; what a migration is about to hash -- plain
    suppressions (0004), the subjects of existing privacy requests (0011) -- needs the
    key named by the operator (`named`)."""
    current = key_id()
    with engine.connect() as conn:
        theirs = stored(conn)
        if theirs is not None and theirs != current:
            raise _refusal(theirs, current)
        tables = inspect(conn)
        columns = (
            {c["name"] for c in tables.get_columns("suppressions")}
            if tables.has_table("suppressions")
            else set()
        )
        if theirs is None and "key_id" in columns:
            hashed = conn.execute(text("SELECT DISTINCT key_id FROM suppressions")).scalars()
            if other := sorted(k for k in hashed if k != current):
                raise _refusal(other[0], current)
        plain = (
            conn.execute(text("SELECT count(*) FROM suppressions")).scalar()
            if "subject_id" in columns
            else 0
        )
        requests = (
            conn.execute(text("SELECT count(*) FROM privacy_requests")).scalar()
            if tables.has_table("privacy_requests")
            and "subject_hashes" not in {c["name"] for c in tables.get_columns("privacy_requests")}
            else 0
        )
    if named is not None and named != current:
        raise ConfigError(
            "--subject-key-id",
            f"you named subject key {named}, this process has {current} (from {key_source()})",
        )
    if (plain or requests) and named is None:
        what = " and ".join(
            part
            for part in (
                f"{plain} suppressed subjects" if plain else "",
                f"the subjects of {requests} privacy requests" if requests else "",
            )
            if part
        )
        raise ConfigError(
            "--subject-key-id",
            f"this upgrade hashes {what} with subject key {current} "
            f"(from {key_source()}); check that it is the installation's key (the one every "
            f"process uses), then run again with --subject-key-id {current}",
        )

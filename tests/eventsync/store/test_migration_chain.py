"""The whole migration chain, on SQLite and PostgreSQL:

- the store it makes is the models (eventsync/store/schema.py and account_tables.py):
  Alembic's autogenerate finds no difference, column types and server defaults included;
- every downgrade undoes its upgrade: the schema after one step down and up again is the
  schema before it, and the last step down leaves no table of ours.

A migration may be rewritten (it was, to state a change once) only if this still holds."""

from __future__ import annotations

import os
from itertools import pairwise
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

import eventsync.store.connection as store
from eventsync.store import account_tables  # noqa: F401 -- its tables join the metadata
from eventsync.store.connection import engine_for, upgrade
from eventsync.store.schema import metadata


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, es_home: Path) -> str:
    if request.param == "postgresql":
        return request.getfixturevalue("pg_url")
    return os.environ["EVENTSYNC_DATABASE_URL"]


def _config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(store.__file__).parent / "migrations"))
    cfg.attributes["engine"] = engine
    return cfg


def _schema(engine: Engine) -> dict[str, dict[str, object]]:
    """Every table's columns (in order), primary key, indexes, unique and foreign keys."""
    found = inspect(engine)
    return {
        table: {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"], str(c.get("default")))
                for c in found.get_columns(table)
            ],
            "primary_key": found.get_pk_constraint(table)["constrained_columns"],
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                for i in found.get_indexes(table)
            ),
            "unique": sorted(
                (u["name"], tuple(u["column_names"])) for u in found.get_unique_constraints(table)
            ),
            "foreign_keys": sorted(
                (f["referred_table"], tuple(f["constrained_columns"]))
                for f in found.get_foreign_keys(table)
            ),
        }
        for table in sorted(found.get_table_names())
    }


def test_the_migrated_store_is_the_models(empty_url: str) -> None:
    upgrade(empty_url)
    with engine_for(empty_url).connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        assert compare_metadata(context, metadata) == []


def test_every_downgrade_undoes_its_upgrade(empty_url: str) -> None:
    engine = engine_for(empty_url)
    cfg = _config(engine)
    chain = [s.revision for s in reversed(list(ScriptDirectory.from_config(cfg).walk_revisions()))]
    assert len(chain) >= 15
    upgrade(empty_url)
    for before, revision in reversed(list(pairwise(chain))):
        after = _schema(engine)
        command.downgrade(cfg, before)
        assert _schema(engine) != after, f"downgrading {revision} changed nothing"
        command.upgrade(cfg, revision)
        assert _schema(engine) == after, f"{revision} down and up again is another schema"
        command.downgrade(cfg, before)
    command.downgrade(cfg, "base")
    assert set(_schema(engine)) <= {"alembic_version"}

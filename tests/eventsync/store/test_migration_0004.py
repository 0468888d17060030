"""Migration 0004: existing plain suppressions become keyed hashes; a downgrade gets
the plain ids back from the erasure requests that suppressed them."""

from __future__ import annotations

import json
import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, text

import eventsync.store.connection as store
from eventsync.pseudonyms import key_id, subject_hash
from eventsync.store.connection import engine_for, upgrade


def test_plain_suppressions_are_hashed_on_upgrade_and_restored_on_downgrade(es_home) -> None:  # type: ignore[no-untyped-def]
    url = os.environ["EVENTSYNC_DATABASE_URL"]
    upgrade(url, "0002")
    engine = engine_for(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO privacy_requests (id, workspace_id, kind, status, user_ids,"
                " company_ids, attempt, progress, created_at, updated_at) VALUES"
                " ('era_1', 'ws_1', 'erasure', 'completed', :u, :c, 1, '{}', 't', 't')"
            ),
            {"u": json.dumps(["alice", "bob"]), "c": json.dumps(["acme"])},
        )
        for kind, subject in (("user", "alice"), ("company", "acme")):
            conn.execute(
                text("INSERT INTO suppressions VALUES ('ws_1', :k, :s, 'era_1', '2025-01-01')"),
                {"k": kind, "s": subject},
            )
    # Up to 0008 only: from 0011 on a completed request keeps no plain id, so a
    # downgrade past it has nothing to recover the ids from (that is 0011's point).
    upgrade(url, "0008", subject_key_id=key_id())
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM suppressions ORDER BY subject_type")).all()
    assert [(r.subject_type, r.subject_hash, r.key_id, r.request_id) for r in rows] == [
        ("company", subject_hash("ws_1", "company", "acme"), key_id(), "era_1"),
        ("user", subject_hash("ws_1", "user", "alice"), key_id(), "era_1"),
    ]
    columns = {c["name"] for c in inspect(engine).get_columns("privacy_requests")}
    assert {"lease_owner", "lease_expires_at", "result_note"} <= columns

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(store.__file__).parent / "migrations"))
    cfg.attributes["engine"] = engine
    command.downgrade(cfg, "0002")
    with engine.connect() as conn:
        plain = conn.execute(text("SELECT subject_type, subject_id FROM suppressions")).all()
    assert sorted(plain) == [("company", "acme"), ("user", "alice")]

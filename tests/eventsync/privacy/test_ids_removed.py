"""Erased ids are kept only as keyed hashes once a request completes: the request row,
the API's answers and the audit log name the request, not the person; the API shows
the ids only while the request is in flight, to its own workspace. The SQLite store
file and the data folder are readable by their owner only."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text

from eventsync import pseudonyms
from eventsync.api import create_app
from eventsync.errors import ConfigError
from eventsync.ingest import ingest_events
from eventsync.privacy import request_store, runner
from eventsync.settings import data_root
from eventsync.store.connection import engine_for, upgrade
from eventsync.store.schema import privacy_request_log, privacy_requests
from eventsync.workspaces import create_workspace

ALICE = "alice-7f3a@example.com"
ACME = "acme-company-91"


def _event(i: int, user: str, company: str | None = None) -> dict:
    return {
        "event_id": f"e{i}",
        "event_type": "track",
        "event_name": "Clicked",
        "user_id": user,
        "company_id": company,
        "occurred_at": "2025-04-10T10:00:00Z",
    }


def _stored_text(engine: Engine) -> str:
    """Every privacy request row and audit row, as text."""
    with engine.connect() as conn:
        rows = conn.execute(select(privacy_requests)).all()
        rows += conn.execute(select(privacy_request_log)).all()
    return json.dumps([list(r) for r in rows], default=str)


def test_a_completed_erasure_keeps_only_keyed_hashes_and_the_api_shows_no_ids(
    engine: Engine,
) -> None:
    created = create_workspace(engine, "acme")
    ws, key = created.workspace_id, created.api_key
    ingest_events(engine, ws, [_event(1, ALICE, ACME)])
    client = TestClient(create_app(engine))
    headers = {"Authorization": f"Bearer {key}"}
    r = client.post(
        "/v1/privacy/erasures", json={"user_ids": [ALICE], "company_ids": [ACME]}, headers=headers
    )
    assert r.status_code == 202
    rid = r.json()["id"]
    # in flight: the workspace sees its ids
    shown = client.get(f"/v1/privacy/erasures/{rid}", headers=headers).json()
    assert (shown["user_ids"], shown["company_ids"], shown["ids_removed"]) == (
        [ALICE],
        [ACME],
        False,
    )
    other = {"Authorization": f"Bearer {create_workspace(engine, 'other').api_key}"}
    assert client.get(f"/v1/privacy/erasures/{rid}", headers=other).status_code == 404

    assert runner.run_all(engine, rid, "test").status == "completed"
    done = client.get(f"/v1/privacy/erasures/{rid}", headers=headers).json()
    assert done["status"] == "completed"
    assert (done["user_ids"], done["company_ids"]) == ([], [])
    assert (done["user_count"], done["company_count"], done["ids_removed"]) == (1, 1, True)
    listed = client.get("/v1/privacy/erasures", headers=headers).text
    assert ALICE not in listed and ACME not in listed
    # the store: no plain id in the request row or the audit log, only the keyed hashes
    stored = _stored_text(engine)
    assert ALICE not in stored and ACME not in stored
    req = request_store.get_request(engine, rid)
    assert req.subject_hashes == {
        "user": [pseudonyms.subject_hash(ws, "user", ALICE)],
        "company": [pseudonyms.subject_hash(ws, "company", ACME)],
    }
    assert all(e["request_id"] == rid for e in request_store.audit_log(engine, rid))


def test_a_later_erasure_finds_a_completed_access_export_by_its_hash(
    engine: Engine, es_home: Path
) -> None:
    ws = create_workspace(engine, "acme").workspace_id
    ingest_events(engine, ws, [_event(1, ALICE)])
    acc = request_store.create_request(engine, ws, "access_export", [ALICE], [], "test")
    acc = runner.run_all(engine, acc.id, "test")
    assert acc.status == "completed" and acc.user_ids == []
    path = Path(acc.progress.output.local_path)  # type: ignore[union-attr]
    assert path.exists()
    era = request_store.create_request(engine, ws, "erasure", [ALICE], [], "test")
    assert runner.run_all(engine, era.id, "test").status == "completed"
    assert not path.exists()
    assert request_store.get_request(engine, acc.id).status == "erased"
    assert ALICE not in _stored_text(engine)


def test_a_failed_request_keeps_its_ids_for_a_retry(engine: Engine) -> None:
    ws = create_workspace(engine, "acme").workspace_id
    req = request_store.create_request(engine, ws, "erasure", [ALICE], [], "test")
    runner.claim(engine, req.id, "test")
    runner.start(engine, req.id, "owner", "test")
    runner.fail(engine, req.id, "boom", "test", owner="owner", attempt=1)
    failed = request_store.get_request(engine, req.id)
    assert failed.status == "failed" and failed.user_ids == [ALICE]


def test_the_store_file_and_the_data_folder_are_private_whatever_the_umask(
    es_home: Path, tmp_path: Path
) -> None:
    old = os.umask(0o022)
    try:
        url = f"sqlite:///{tmp_path / 'store' / 'eventsync.db'}"
        upgrade(url)
        engine = engine_for(url)
        create_workspace(engine, "acme")
        root = data_root()
        (root / "staging").mkdir(exist_ok=True)
    finally:
        os.umask(old)
    db = tmp_path / "store" / "eventsync.db"
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "store").stat().st_mode) == 0o700
    wal = Path(f"{db}-wal")
    if wal.exists():
        assert stat.S_IMODE(wal.stat().st_mode) == 0o600
    assert stat.S_IMODE(root.stat().st_mode) == 0o700


def test_an_existing_world_readable_store_file_and_data_folder_are_made_private(
    es_home: Path, tmp_path: Path
) -> None:
    db = tmp_path / "old.db"
    db.touch(mode=0o644)
    db.chmod(0o644)
    engine_for(f"sqlite:///{db}")
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    root = data_root()
    root.chmod(0o755)
    assert data_root() == root and stat.S_IMODE(root.stat().st_mode) == 0o700


def test_migration_0011_hashes_the_ids_of_completed_requests(es_home: Path) -> None:
    url = os.environ["EVENTSYNC_DATABASE_URL"]
    upgrade(url, "0010_sync_frequency")
    engine = engine_for(url)
    nfd = "jose\u0301"  # an id stored before the NFC rule
    old_hash = _pre_nfc_hash("ws_1", "user", nfd)
    with engine.begin() as conn:
        for rid, status, users in (
            ("era_done", "completed", [ALICE, nfd]),
            ("era_failed", "failed", ["bob"]),
            ("acc_gone", "erased", ["carol"]),
        ):
            conn.execute(
                text(
                    "INSERT INTO privacy_requests (id, workspace_id, kind, status, user_ids,"
                    " company_ids, attempt, progress, created_at, updated_at) VALUES"
                    " (:id, 'ws_1', :kind, :st, :u, :c, 1, '{}', 't', 't')"
                ),
                {
                    "id": rid,
                    "kind": "erasure" if rid.startswith("era") else "access_export",
                    "st": status,
                    "u": json.dumps(users),
                    "c": json.dumps([ACME] if rid == "era_done" else []),
                },
            )
        conn.execute(
            text("INSERT INTO suppressions VALUES ('ws_1', 'user', :h, :k, 'era_done', 't')"),
            {"h": old_hash, "k": pseudonyms.key_id()},
        )
    # The upgrade hashes the requests' subjects: the operator names the key first.
    with pytest.raises(ConfigError, match="the subjects of 3 privacy requests"):
        upgrade(url, "head")
    upgrade(url, "head", subject_key_id=pseudonyms.key_id())
    done = request_store.get_request(engine, "era_done")
    assert (done.user_ids, done.company_ids) == ([], [])
    assert done.subject_hashes["user"] == [
        pseudonyms.subject_hash("ws_1", "user", ALICE),
        pseudonyms.subject_hash("ws_1", "user", nfd),
    ]
    assert request_store.get_request(engine, "acc_gone").user_ids == []
    failed = request_store.get_request(engine, "era_failed")
    assert failed.user_ids == ["bob"]
    assert failed.subject_hashes == {
        "user": [pseudonyms.subject_hash("ws_1", "user", "bob")],
        "company": [],
    }
    assert ALICE not in _stored_text(engine) and ACME not in _stored_text(engine)
    # the erased NFD id is still refused, now compared in its NFC form
    with engine.connect() as conn:
        hashes = set(conn.execute(text("SELECT subject_hash FROM suppressions")).scalars())
    assert pseudonyms.subject_hash("ws_1", "user", "jos\u00e9") in hashes


def _pre_nfc_hash(workspace_id: str, kind: str, subject_id: str) -> str:
    import hashlib

    message = f"{workspace_id}\x1f{kind}\x1f{subject_id}".encode()
    return hashlib.blake2b(message, key=pseudonyms.secret(), digest_size=32).hexdigest()

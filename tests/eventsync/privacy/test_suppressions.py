"""The suppression list: keyed hashes only, erased subjects refused at the door with a
reason and nothing of them stored, an audited lift, and a changed key detected."""

from __future__ import annotations

import json
import stat
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from eventsync import pseudonyms
from eventsync.errors import ConfigError, NotFound
from eventsync.ingest import ingest_events
from eventsync.privacy import request_store, runner, suppressions
from eventsync.store.schema import company_profiles, events, user_profiles
from eventsync.store.schema import suppressions as suppressions_table
from eventsync.workspaces import create_workspace

DAY = "2025-04-10"


def _event(i: int, user: str, company: str | None = None, kind: str = "track") -> dict:
    return {
        "event_id": f"e{i}",
        "event_type": kind,
        "event_name": "Clicked",
        "user_id": user,
        "company_id": company,
        "occurred_at": f"{DAY}T10:00:00Z",
        "properties": {"email": f"{user}@example.com"},
    }


def _erase(engine: Engine, ws: str, users: list[str], companies: list[str] = ()) -> str:
    req = request_store.create_request(engine, ws, "erasure", users, list(companies), "test")
    return runner.run_all(engine, req.id, "test").id


def _count(engine: Engine, table, **where: str) -> int:  # type: ignore[no-untyped-def]
    cond = [table.c[k] == v for k, v in where.items()]
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table).where(*cond)).scalar_one()


def test_the_list_keeps_keyed_hashes_not_ids(engine: Engine) -> None:
    ws = create_workspace(engine, "acme").workspace_id
    ingest_events(engine, ws, [_event(1, "alice", "acme-co")])
    rid = _erase(engine, ws, ["alice"], ["acme-co"])
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(select(suppressions_table))]
    assert {r["subject_type"] for r in rows} == {"user", "company"}
    text = json.dumps(rows)
    assert "alice" not in text and "acme-co" not in text
    assert {r["subject_hash"] for r in rows} == {
        pseudonyms.subject_hash(ws, "user", "alice"),
        pseudonyms.subject_hash(ws, "company", "acme-co"),
    }
    assert {r["key_id"] for r in rows} == {pseudonyms.key_id()}
    assert {r["request_id"] for r in rows} == {rid}


def test_the_key_file_is_created_once_readable_by_the_owner_only(es_home: Path) -> None:
    first = pseudonyms.secret()
    path = pseudonyms.key_path()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(first) == 32
    pseudonyms._secret.cache_clear()
    assert pseudonyms.secret() == first


def test_events_and_profiles_of_an_erased_user_are_refused_with_a_reason(engine: Engine) -> None:
    ws = create_workspace(engine, "acme").workspace_id
    ingest_events(engine, ws, [_event(1, "alice")])
    _erase(engine, ws, ["alice"])
    batch = [
        _event(2, "alice"),
        _event(3, "alice", kind="identify_user"),
        _event(4, "bob"),
    ]
    result = ingest_events(engine, ws, batch)
    assert result.accepted == 1
    assert [(r.index, r.event_id, r.reason) for r in result.rejections] == [
        (0, "e2", "subject erased"),
        (1, "e3", "subject erased"),
    ]
    assert _count(engine, events, user_id="alice") == 0
    assert _count(engine, user_profiles, user_id="alice") == 0
    assert _count(engine, events, user_id="bob") == 1


def test_an_event_naming_an_erased_company_is_refused(engine: Engine) -> None:
    ws = create_workspace(engine, "acme").workspace_id
    ingest_events(engine, ws, [_event(1, "bob", "acme-co", kind="identify_company")])
    _erase(engine, ws, [], ["acme-co"])
    result = ingest_events(
        engine, ws, [_event(2, "bob", "acme-co", kind="identify_company"), _event(3, "bob")]
    )
    assert [r.reason for r in result.rejections] == ["subject erased"]
    assert _count(engine, company_profiles, company_id="acme-co") == 0
    assert _count(engine, events, company_id="acme-co") == 0


def test_the_same_id_in_another_workspace_is_not_suppressed(engine: Engine) -> None:
    ws = create_workspace(engine, "acme").workspace_id
    other = create_workspace(engine, "other").workspace_id
    ingest_events(engine, ws, [_event(1, "alice")])
    _erase(engine, ws, ["alice"])
    assert ingest_events(engine, other, [_event(2, "alice")]).accepted == 1


def test_lifting_a_suppression_is_audited_and_accepts_the_subject_again(engine: Engine) -> None:
    ws = create_workspace(engine, "acme").workspace_id
    ingest_events(engine, ws, [_event(1, "alice")])
    rid = _erase(engine, ws, ["alice"])
    lifted = suppressions.lift(engine, ws, "user", "alice", "cli:ops", "consent 2025-05-01")
    assert lifted["erasure_request_id"] == rid
    entry = request_store.audit_log(engine, rid)[-1]
    assert entry["action"] == "unsuppressed" and entry["actor"] == "cli:ops"
    assert entry["detail"]["reason"] == "consent 2025-05-01"
    assert entry["detail"]["subject_hash"] == pseudonyms.subject_hash(ws, "user", "alice")
    assert "alice" not in json.dumps(request_store.audit_log(engine, rid))
    assert ingest_events(engine, ws, [_event(2, "alice")]).accepted == 1
    with pytest.raises(NotFound, match="not on the suppression list"):
        suppressions.lift(engine, ws, "user", "alice", "cli:ops")


def test_a_changed_subject_key_stops_ingestion_instead_of_forgetting_erasures(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = create_workspace(engine, "acme").workspace_id
    ingest_events(engine, ws, [_event(1, "alice")])
    _erase(engine, ws, ["alice"])
    monkeypatch.setenv("EVENTSYNC_SUBJECT_KEY", "another-secret-of-at-least-32-characters!")
    with pytest.raises(ConfigError, match=r"EVENTSYNC_SUBJECT_KEY: the event store's keyed hashes"):
        ingest_events(engine, ws, [_event(2, "alice")])
    assert _count(engine, events, user_id="alice") == 0


def test_a_short_subject_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTSYNC_SUBJECT_KEY", "short")
    with pytest.raises(ConfigError, match="at least 32 characters"):
        pseudonyms.secret()


def test_suppressing_waits_for_an_ingestion_in_flight(engine: Engine) -> None:
    """The gate: an ingestion transaction that read the list before the suppression
    commits first; the suppression waits for it (so the erasure's store step, which
    runs after, sees that row)."""
    ws = create_workspace(engine, "acme").workspace_id
    inside, release, added = threading.Event(), threading.Event(), threading.Event()

    def ingest() -> None:
        with suppressions.admission(engine, ws) as conn:
            kept, _ = suppressions.split_erased(conn, ws, [{"user_id": "alice"}])
            assert kept  # not suppressed yet
            inside.set()
            release.wait(10)

    def suppress() -> None:
        suppressions.add(engine, ws, "era_x", [("user", "alice")])
        added.set()

    t1 = threading.Thread(target=ingest)
    t1.start()
    assert inside.wait(10)
    t2 = threading.Thread(target=suppress)
    t2.start()
    time.sleep(0.3)
    assert not added.is_set(), "the suppression did not wait for the ingestion in flight"
    release.set()
    t1.join(10)
    t2.join(10)
    assert added.is_set()
    assert suppressions.is_suppressed(engine, ws, "user", "alice")


def test_a_file_ingest_writes_an_erased_users_lines_to_the_rejects(
    engine: Engine, tmp_path: Path
) -> None:
    from eventsync.ingest import ingest_file

    ws = create_workspace(engine, "acme").workspace_id
    ingest_events(engine, ws, [_event(1, "alice")])
    _erase(engine, ws, ["alice"])
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in (_event(2, "alice"), _event(3, "bob"))))
    result = ingest_file(engine, ws, path)
    assert (result.accepted, result.rejected) == (1, 1)
    (line,) = [json.loads(x) for x in Path(result.rejects_path).read_text().splitlines()]
    assert (line["line"], line["reason"]) == (1, "subject erased")
    assert _count(engine, events, user_id="alice") == 0

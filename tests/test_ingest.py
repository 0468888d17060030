"""Strict ingestion: every rejection reason, mixed batches, profiles, files."""

from __future__ import annotations

import csv
import gzip
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from assets.event_schema import EVENT_TYPES, MAX_ID_LENGTH, MAX_PROPERTIES_BYTES
from pipeline.ingest.rules import ingest_events, ingest_file, validate_event
from pipeline.workspaces import create_workspace
from resources.clock import to_us
from resources.errors import EventsyncError
from resources.schema import company_profiles, events, user_profiles


def us(*args: int) -> int:
    return to_us(datetime(*args, tzinfo=UTC))


NOW_US = us(2025, 3, 10, 12)


def ev(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "event_id": "e1",
        "event_type": "track",
        "event_name": "Report Created",
        "user_id": "u1",
        "occurred_at": "2025-03-09T10:00:00Z",
    }
    base.update(over)
    return {k: v for k, v in base.items() if v is not ...}


@pytest.fixture
def ws(engine: Engine) -> str:
    return create_workspace(engine, "Ingest tests").workspace_id


def stored_rows(engine: Engine, workspace_id: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(events).where(events.c.workspace_id == workspace_id).order_by(events.c.event_id)
        )
        return [dict(r._mapping) for r in rows]


# --- validate_event: one test per reason ------------------------------------------------
def test_valid_event_becomes_a_store_row() -> None:
    row, reason = validate_event(
        ev(properties={"plan": "pro", "n": 2}, company_id="c1", hostname="app.example.com"),
        now_us=NOW_US,
    )
    assert reason is None
    assert row is not None
    assert row["occurred_at"] == us(2025, 3, 9, 10)
    assert row["properties"] == '{"plan":"pro","n":2}'  # compact JSON text
    assert row["company_id"] == "c1" and row["hostname"] == "app.example.com"
    assert row["schema_version"] == 1
    assert "workspace_id" not in row and "received_at" not in row


@pytest.mark.parametrize(
    "missing", ["event_id", "event_type", "event_name", "user_id", "occurred_at"]
)
def test_missing_field_is_named(missing: str) -> None:
    row, reason = validate_event(ev(**{missing: ...}), now_us=NOW_US)
    assert row is None
    assert reason == f"missing field {missing!r}"


def test_empty_user_id_is_missing() -> None:
    _, reason = validate_event(ev(user_id="  "), now_us=NOW_US)
    assert reason == "missing field 'user_id' (empty string)"


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("user_id", 42, "expected string, got int"),
        ("event_name", ["x"], "expected string, got list"),
        ("company_id", 7, "expected string, got int"),
        ("properties", [1, 2], "expected JSON object, got list"),
        ("properties", '{"a": 1}', "expected JSON object, got str"),
        ("nps_score", "9", "expected integer, got str"),
        ("nps_score", 7.5, "expected integer, got float"),
        ("occurred_at", 1.7e12, "integer epoch milliseconds, got float"),
    ],
)
def test_wrong_type_names_field_and_expected_type(field: str, value: Any, expected: str) -> None:
    _, reason = validate_event(ev(**{field: value}), now_us=NOW_US)
    assert reason is not None
    assert f"wrong type for {field!r}" in reason
    assert expected in reason


def test_unknown_event_type_lists_the_allowed_ones() -> None:
    _, reason = validate_event(ev(event_type="pageview"), now_us=NOW_US)
    assert reason is not None
    assert reason.startswith("unknown event_type 'pageview'; allowed: ")
    assert all(t in reason for t in EVENT_TYPES)


def test_unknown_field_is_rejected_not_dropped() -> None:
    _, reason = validate_event(ev(plan="pro"), now_us=NOW_US)
    assert reason == "unknown field 'plan'; put custom data in 'properties'"


@pytest.mark.parametrize(
    ("value", "occurred_iso"),
    [
        ("2025-03-09T10:00:00Z", "2025-03-09T10:00:00+00:00"),
        ("2025-03-09T12:00:00+02:00", "2025-03-09T10:00:00+00:00"),
        ("2025-03-09T10:00:00.123456+00:00", "2025-03-09T10:00:00.123456+00:00"),
        (1741514400000, "2025-03-09T10:00:00+00:00"),  # epoch milliseconds
    ],
)
def test_accepted_timestamps(value: Any, occurred_iso: str) -> None:
    row, reason = validate_event(ev(occurred_at=value), now_us=NOW_US)
    assert reason is None and row is not None
    assert row["occurred_at"] == to_us(datetime.fromisoformat(occurred_iso))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-03-09T10:00:00", "has no timezone"),  # naive
        ("yesterday", "is not ISO-8601"),
        ("2025-02-30T10:00:00Z", "is not ISO-8601"),
        (1741514400, "outside 2000-01-01 .. now + 1 day"),  # seconds, not ms: 1970
        ("1999-12-31T23:59:59Z", "outside 2000-01-01"),
        ("2025-03-20T00:00:00Z", "outside 2000-01-01 .. now + 1 day"),  # future
        (True, "wrong type for 'occurred_at'"),
    ],
)
def test_bad_timestamp_names_the_field(value: Any, expected: str) -> None:
    _, reason = validate_event(ev(occurred_at=value), now_us=NOW_US)
    assert reason is not None
    assert "'occurred_at'" in reason
    assert expected in reason


def test_oversize_properties() -> None:
    row, reason = validate_event(
        ev(properties={"blob": "x" * (MAX_PROPERTIES_BYTES - 11)}), now_us=NOW_US
    )
    assert reason is None and row is not None  # exactly at the limit
    assert len(row["properties"].encode()) == MAX_PROPERTIES_BYTES
    _, reason = validate_event(ev(properties={"blob": "x" * MAX_PROPERTIES_BYTES}), now_us=NOW_US)
    assert reason == (
        f"properties too large: {MAX_PROPERTIES_BYTES + 11} bytes of JSON, "
        f"at most {MAX_PROPERTIES_BYTES}"
    )


@pytest.mark.parametrize("score", [-1, 11, 100])
def test_nps_score_out_of_range(score: int) -> None:
    _, reason = validate_event(ev(event_type="nps_response", nps_score=score), now_us=NOW_US)
    assert reason == f"nps_score {score} is outside 0..10"


def test_nps_response_needs_a_score() -> None:
    _, reason = validate_event(ev(event_type="nps_response"), now_us=NOW_US)
    assert reason == "missing field 'nps_score' (required for nps_response)"
    row, reason = validate_event(ev(event_type="nps_response", nps_score=0), now_us=NOW_US)
    assert reason is None and row is not None and row["nps_score"] == 0


@pytest.mark.parametrize("field", ["event_id", "user_id", "company_id", "session_id"])
def test_id_fields_too_long(field: str) -> None:
    _, reason = validate_event(ev(**{field: "x" * (MAX_ID_LENGTH + 1)}), now_us=NOW_US)
    assert reason == (
        f"{field!r} is too long: {MAX_ID_LENGTH + 1} characters, at most {MAX_ID_LENGTH}"
    )


def test_identify_company_needs_company_id() -> None:
    _, reason = validate_event(ev(event_type="identify_company"), now_us=NOW_US)
    assert reason == "missing field 'company_id' (required for identify_company)"


def test_non_object_event() -> None:
    assert validate_event(["e1"]) == (None, "event must be a JSON object, got list")


# --- ingest_events ----------------------------------------------------------------------
def test_mixed_batch_keeps_valid_events(engine: Engine, ws: str) -> None:
    batch = [
        ev(event_id="a"),
        ev(event_id="b", event_type="nope"),
        ev(
            event_id="c",
            event_type="page_view",
            event_name="/home",
            received_at="ignored",
            workspace_id="ignored",
            properties={"k": "v"},
        ),
        "not an object",
        ev(event_id="a"),  # duplicate within the batch
        ev(event_id="d", event_type="nps_response", nps_score=9),
    ]
    received = us(2025, 3, 10, 1)
    result = ingest_events(engine, ws, batch, received_at_us=received)
    assert result.accepted == 3
    assert [(r.index, r.event_id) for r in result.rejections] == [(1, "b"), (3, None), (4, "a")]
    assert result.rejections[2].reason == "duplicate event_id 'a' (also at index 0 of this batch)"
    rows = stored_rows(engine, ws)
    assert [r["event_id"] for r in rows] == ["a", "c", "d"]
    assert {r["received_at"] for r in rows} == {received}
    assert {r["workspace_id"] for r in rows} == {ws}
    assert rows[1]["properties"] == '{"k":"v"}'
    assert rows[2]["nps_score"] == 9


def test_duplicate_of_stored_event_is_rejected(engine: Engine, ws: str) -> None:
    other = create_workspace(engine, "Other").workspace_id
    assert ingest_events(engine, ws, [ev(event_id="x1")]).accepted == 1
    again = ingest_events(engine, ws, [ev(event_id="x1"), ev(event_id="x2")])
    assert again.accepted == 1
    assert [(r.index, r.event_id, r.reason) for r in again.rejections] == [
        (0, "x1", "duplicate event_id 'x1' (already stored in this workspace)")
    ]
    # event ids are unique per workspace, not globally
    assert ingest_events(engine, other, [ev(event_id="x1")]).accepted == 1
    assert len(stored_rows(engine, ws)) == 2


def test_identify_events_upsert_profiles(engine: Engine, ws: str) -> None:
    ingest_events(
        engine,
        ws,
        [
            ev(
                event_id="i1",
                event_type="identify_user",
                event_name="identify_user",
                occurred_at="2025-03-01T00:00:00Z",
                company_id="c1",
                properties={"plan": "free", "role": "admin"},
            ),
            ev(
                event_id="i2",
                event_type="identify_company",
                event_name="identify_company",
                company_id="c1",
                properties={"name": "Acme"},
            ),
        ],
    )
    ingest_events(
        engine,
        ws,
        [
            ev(
                event_id="i3",
                event_type="identify_user",
                event_name="identify_user",
                occurred_at="2025-03-05T00:00:00Z",
                properties={"plan": "pro"},
            ),
            # older than what the profile has seen: only adds keys
            ev(
                event_id="i4",
                event_type="identify_user",
                event_name="identify_user",
                occurred_at="2025-02-01T00:00:00Z",
                properties={"plan": "trial", "locale": "de"},
            ),
        ],
    )
    with engine.connect() as conn:
        user = conn.execute(select(user_profiles).where(user_profiles.c.user_id == "u1")).one()
        company = conn.execute(select(company_profiles)).one()
    assert json.loads(user.properties) == {"plan": "pro", "role": "admin", "locale": "de"}
    assert user.company_id == "c1"
    assert user.first_seen_at == us(2025, 2, 1)
    assert user.last_seen_at == us(2025, 3, 5)
    assert (company.company_id, json.loads(company.properties)) == ("c1", {"name": "Acme"})


# --- files --------------------------------------------------------------------------------
def test_jsonl_file_with_rejects(engine: Engine, ws: str, tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    lines = [
        json.dumps(ev(event_id="j1")),
        "{not json",
        "",
        json.dumps(ev(event_id="j2", nps_score=12, event_type="nps_response")),
        json.dumps([1, 2]),
        json.dumps(ev(event_id="j3", properties={"a": 1})),
        json.dumps(ev(event_id="j1")),  # duplicate of line 1 (in another chunk)
    ]
    path.write_text("\n".join(lines) + "\n")
    result = ingest_file(engine, ws, path, chunk_size=2)
    assert (result.accepted, result.rejected) == (2, 4)
    assert result.rejects_path == str(tmp_path / "events.jsonl.rejects.jsonl")
    rejects = [json.loads(x) for x in Path(result.rejects_path).read_text().splitlines()]
    assert [r["line"] for r in rejects] == [2, 4, 5, 7]
    assert rejects[0]["reason"].startswith("malformed JSON: ")
    assert rejects[0]["original"] == "{not json"
    assert rejects[1]["reason"] == "nps_score 12 is outside 0..10"
    assert rejects[1]["event_id"] == "j2"
    assert rejects[2]["reason"] == "expected one JSON object per line, got list"
    assert rejects[3]["reason"] == "duplicate event_id 'j1' (already stored in this workspace)"
    assert json.loads(rejects[3]["original"]) == ev(event_id="j1")
    rows = stored_rows(engine, ws)
    assert [r["event_id"] for r in rows] == ["j1", "j3"]
    assert {r["source"] for r in rows} == {"file-import"}


def test_csv_file(engine: Engine, ws: str, tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    rejects = tmp_path / "out" / "bad.jsonl"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "event_id",
                "event_type",
                "event_name",
                "user_id",
                "company_id",
                "occurred_at",
                "properties",
                "nps_score",
            ]
        )
        w.writerow(
            [
                "c1",
                "page_view",
                "/home",
                "u1",
                "",
                "2025-03-09T10:00:00Z",
                '{"title": "Home, sweet",\n "n": 1}',
                "",
            ]
        )
        w.writerow(
            ["c2", "nps_response", "nps:1:SUBMITTED", "u2", "acme", "1741514400000", "", "8"]
        )
        w.writerow(["c3", "track", "Clicked", "u3", "", "2025-03-09T10:00:00Z", "{oops", ""])
        w.writerow(
            ["c4", "nps_response", "nps:1:SUBMITTED", "u4", "", "2025-03-09T10:00:00", "", "5"]
        )
        w.writerow(["c5", "track", "x"])
    result = ingest_file(engine, ws, path, rejects_path=rejects)
    assert (result.accepted, result.rejected) == (2, 3)
    assert result.rejects_path == str(rejects)
    got = [json.loads(x) for x in rejects.read_text().splitlines()]
    assert [r["line"] for r in got] == [5, 6, 7]  # record 1 spans lines 2-3
    assert got[0]["reason"].startswith("properties is not valid JSON")
    assert "has no timezone" in got[1]["reason"] and got[1]["event_id"] == "c4"
    assert got[2]["reason"] == "row has 3 columns, the header has 8"
    assert got[2]["original"] == "c5,track,x"
    rows = {r["event_id"]: r for r in stored_rows(engine, ws)}
    assert json.loads(rows["c1"]["properties"]) == {"title": "Home, sweet", "n": 1}
    assert rows["c1"]["company_id"] is None
    assert rows["c2"]["nps_score"] == 8 and rows["c2"]["company_id"] == "acme"
    assert rows["c2"]["occurred_at"] == 1741514400000 * 1000


def test_gzipped_jsonl_and_no_rejects_file_when_all_valid(
    engine: Engine, ws: str, tmp_path: Path
) -> None:
    path = tmp_path / "events.ndjson.gz"
    with gzip.open(path, "wt") as f:
        for i in range(2500):
            f.write(json.dumps(ev(event_id=f"g{i}")) + "\n")
    result = ingest_file(engine, ws, path)
    assert (result.accepted, result.rejected, result.rejects_path) == (2500, 0, None)
    assert not (tmp_path / "events.ndjson.gz.rejects.jsonl").exists()
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(events)).scalar() == 2500


def test_file_errors_name_the_problem(engine: Engine, ws: str, tmp_path: Path) -> None:
    bad_ext = tmp_path / "events.xml"
    bad_ext.write_text("<x/>")
    with pytest.raises(EventsyncError, match=r"unknown file type '\.xml'"):
        ingest_file(engine, ws, bad_ext)
    bad_header = tmp_path / "events.csv"
    bad_header.write_text("event_id,colour\n1,red\n")
    with pytest.raises(EventsyncError, match=r"unknown CSV column.*'colour'"):
        ingest_file(engine, ws, bad_header)
    with pytest.raises(EventsyncError, match="no such file"):
        ingest_file(engine, ws, tmp_path / "missing.jsonl")


def test_ingest_on_each_backend(store_url: str) -> None:
    """The same batch, profiles and duplicate check on SQLite and PostgreSQL (column
    widths enforced by PostgreSQL are checked before the insert)."""
    from resources.store import engine_for

    engine = engine_for(store_url)
    ws = create_workspace(engine, "Backends").workspace_id
    batch = [
        ev(event_id="p1", hostname="h" * 300),  # wider than the column: a rejection
        ev(
            event_id="p2",
            event_type="identify_user",
            event_name="identify_user",
            properties={"plan": "pro"},
            company_id="c9",
        ),
        ev(
            event_id="p3",
            event_type="identify_company",
            event_name="identify_company",
            company_id="c9",
            properties={"name": "Nine"},
        ),
        ev(event_id="p2"),
    ]
    result = ingest_events(engine, ws, batch)
    assert result.accepted == 2
    assert [r.reason for r in result.rejections] == [
        "'hostname' is too long: 300 characters, at most 256",
        "duplicate event_id 'p2' (also at index 1 of this batch)",
    ]
    again = ingest_events(
        engine,
        ws,
        [
            ev(event_id="p3"),
            ev(
                event_id="p4",
                event_type="identify_user",
                event_name="identify_user",
                occurred_at="2025-03-09T11:00:00Z",
                properties={"seats": 3},
            ),
        ],
    )
    assert again.accepted == 1 and again.rejections[0].event_id == "p3"
    with engine.connect() as conn:
        user = conn.execute(select(user_profiles).where(user_profiles.c.workspace_id == ws)).one()
        company = conn.execute(
            select(company_profiles).where(company_profiles.c.workspace_id == ws)
        ).one()
    assert json.loads(user.properties) == {"plan": "pro", "seats": 3}
    assert user.company_id == "c9"
    assert json.loads(company.properties) == {"name": "Nine"}
    assert [r["event_id"] for r in stored_rows(engine, ws)] == ["p2", "p3", "p4"]


def test_concurrent_batches_never_duplicate(store_url: str) -> None:
    """Overlapping batches from several threads (as the API's thread pool runs them),
    on each backend: every id is stored once and accepted exactly once."""
    from concurrent.futures import ThreadPoolExecutor

    from resources.store import engine_for

    engine = engine_for(store_url)
    ws = create_workspace(engine, "Concurrency").workspace_id

    batches = [[ev(event_id=f"c{(k * 7 + i) % 60}") for i in range(30)] for k in range(8)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda b: ingest_events(engine, ws, b), batches))
    unique = {e["event_id"] for b in batches for e in b}
    assert sum(r.accepted for r in results) == len(unique)
    assert sum(r.accepted + r.rejected for r in results) == sum(len(b) for b in batches)
    assert sorted(r["event_id"] for r in stored_rows(engine, ws)) == sorted(unique)


def test_cli_ingest(engine: Engine, ws: str, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from pipeline.cli import main

    path = tmp_path / "batch.jsonl"
    path.write_text(json.dumps(ev(event_id="k1")) + "\n" + json.dumps(ev(event_id="")) + "\n")
    rejects = tmp_path / "rejected.jsonl"
    out = CliRunner().invoke(
        main, ["ingest", "--workspace", ws, str(path), "--rejects", str(rejects)]
    )
    assert out.exit_code == 0, out.output
    assert out.output.strip() == (
        f"1 events accepted, 1 rejected; rejected lines with reasons: {rejects}"
    )
    line = json.loads(rejects.read_text())
    assert (line["line"], line["reason"]) == (2, "missing field 'event_id' (empty string)")
    as_json = CliRunner().invoke(main, ["ingest", "--workspace", ws, str(path), "--json"])
    data = json.loads(as_json.output)
    assert (data["accepted"], data["rejected"]) == (0, 2)
    assert data["rejects_path"] == str(path) + ".rejects.jsonl"
    missing = CliRunner().invoke(main, ["ingest", "--workspace", "ws_nope", str(path)])
    assert missing.exit_code == 2
    assert "workspace 'ws_nope' not found" in missing.output

"""ingest_file and `eventsync ingest`: JSON lines, CSV, gzip, rejects files."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from eventsync.errors import EventsyncError
from eventsync.ingest import ingest_file
from eventsync.store.schema import events
from tests.eventsync.ingest.events import ev, stored_rows


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


def test_cli_ingest(engine: Engine, ws: str, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from eventsync.cli import main

    path = tmp_path / "batch.jsonl"
    path.write_text(json.dumps(ev(event_id="k1")) + "\n" + json.dumps(ev(event_id="")) + "\n")
    rejects = tmp_path / "rejected.jsonl"
    out = CliRunner().invoke(
        main, ["ingest", "--workspace", ws, str(path), "--rejects", str(rejects)]
    )
    assert out.exit_code == 1, out.output  # any rejected line: exit status 1
    assert out.stdout.strip() == (
        f"1 events accepted, 1 rejected; rejected lines with reasons: {rejects}"
    )
    assert out.stderr.strip() == (
        f"error: 1 of 2 lines rejected (each with its reason in {rejects})"
    )
    line = json.loads(rejects.read_text())
    assert (line["line"], line["reason"]) == (2, "missing field 'event_id' (empty string)")
    as_json = CliRunner().invoke(main, ["ingest", "--workspace", ws, str(path), "--json"])
    assert as_json.exit_code == 1
    data = json.loads(as_json.stdout)
    assert (data["accepted"], data["rejected"]) == (0, 2)
    assert data["rejects_path"] == str(path) + ".rejects.jsonl"
    path.write_text(json.dumps(ev(event_id="k2")) + "\n")
    clean = CliRunner().invoke(main, ["ingest", "--workspace", ws, str(path)])
    assert clean.exit_code == 0 and clean.stdout.startswith("1 events accepted, 0 rejected")
    missing = CliRunner().invoke(main, ["ingest", "--workspace", "ws_nope", str(path)])
    assert missing.exit_code == 2
    assert "workspace 'ws_nope' not found" in missing.output

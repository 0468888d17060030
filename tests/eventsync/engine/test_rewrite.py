"""Erasure's rewrite of one exported day, in the current layout and in the legacy
one (every format in `{sync}/events/date=...` with `_manifest.json` inside), and
the verification read."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
from sqlalchemy import select

from eventsync.destinations.interface import parse_destination
from eventsync.destinations.local import LocalDestination
from eventsync.engine import export_records, layout, manifest
from eventsync.engine.day_export import export_day
from eventsync.engine.formats import handler
from eventsync.engine.rewrite import rewrite_day, verify_day
from eventsync.store.schema import export_ledger
from tests.eventsync.engine.test_day_export import DAY, SYNC, stage

FORMATS = ["parquet", "csv", "jsonl"]


def exported(staged: Path, root: Path, engine) -> LocalDestination:  # type: ignore[no-untyped-def]
    dest = LocalDestination(parse_destination(str(root)))
    st = stage(staged)
    export_records.record_export(engine, st, export_day(st, FORMATS, "auto", dest))
    return dest


def to_legacy_layout(dest: LocalDestination, engine) -> None:  # type: ignore[no-untyped-def]
    """Move the day to where earlier versions wrote it, manifest and ledger included."""
    key, doc = manifest.read(dest, SYNC, DAY)  # type: ignore[misc]
    for f in doc["files"]:
        old = layout.legacy_day_folder(SYNC, DAY) + f["key"].rsplit("/", 1)[1]
        dest.put_bytes(old, dest.get_bytes(f["key"]))
        dest.delete([f["key"]])
        f["key"] = old
    dest.delete([key])
    manifest.write(dest, layout.legacy_manifest_key(SYNC, DAY), doc)
    export_records.record_rewrite(engine, doc)


def test_rewrite_removes_the_subject_from_every_format_and_writes_a_new_manifest(
    staged, tmp_path, engine
):
    dest = exported(staged, tmp_path / "out", engine)
    before = json.loads((tmp_path / "out" / layout.manifest_key(SYNC, DAY)).read_text())
    done = rewrite_day(engine, dest, SYNC, DAY, {"u1"}, set(), "era_1")
    assert (done.rows_removed, done.files_written) == (2, 4)  # 3 files + the manifest
    after = json.loads((tmp_path / "out" / layout.manifest_key(SYNC, DAY)).read_text())
    assert after["rows"] == 1 and after["export_id"] != before["export_id"]
    assert after["erasures"][0]["request_id"] == "era_1"
    for f in after["files"]:
        assert handler(f["format"]).count(tmp_path / "out" / f["key"], {"u1"}, set()) == (1, 0)
    assert verify_day(dest, SYNC, DAY, {"u1"}, set()) == (4, [])
    assert export_records.days_for_subjects(engine, [SYNC], ["u1"], []) == {}
    assert export_records.days_for_subjects(engine, [SYNC], ["u2"], []) == {SYNC: [DAY]}
    with engine.connect() as conn:
        row = conn.execute(select(export_ledger)).one()
    assert (row.export_id, row.rows) == (after["export_id"], 1)


def test_day_in_the_legacy_layout_is_found_and_rewritten_in_place(staged, tmp_path, engine):
    dest = exported(staged, tmp_path / "out", engine)
    to_legacy_layout(dest, engine)
    done = rewrite_day(engine, dest, SYNC, DAY, set(), {"c1"}, "era_2")
    assert done.rows_removed == 1
    assert all(k.startswith(layout.legacy_day_folder(SYNC, DAY)) for k in done.keys)
    doc = json.loads((tmp_path / "out" / layout.legacy_manifest_key(SYNC, DAY)).read_text())
    assert doc["rows"] == 2
    parquet = next(f for f in doc["files"] if f["format"] == "parquet")
    assert "c1" not in pq.read_table(tmp_path / "out" / parquet["key"])["company_id"].to_pylist()
    assert verify_day(dest, SYNC, DAY, set(), {"c1"}) == (4, [])


def test_day_whose_manifest_is_gone_is_rewritten_from_the_ledgers_file_list(
    staged, tmp_path, engine
):
    dest = exported(staged, tmp_path / "out", engine)
    dest.delete([layout.manifest_key(SYNC, DAY)])
    done = rewrite_day(engine, dest, SYNC, DAY, {"u2"}, set(), "era_3")
    assert done.rows_removed == 1
    assert json.loads((tmp_path / "out" / layout.manifest_key(SYNC, DAY)).read_text())["rows"] == 2


def test_verification_names_a_file_that_still_holds_the_subject(staged, tmp_path, engine):
    dest = exported(staged, tmp_path / "out", engine)
    read, problems = verify_day(dest, SYNC, DAY, {"u1"}, set())
    assert read == 4 and len(problems) == 3 and all("2 rows" in p for p in problems)

"""The subject index on both backends (COPY on PostgreSQL, one executemany on
SQLite): ids with quotes, commas, line breaks, backslashes and non-ASCII text, and an
empty company id, go in exactly; the write-ahead index is a union with what the day
held; record_export narrows it to the exported subjects."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import select

from eventsync.engine import export_records
from eventsync.engine.staging import StageResult
from eventsync.store.connection import engine_for
from eventsync.store.schema import export_subjects

SYNC, DAY = "sync_ab12", "2024-05-01"
USERS = ["u1", 'say "hi", then\r\nleave', "back\\slash\ttab", "ünïcode 😀", "N", "\\N", ""]
COMPANIES = ["c1", "", None, "c,2"]


def _stage(tmp_path: Path, users: list[str], companies: list[str | None]) -> StageResult:
    n = max(len(users), len(companies))
    path = tmp_path / "events.parquet"
    table = pa.table(
        {
            "user_id": pa.array([users[i % len(users)] for i in range(n)], pa.string()),
            "company_id": pa.array([companies[i % len(companies)] for i in range(n)], pa.string()),
        }
    )
    pq.write_table(table, path)
    return StageResult(
        sync_id=SYNC, workspace_id="ws_1", day=DAY, extracted=n, valid=n, quarantined=0,
        by_type={}, reasons={}, duplicate_ids=[], fingerprint={}, invalid_share=0.0,
        max_invalid_share=0.05, blocked_reason=None, staged_path=str(path),
        quarantine_path=None, compression="zstd", seconds=0.0, rows_per_second=0.0,
    )  # fmt: skip


def _index(engine) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return set(
            conn.execute(
                select(export_subjects.c.subject_type, export_subjects.c.subject_id).where(
                    export_subjects.c.sync_id == SYNC, export_subjects.c.day == DAY
                )
            ).all()
        )


def test_subject_index_round_trips_hostile_ids(store_url: str, tmp_path: Path) -> None:
    engine = engine_for(store_url)
    (tmp_path / "a").mkdir()
    first = _stage(tmp_path / "a", ["old-user", *USERS[:2]], ["old-co"])
    export_records.index_subjects_ahead(engine, first)
    (tmp_path / "b").mkdir()
    stage = _stage(tmp_path / "b", USERS, COMPANIES)
    subjects = export_records.index_subjects_ahead(engine, stage)  # a union: old ones stay
    expected = {("user", u) for u in USERS} | {("company", c) for c in COMPANIES if c is not None}
    assert set(subjects) == expected
    assert _index(engine) == expected | {("user", "old-user"), ("company", "old-co")}
    export_records.index_subjects_ahead(engine, stage)  # again: no duplicate-key error
    # record_export keeps exactly the exported file's subjects.
    manifest = {
        "sync_id": SYNC,
        "date": DAY,
        "workspace_id": "ws_1",
        "export_id": "x",
        "rows": 1,
        "quarantined": 0,
        "files": [],
        "source_fingerprint": {"rows": 1, "max_received_at": None, "checksum": "0:0"},
    }
    export_records.record_export(engine, stage, SimpleNamespace(manifest=manifest), subjects)  # type: ignore[arg-type]
    assert _index(engine) == expected
    export_records.record_export(engine, stage, SimpleNamespace(manifest=manifest))  # type: ignore[arg-type]
    assert _index(engine) == expected
    # Without the write-ahead (an index emptied meanwhile), it adds what is missing.
    with engine.begin() as conn:
        conn.execute(export_subjects.delete())
    export_records.record_export(engine, stage, SimpleNamespace(manifest=manifest), subjects)  # type: ignore[arg-type]
    assert _index(engine) == expected

"""CSV and JSON lines share: the codec named by the file suffix, and timestamps written
as the UTC instant with microseconds and `Z`, whatever the worker's zone."""

from __future__ import annotations

from pathlib import Path

from eventsync.engine.duck import duck
from eventsync.engine.formats import handler
from eventsync.engine.formats.text import select_rendered, sql_path


def test_the_suffix_names_the_stream_codec() -> None:
    csv = handler("csv")
    assert [csv.file_suffix(c) for c in ("gzip", "zstd", "none")] == [".csv.gz", ".csv.zst", ".csv"]
    assert csv.detect_codec(Path("part-00000.csv.zst")) == "zstd"
    assert handler("jsonl").detect_codec(Path("part-00000.jsonl")) == "none"


def test_timestamps_render_as_utc_text_on_a_non_utc_worker(staged: Path) -> None:
    rows = duck().sql(f"SELECT occurred_at FROM ({select_rendered(staged)})").fetchall()
    assert rows[0] == ("2024-05-01T00:00:00.000000Z",)
    assert rows[1] == ("2024-05-01T23:59:59.999999Z",)


def test_a_path_with_a_quote_is_a_safe_sql_literal(tmp_path: Path) -> None:
    odd = tmp_path / "it's here.csv"
    odd.write_text("a\n1\n")
    assert duck().sql(f"SELECT * FROM read_csv({sql_path(odd)})").fetchall() == [(1,)]

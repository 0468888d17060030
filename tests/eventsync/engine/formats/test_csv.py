"""CSV erasure and verification: the subjects' rows are found and removed by id even
when an id holds a quote, and the rows that stay are written back unchanged."""

from __future__ import annotations

from pathlib import Path

from eventsync.engine.formats import handler

CSV = handler("csv")


def _file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "part-00000.csv"
    path.write_bytes(body.encode())
    return path


def test_count_finds_subject_rows_by_user_or_company(staged: Path, tmp_path: Path) -> None:
    out = tmp_path / "part-00000.csv.gz"
    CSV.render(staged, "gzip", out)
    assert CSV.count(out, {"u2"}, set()) == (3, 1)
    assert CSV.count(out, {"u1"}, {"c1"}) == (3, 3)


def test_an_id_with_a_quote_is_matched_as_text(tmp_path: Path) -> None:
    src = _file(tmp_path, "user_id,company_id\r\no'brien,\r\nu2,\r\n")
    out = tmp_path / "kept.csv"
    assert CSV.filter_subjects(src, {"o'brien"}, set(), out) == (1, 1)
    assert out.read_bytes() == b"user_id,company_id\r\nu2,\r\n"


def test_no_subjects_keep_every_row_and_its_empty_strings(tmp_path: Path) -> None:
    src = _file(tmp_path, 'user_id,company_id,hostname\r\nu1,,""\r\n')
    out = tmp_path / "kept.csv"
    assert CSV.filter_subjects(src, set(), set(), out) == (1, 0)
    assert out.read_bytes() == src.read_bytes()

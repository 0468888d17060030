"""JSON lines erasure and verification: a line is a subject's by user_id or company_id;
the other lines are kept byte for byte, in the file's codec."""

from __future__ import annotations

import gzip
from pathlib import Path

from eventsync.engine.formats import handler

JSONL = handler("jsonl")
LINES = [
    b'{"user_id":"u1","company_id":null,"event_name":"a"}',
    b'{"user_id":"u2","company_id":"c1","event_name":"b"}',
    b'{"user_id":"u3","company_id":"c2","event_name":"\\u00fc"}',
]


def test_count_by_user_or_company(tmp_path: Path) -> None:
    src = tmp_path / "part-00000.jsonl.gz"
    src.write_bytes(gzip.compress(b"\n".join(LINES) + b"\n"))
    assert JSONL.count(src, {"u1"}, {"c2"}) == (3, 2)
    assert JSONL.count(src, set(), {"nobody"}) == (3, 0)


def test_the_kept_lines_are_byte_for_byte_in_the_same_codec(tmp_path: Path) -> None:
    src = tmp_path / "part-00000.jsonl.gz"
    src.write_bytes(gzip.compress(b"\n".join(LINES) + b"\n"))
    out = tmp_path / "kept.jsonl.gz"
    assert JSONL.filter_subjects(src, set(), {"c1"}, out) == (2, 1)
    assert gzip.decompress(out.read_bytes()) == LINES[0] + b"\n" + LINES[2] + b"\n"

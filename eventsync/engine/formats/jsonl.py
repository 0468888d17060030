"""JSON lines: one JSON object per line (UTF-8, `\\n`), every column a key; NULL is
`null`. Timestamps are ISO-8601 UTC text with microseconds; `properties` is JSON
text (a string), as in every format."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa

from eventsync.engine.duck import duck
from eventsync.engine.formats.text import TextFormat, select_rendered, sql_path


def _lines(src: Path, codec: str) -> list[bytes]:
    with pa.input_stream(str(src), compression=None if codec == "none" else codec) as stream:
        data = stream.read()
    return [line for line in data.split(b"\n") if line.strip()]


def _is_subject(line: bytes, users: set[str], companies: set[str]) -> bool:
    record = json.loads(line)
    company = record.get("company_id")
    return record.get("user_id") in users or (company is not None and company in companies)


class JsonLinesFormat(TextFormat):
    name = "jsonl"
    extension = "jsonl"
    content_type = "application/x-ndjson"

    def render(self, staged: Path, codec: str, out: Path) -> None:
        duck().execute(
            f"COPY ({select_rendered(staged)}) TO {sql_path(out)} "
            f"(FORMAT JSON, COMPRESSION '{codec}')"
        ).fetchall()

    def filter_subjects(
        self, src: Path, users: set[str], companies: set[str], out: Path
    ) -> tuple[int, int]:
        """Kept lines are copied byte for byte."""
        codec = self.detect_codec(src)
        lines = _lines(src, codec)
        kept = [line for line in lines if not _is_subject(line, users, companies)]
        with pa.output_stream(str(out), compression=None if codec == "none" else codec) as sink:
            sink.write(b"".join(line + b"\n" for line in kept))
        return len(kept), len(lines) - len(kept)

    def count(self, src: Path, users: set[str], companies: set[str]) -> tuple[int, int]:
        lines = _lines(src, self.detect_codec(src))
        return len(lines), sum(1 for line in lines if _is_subject(line, users, companies))

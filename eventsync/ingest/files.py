"""`eventsync ingest`: stream a JSON-lines or CSV file (optionally gzip) into the store
in batches, writing each rejected line with its reason to a rejects file.

Each batch is stored whole or not at all. A store fault stops the import (IngestStopped,
naming the fault and the first line not stored); it is not a rejection, so the rejects
file holds only the events' own faults."""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Engine

from eventsync.errors import EventsyncError, StoreUnavailable
from eventsync.event_limits import LIMITS
from eventsync.ingest.batches import IngestResult, Rejection, ingest_events
from eventsync.ingest.rules import KNOWN_FIELDS, type_name
from eventsync.workspaces import get_workspace

FILE_CHUNK = LIMITS.events_per_batch  # lines per ingest_events call
MAX_KEPT_REJECTIONS = 1_000  # rejections kept in memory by ingest_file (all go to the file)


class IngestStopped(EventsyncError):
    """A store fault stopped a file import: the lines before `line` were processed, none
    from `line` on was stored."""

    def __init__(self, path: Path, line: int, result: IngestResult, cause: StoreUnavailable):
        self.line, self.result, self.cause = line, result, cause
        super().__init__(
            f"{path}: stopped at line {line}: the event store is unavailable "
            f"({cause.cause}: {cause.detail or 'no detail'}). The lines before were processed "
            f"({result.accepted} accepted, {result.rejected} rejected); nothing from line "
            f"{line} on was stored. Run the same command again when the store is back: "
            "events already stored are refused as duplicates, never stored twice."
        )


@dataclass(frozen=True)
class _Record:
    line: int
    original: str
    event: Any | None  # parsed event, or None when `error` says why it could not be parsed
    error: str | None = None


def _file_format(path: Path) -> tuple[str, bool]:
    suffixes = [s.lower() for s in path.suffixes]
    gz = bool(suffixes) and suffixes[-1] == ".gz"
    ext = suffixes[-2] if gz and len(suffixes) > 1 else (suffixes[-1] if suffixes else "")
    if ext in (".jsonl", ".ndjson", ".json"):
        return "jsonl", gz
    if ext == ".csv":
        return "csv", gz
    raise EventsyncError(
        f"{path}: unknown file type {''.join(path.suffixes) or '(none)'!r}; "
        "use .jsonl, .ndjson, .json (JSON lines) or .csv, optionally .gz"
    )


def _jsonl_records(stream: IO[bytes]) -> Iterator[_Record]:
    for number, raw_line in enumerate(stream, start=1):
        try:
            text = raw_line.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError as exc:
            yield _Record(
                number,
                raw_line.decode("utf-8", "replace").rstrip("\r\n"),
                None,
                f"line is not UTF-8: {exc.reason} at byte {exc.start}",
            )
            continue
        if not text.strip():
            continue
        try:
            event = json.loads(text)
        except ValueError as exc:
            yield _Record(number, text, None, f"malformed JSON: {exc}")
            continue
        if not isinstance(event, dict):
            yield _Record(
                number, text, None, f"expected one JSON object per line, got {type_name(event)}"
            )
            continue
        yield _Record(number, text, event)


def _csv_value(name: str, value: str) -> tuple[Any, str | None]:
    """CSV cells are text: turn them into the JSON types the validator expects."""
    if value == "":
        return None, None
    if name == "properties":
        try:
            return json.loads(value), None
        except ValueError as exc:
            return None, f"properties is not valid JSON: {exc}"
    if name == "nps_score":
        stripped = value.strip()
        if stripped.lstrip("-").isdigit():
            return int(stripped), None
        return value, None  # the validator reports the wrong type
    if name == "occurred_at" and value.strip().isdigit():
        return int(value.strip()), None  # epoch milliseconds
    return value, None


def _csv_records(stream: IO[str], path: Path) -> Iterator[_Record]:
    reader = csv.reader(stream)
    try:
        header = next(reader)
    except StopIteration:
        return
    header = [h.strip() for h in header]
    unknown = [h for h in header if h not in KNOWN_FIELDS]
    if unknown:
        raise EventsyncError(
            f"{path}: unknown CSV column(s) {', '.join(map(repr, unknown))}; "
            f"known: {', '.join(sorted(KNOWN_FIELDS))}"
        )
    start = reader.line_num + 1
    for cells in reader:
        line = start
        start = reader.line_num + 1
        if not cells or all(c == "" for c in cells):
            continue
        buf = io.StringIO()
        csv.writer(buf, lineterminator="").writerow(cells)
        original = buf.getvalue()
        if len(cells) != len(header):
            yield _Record(
                line, original, None, f"row has {len(cells)} columns, the header has {len(header)}"
            )
            continue
        event: dict[str, Any] = {}
        error = None
        for name, cell in zip(header, cells, strict=True):
            value, error = _csv_value(name, cell)
            if error:
                break
            if value is not None:
                event[name] = value
        yield _Record(line, original, None if error else event, error)


def _chunks(records: Iterator[_Record], size: int) -> Iterator[list[_Record]]:
    chunk: list[_Record] = []
    for rec in records:
        chunk.append(rec)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def ingest_file(
    engine: Engine,
    workspace_id: str,
    path: str | Path,
    rejects_path: str | Path | None = None,
    chunk_size: int = FILE_CHUNK,
) -> IngestResult:
    """Stream a JSON-lines or CSV file (optionally gzip) into the store, `chunk_size` lines
    at a time. Rejected lines go to `rejects_path` (default FILE.rejects.jsonl) as JSON
    lines {"line", "event_id", "reason", "original"}; the file is written only when
    something was rejected. Rejection indexes are 1-based line numbers."""
    get_workspace(engine, workspace_id)
    path = Path(path)
    if not path.is_file():
        raise EventsyncError(f"{path}: no such file")
    kind, gz = _file_format(path)
    rejects = Path(rejects_path) if rejects_path else path.with_name(path.name + ".rejects.jsonl")
    result = IngestResult()
    out: IO[str] | None = None

    def reject(line: int, event_id: str | None, reason: str, original: str) -> None:
        nonlocal out
        if out is None:
            rejects.parent.mkdir(parents=True, exist_ok=True)
            out = rejects.open("w", encoding="utf-8")
        out.write(
            json.dumps(
                {"line": line, "event_id": event_id, "reason": reason, "original": original},
                ensure_ascii=False,
            )
            + "\n"
        )
        result.rejected += 1
        if len(result.rejections) < MAX_KEPT_REJECTIONS:
            result.rejections.append(Rejection(line, event_id, reason))

    opener = gzip.open if gz else open
    try:
        if kind == "jsonl":
            stream: Any = opener(path, "rb")
            records = _jsonl_records(stream)
        else:
            stream = opener(path, "rt", encoding="utf-8", newline="")
            records = _csv_records(stream, path)
        with stream:
            for chunk in _chunks(records, chunk_size):
                parsed = [r for r in chunk if r.error is None]
                by_line = {r.line: r for r in chunk}
                try:
                    batch = ingest_events(
                        engine,
                        workspace_id,
                        [r.event for r in parsed],
                        default_source="file-import",
                        index_base=[r.line for r in parsed],
                    )
                except StoreUnavailable as exc:
                    raise IngestStopped(path, chunk[0].line, result, exc) from exc
                result.accepted += batch.accepted
                failures = [(r.line, None, r.error or "", r.original) for r in chunk if r.error]
                failures += [
                    (x.index, x.event_id, x.reason, by_line[x.index].original)
                    for x in batch.rejections
                ]
                for line, event_id, reason, original in sorted(failures, key=lambda f: f[0]):
                    reject(line, event_id, reason, original)
    except UnicodeDecodeError as exc:
        raise EventsyncError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except (OSError, EOFError, csv.Error) as exc:
        raise EventsyncError(f"{path}: cannot read: {exc}") from None
    finally:
        if out is not None:
            out.close()
    if out is not None:
        result.rejects_path = str(rejects)
    return result

"""Strict ingestion into the event store: validate every event, keep the valid ones of a
batch, and give every rejected one a reason. Nothing is dropped silently.

Callers: `eventsync ingest` (files), `POST /v1/events` (the HTTP API). Other writers of
the platform (and `eventsync demo seed`) put rows into `events` directly through
`insert_event_rows`; the export validates every row again, whatever wrote it.

Server-set fields (`workspace_id`, `received_at`, `schema_version`) are ignored when an
event carries them, so an exported file can be re-imported; any other unknown field is
a rejection (custom data belongs in `properties`).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from operator import itemgetter
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, Engine, insert, select

from assets.event_schema import (
    EVENT_TYPES,
    MAX_ID_LENGTH,
    MAX_PROPERTIES_BYTES,
    NPS_MAX,
    NPS_MIN,
    REQUIRED_FIELDS,
    SCHEMA_VERSION,
)
from pipeline.privacy.suppressions import SUBJECT_ERASED, admission, split_erased
from pipeline.subjects import problem as subject_problem
from resources.clock import to_us, utcnow
from resources.errors import EventsyncError
from resources.schema import company_profiles, events, user_profiles

# Timestamps outside [2000-01-01, now + 1 day] are mistakes (seconds sent as ms, a
# default date, a skewed clock), not events: they would create absurd partitions.
MIN_OCCURRED_AT_US = to_us(datetime(2000, 1, 1, tzinfo=UTC))
MAX_CLOCK_SKEW_US = 86_400_000_000

ID_FIELDS = ("event_id", "user_id", "company_id", "session_id")
# Optional string fields with the store's column widths (PostgreSQL enforces them).
OPTIONAL_STRINGS: dict[str, int | None] = {
    "company_id": None,  # a subject id: pipeline/subjects.py checks it
    "session_id": MAX_ID_LENGTH,
    "source": 64,
    "hostname": 256,
    "pathname": None,
    "user_agent": None,
    "browser": 64,
    "os": 64,
    "device_type": 32,
    "country_code": 8,
}
MAX_EVENT_NAME_LENGTH = 512
SERVER_FIELDS = ("workspace_id", "received_at", "schema_version")
KNOWN_FIELDS = frozenset(
    (*REQUIRED_FIELDS, *OPTIONAL_STRINGS, "properties", "nps_score", *SERVER_FIELDS)
)
EVENT_COLUMNS = tuple(c.name for c in events.columns)

INSERT_CHUNK = 2_000  # rows per executemany
LOOKUP_CHUNK = 500  # ids per IN (...) lookup
FILE_CHUNK = 1_000  # lines per ingest_events call when reading files
MAX_KEPT_REJECTIONS = 1_000  # rejections kept in memory by ingest_file (all go to the file)


@dataclass(frozen=True)
class Rejection:
    index: int  # position in the batch (0-based), or line number (1-based) for files
    event_id: str | None
    reason: str


@dataclass
class IngestResult:
    accepted: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    rejected: int = 0  # total count; `rejections` may be truncated for large files
    rejects_path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["rejections"] = [asdict(r) for r in self.rejections]
        return data


# --- validation -----------------------------------------------------------------------
def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def parse_timestamp_us(value: Any, field_name: str = "occurred_at") -> int:
    """µs since epoch from ISO-8601 with a timezone (or Z) or integer epoch milliseconds.
    Raises ValueError naming the field."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(
            f"wrong type for {field_name!r}: expected ISO-8601 string with timezone or "
            f"integer epoch milliseconds, got {_type_name(value)}"
        )
    if isinstance(value, int):
        return value * 1000
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(
            f"bad timestamp in {field_name!r}: {value[:64]!r} is not ISO-8601"
        ) from None
    if parsed.tzinfo is None:
        raise ValueError(
            f"bad timestamp in {field_name!r}: {value[:64]!r} has no timezone (add Z or +00:00)"
        )
    return to_us(parsed)


def validate_event(raw: Any, now_us: int | None = None) -> tuple[dict[str, Any] | None, str | None]:
    """Check one event. Returns (store row without workspace_id/received_at, None) or
    (None, reason). Duplicates need the batch and the store: `ingest_events` checks them."""
    if not isinstance(raw, dict):
        return None, f"event must be a JSON object, got {_type_name(raw)}"
    unknown = sorted(k for k in raw if k not in KNOWN_FIELDS)
    if unknown:
        return None, (f"unknown field {unknown[0]!r}; put custom data in 'properties'")
    for name in REQUIRED_FIELDS:
        if raw.get(name) is None:
            return None, f"missing field {name!r}"
    for name in ("event_id", "event_type", "event_name", "user_id"):
        if not isinstance(raw[name], str):
            return None, f"wrong type for {name!r}: expected string, got {_type_name(raw[name])}"
        if not raw[name].strip():
            return None, f"missing field {name!r} (empty string)"
    for name, limit in OPTIONAL_STRINGS.items():
        value = raw.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            return None, f"wrong type for {name!r}: expected string, got {_type_name(value)}"
        if limit is not None and len(value) > limit:
            return None, f"{name!r} is too long: {len(value)} characters, at most {limit}"
    if len(raw["event_id"]) > MAX_ID_LENGTH:
        return None, (
            f"'event_id' is too long: {len(raw['event_id'])} characters, at most {MAX_ID_LENGTH}"
        )
    for name in ("user_id", "company_id"):  # the one subject-id rule (pipeline/subjects.py)
        problem = subject_problem(raw[name]) if raw.get(name) is not None else None
        if problem:
            return None, f"{name!r} {problem}"
    if len(raw["event_name"]) > MAX_EVENT_NAME_LENGTH:
        return None, (
            f"'event_name' is too long: {len(raw['event_name'])} characters, "
            f"at most {MAX_EVENT_NAME_LENGTH}"
        )
    event_type = raw["event_type"]
    if event_type not in EVENT_TYPES:
        return None, (f"unknown event_type {event_type[:64]!r}; allowed: {', '.join(EVENT_TYPES)}")
    if event_type == "identify_company" and not raw.get("company_id"):
        return None, "missing field 'company_id' (required for identify_company)"

    try:
        occurred_at = parse_timestamp_us(raw["occurred_at"])
    except ValueError as exc:
        return None, str(exc)
    now_us = now_us if now_us is not None else to_us(utcnow())
    if not MIN_OCCURRED_AT_US <= occurred_at <= now_us + MAX_CLOCK_SKEW_US:
        return None, (
            f"bad timestamp in 'occurred_at': {raw['occurred_at']!r} is outside "
            "2000-01-01 .. now + 1 day (seconds instead of milliseconds?)"
        )

    nps = raw.get("nps_score")
    if nps is not None:
        if isinstance(nps, bool) or not isinstance(nps, int):
            return None, f"wrong type for 'nps_score': expected integer, got {_type_name(nps)}"
        if not NPS_MIN <= nps <= NPS_MAX:
            return None, f"nps_score {nps} is outside {NPS_MIN}..{NPS_MAX}"
    elif event_type == "nps_response":
        return None, "missing field 'nps_score' (required for nps_response)"

    props = raw.get("properties")
    props_text: str | None = None
    if props is not None:
        if not isinstance(props, dict):
            return None, (
                f"wrong type for 'properties': expected JSON object, got {_type_name(props)}"
            )
        try:
            props_text = json.dumps(
                props, separators=(",", ":"), ensure_ascii=False, allow_nan=False
            )
        except ValueError as exc:
            return None, f"properties cannot be encoded as JSON: {exc}"
        size = len(props_text.encode())
        if size > MAX_PROPERTIES_BYTES:
            return None, (
                f"properties too large: {size} bytes of JSON, at most {MAX_PROPERTIES_BYTES}"
            )

    row: dict[str, Any] = {name: raw.get(name) for name in OPTIONAL_STRINGS}
    row.update(
        event_id=raw["event_id"],
        event_type=event_type,
        event_name=raw["event_name"],
        user_id=raw["user_id"],
        occurred_at=occurred_at,
        properties=props_text,
        nps_score=nps,
        schema_version=SCHEMA_VERSION,
    )
    return row, None


# --- store writes ---------------------------------------------------------------------
def _full_rows(rows: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every column present (executemany needs identical keys); schema_version defaults."""
    for row in rows:
        full = {c: row.get(c) for c in EVENT_COLUMNS}
        if full["schema_version"] is None:
            full["schema_version"] = SCHEMA_VERSION
        yield full


def insert_event_rows(conn: Connection, rows: Iterable[dict[str, Any]]) -> int:
    """Bulk insert complete store rows (chunked executemany); returns the count.
    Missing columns are written as NULL (schema_version defaults to 1)."""
    count = 0
    chunk: list[dict[str, Any]] = []
    stmt = insert(events)
    for full in _full_rows(rows):
        chunk.append(full)
        if len(chunk) >= INSERT_CHUNK:
            conn.execute(stmt, chunk)
            count += len(chunk)
            chunk = []
    if chunk:
        conn.execute(stmt, chunk)
        count += len(chunk)
    return count


def existing_event_ids(conn: Connection, workspace_id: str, ids: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for i in range(0, len(ids), LOOKUP_CHUNK):
        part = ids[i : i + LOOKUP_CHUNK]
        found.update(
            conn.execute(
                select(events.c.event_id).where(
                    events.c.workspace_id == workspace_id, events.c.event_id.in_(part)
                )
            ).scalars()
        )
    return found


def _dialect_insert(conn: Connection) -> Any | None:
    """The backend's INSERT with ON CONFLICT support, or None."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    if conn.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert
    return None


def insert_new_event_rows(conn: Connection, rows: Iterable[dict[str, Any]]) -> set[str]:
    """Insert the rows whose (workspace_id, event_id) is not stored yet; returns the ids
    inserted. INSERT ... ON CONFLICT DO NOTHING RETURNING makes this race-free: of two
    concurrent writers of one id exactly one stores it. Rows go in event_id order so
    concurrent PostgreSQL transactions take row locks in the same order (no deadlock)."""
    full = sorted(_full_rows(rows), key=lambda r: (r["workspace_id"], r["event_id"]))
    dialect_insert = _dialect_insert(conn)
    if dialect_insert is None:  # pragma: no cover - other backends: check, then insert
        by_ws: dict[str, list[dict[str, Any]]] = {}
        for row in full:
            by_ws.setdefault(row["workspace_id"], []).append(row)
        new = []
        for ws, ws_rows in by_ws.items():
            stored = existing_event_ids(conn, ws, [r["event_id"] for r in ws_rows])
            new += [r for r in ws_rows if r["event_id"] not in stored]
        insert_event_rows(conn, new)
        return {r["event_id"] for r in new}
    stmt = (
        dialect_insert(events)
        .on_conflict_do_nothing(index_elements=["workspace_id", "event_id"])
        .returning(events.c.event_id)
    )
    inserted: set[str] = set()
    for i in range(0, len(full), INSERT_CHUNK):
        inserted.update(conn.execute(stmt, full[i : i + INSERT_CHUNK]).scalars())
    return inserted


def _upsert(conn: Connection, table: Any, key_cols: tuple[str, ...], row: dict[str, Any]) -> None:
    """Insert or update one profile row (dialect-aware ON CONFLICT)."""
    dialect_insert = _dialect_insert(conn)
    if dialect_insert is None:  # pragma: no cover - other backends: read-then-write
        where = [table.c[k] == row[k] for k in key_cols]
        if conn.execute(select(table.c[key_cols[0]]).where(*where)).first() is None:
            conn.execute(insert(table).values(**row))
        else:
            conn.execute(table.update().where(*where).values(**row))
        return
    stmt = dialect_insert(table).values(**row)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=list(key_cols),
            set_={k: stmt.excluded[k] for k in row if k not in key_cols},
        )
    )


def upsert_profiles(conn: Connection, workspace_id: str, rows: Iterable[dict[str, Any]]) -> int:
    """Apply identify_user / identify_company rows to the profiles: properties merged
    (the newer event wins a key; an older event only adds keys), first/last seen widened,
    a user's company_id set by its newest identify that names one. Returns profiles written."""
    plans: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        if row.get("event_type") == "identify_user" and row.get("user_id"):
            plans.setdefault(("user", row["user_id"]), []).append(row)
        elif row.get("event_type") == "identify_company" and row.get("company_id"):
            plans.setdefault(("company", row["company_id"]), []).append(row)
    for (kind, subject), subject_rows in sorted(plans.items()):
        table, key = (
            (user_profiles, "user_id") if kind == "user" else (company_profiles, "company_id")
        )
        current = conn.execute(
            select(table).where(table.c.workspace_id == workspace_id, table.c[key] == subject)
        ).first()
        if current is not None:
            props = _json_object(current.properties)
            first, last = current.first_seen_at, current.last_seen_at
            company = current.company_id if kind == "user" else None
        else:
            props, first, last, company = {}, None, None, None
        for row in sorted(subject_rows, key=lambda r: r["occurred_at"]):
            new = _json_object(row.get("properties"))
            at = row["occurred_at"]
            if last is None or at >= last:
                props = {**props, **new}
                if kind == "user" and row.get("company_id"):
                    company = row["company_id"]
            else:
                props = {**new, **props}
                if kind == "user" and company is None:
                    company = row.get("company_id")
            first = at if first is None else min(first, at)
            last = at if last is None else max(last, at)
        values: dict[str, Any] = {
            "workspace_id": workspace_id,
            key: subject,
            "properties": json.dumps(props, separators=(",", ":"), ensure_ascii=False),
            "first_seen_at": first,
            "last_seen_at": last,
        }
        if kind == "user":
            values["company_id"] = company
        _upsert(conn, table, ("workspace_id", key), values)
    return len(plans)


def _json_object(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


# --- batches --------------------------------------------------------------------------
def ingest_events(
    engine: Engine,
    workspace_id: str,
    events_in: Sequence[Any],
    received_at_us: int | None = None,
    default_source: str | None = None,
    index_base: Sequence[int] | None = None,
) -> IngestResult:
    """Validate and store a batch. Valid events are kept, each rejected one gets a
    reason; `index_base` maps batch positions to caller positions (file line numbers)."""
    received_at_us = received_at_us if received_at_us is not None else to_us(utcnow())
    positions = list(index_base) if index_base is not None else list(range(len(events_in)))
    result = IngestResult()
    candidates: list[tuple[int, dict[str, Any]]] = []
    seen: dict[str, int] = {}
    for pos, raw in zip(positions, events_in, strict=True):
        row, reason = validate_event(raw, now_us=received_at_us)
        event_id = raw.get("event_id") if isinstance(raw, dict) else None
        event_id = event_id if isinstance(event_id, str) else None
        if row is not None and row["event_id"] in seen:
            reason = (
                f"duplicate event_id {row['event_id']!r} (also at index {seen[row['event_id']]} "
                "of this batch)"
            )
            row = None
        if row is None:
            result.rejections.append(Rejection(pos, event_id, reason or "invalid event"))
            continue
        seen[row["event_id"]] = pos
        row["workspace_id"] = workspace_id
        row["received_at"] = received_at_us
        if row["source"] is None:
            row["source"] = default_source
        candidates.append((pos, row))

    with admission(engine, workspace_id) as conn:  # erased subjects are refused here
        candidates, erased = split_erased(conn, workspace_id, candidates, row=itemgetter(1))
        inserted = insert_new_event_rows(conn, (r for _, r in candidates))
        keep = [(p, r) for p, r in candidates if r["event_id"] in inserted]
        upsert_profiles(conn, workspace_id, (r for _, r in keep))
    stored = {r["event_id"] for _, r in candidates} - inserted
    for pos, row in candidates:
        if row["event_id"] in stored:
            result.rejections.append(
                Rejection(
                    pos,
                    row["event_id"],
                    f"duplicate event_id {row['event_id']!r} (already stored in this workspace)",
                )
            )
    result.rejections += [Rejection(p, r["event_id"], SUBJECT_ERASED) for p, r in erased]
    result.rejections.sort(key=lambda r: r.index)
    result.accepted = len(keep)
    result.rejected = len(result.rejections)
    return result


# --- files ----------------------------------------------------------------------------
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
                number, text, None, f"expected one JSON object per line, got {_type_name(event)}"
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
    from pipeline.workspaces import get_workspace

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
                batch = ingest_events(
                    engine,
                    workspace_id,
                    [r.event for r in parsed],
                    default_source="file-import",
                    index_base=[r.line for r in parsed],
                )
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

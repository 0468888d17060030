"""Access export (right of access / portability): one user's or company's stored
events and profile as one CSV file, written as a stream.

Layout (documented in README.md, "Access exports"):

- The first column, `record`, says what a row is. The first data row is the
  `profile` row: the subject's id in `user_id` (or `company_id`) and the stored
  profile in the `profile_*` columns -- once per file, never repeated. Then one `event`
  row per stored event of the subject that is valid under event schema v1, in
  (occurred_at, event_id) order, in the columns of the exported files (their
  `profile_*` columns empty). Rows that fail the schema (the ones an export
  quarantines) are left out; their number is in the request's result
  (`events_invalid_excluded`).
- Dialect: RFC 4180, CRLF, UTF-8 **with a byte-order mark** (so spreadsheets read it as
  UTF-8), timestamps as ISO-8601 UTC text with microseconds, NULL as an empty unquoted
  field and an empty string as `""`; `properties` is JSON text.
- Safe to open in a spreadsheet (OWASP's CSV-injection rule): a text cell that starts
  with `=`, `+`, `-`, `@`, a tab or a carriage return -- or with an apostrophe -- gets one
  leading apostrophe (`'`), so no spreadsheet evaluates it as a formula. Removing one
  leading apostrophe from such a cell gives the value back exactly.
- Streamed: events are read a page at a time (keyset pagination, each page in its own
  short transaction), validated and written before the next page is read, so memory does
  not grow with the subject's history.
- Written to `_privacy/access/<request id>.csv` under the workspace's first sync's
  destination, or under data_root()/privacy/<workspace>/ when it has no sync.

An erased (suppressed) subject's export is the header alone, with the note `subject
erased`: eventsync keeps nothing of them. An erasure that later deletes an export's
file marks that request `erased` (eventsync/privacy/erasure.py, runner.py).
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Engine, and_, or_, select

from eventsync.clock import US_PER_DAY, from_us
from eventsync.engine.event_schema import COLUMNS, EXPORT_SCHEMA, TS
from eventsync.engine.extract import RAW_SCHEMA
from eventsync.engine.formats import handler
from eventsync.engine.formats.text import TIMESTAMP_FORMAT
from eventsync.engine.layout import access_export_key
from eventsync.privacy.progress import AccessOutput
from eventsync.privacy.request_store import PrivacyRequest
from eventsync.privacy.step_context import StepContext
from eventsync.privacy.suppressions import is_suppressed
from eventsync.settings import data_root
from eventsync.store.schema import company_profiles, events, user_profiles
from eventsync.syncs.config import list_syncs

PROFILE_SCHEMA = pa.schema(
    [
        pa.field("profile_company_id", pa.string()),
        pa.field("profile_properties", pa.string()),
        pa.field("profile_first_seen_at", TS),
        pa.field("profile_last_seen_at", TS),
    ]
)
ACCESS_SCHEMA = pa.schema(list(EXPORT_SCHEMA) + list(PROFILE_SCHEMA))

HEADER = ("record", *ACCESS_SCHEMA.names)
SUBJECT_ERASED_NOTE = "subject erased: eventsync keeps no data of this subject"
BOM = "\ufeff"
# OWASP CSV injection: what a spreadsheet may take for a formula (and the apostrophe, so
# that removing one leading apostrophe always gives the value back).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "'")
# Quoted: what RFC 4180 requires, and a tab (spreadsheets drop an unquoted one).
_QUOTE_WHEN = re.compile('[",\t\r\n]')


def cell(value: Any) -> str:
    """One CSV field of the access export: NULL empty, "" quoted, formulas neutralised."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    if text.startswith(FORMULA_TRIGGERS):
        text = "'" + text
    if not text or _QUOTE_WHEN.search(text):
        return '"' + text.replace('"', '""') + '"'
    return text


def _line(values: Iterable[Any]) -> str:
    return ",".join(cell(v) for v in values) + "\r\n"


def _timestamp_text(column: pa.Array | pa.ChunkedArray) -> list[str | None]:
    """ISO-8601 UTC text with microseconds (the exports' TIMESTAMP_FORMAT; Arrow's %S of
    a microsecond timestamp already carries the fraction)."""
    if pa.types.is_integer(column.type):  # the store keeps µs integers
        column = column.cast(TS)
    return pc.strftime(column, format=TIMESTAMP_FORMAT.replace(".%f", "")).to_pylist()


def _profile(engine: Engine, req: PrivacyRequest) -> dict[str, Any] | None:
    with engine.connect() as conn:
        if req.user_ids:
            row = conn.execute(
                select(user_profiles).where(
                    user_profiles.c.workspace_id == req.workspace_id,
                    user_profiles.c.user_id == req.user_ids[0],
                )
            ).first()
        else:
            row = conn.execute(
                select(company_profiles).where(
                    company_profiles.c.workspace_id == req.workspace_id,
                    company_profiles.c.company_id == req.company_ids[0],
                )
            ).first()
    return dict(row._mapping) if row is not None else None


PAGE_ROWS = 5_000


def _pages(engine: Engine, req: PrivacyRequest) -> Iterator[list[dict[str, Any]]]:
    """The subject's stored events in (occurred_at, event_id) order, a page at a time,
    each page read in its own short transaction: no transaction stays open while the
    rows are validated and written."""
    cond = (
        events.c.user_id == req.user_ids[0]
        if req.user_ids
        else events.c.company_id == req.company_ids[0]
    )
    after: tuple[int, str] | None = None
    while True:
        query = select(*[events.c[c] for c in COLUMNS]).where(
            events.c.workspace_id == req.workspace_id, cond
        )
        if after is not None:
            query = query.where(
                or_(
                    events.c.occurred_at > after[0],
                    and_(events.c.occurred_at == after[0], events.c.event_id > after[1]),
                )
            )
        query = query.order_by(events.c.occurred_at, events.c.event_id).limit(PAGE_ROWS)
        with engine.connect() as conn:
            page = [dict(row._mapping) for row in conn.execute(query)]
        if not page:
            return
        yield page
        if len(page) < PAGE_ROWS:
            return
        after = (page[-1]["occurred_at"], page[-1]["event_id"])


def _day_of(at: int) -> str:
    return from_us(at - at % US_PER_DAY).date().isoformat()


def subject_batches(engine: Engine, req: PrivacyRequest) -> Iterator[tuple[str, pa.RecordBatch]]:
    """The subject's stored events as (UTC day, raw store batch) pieces of at most one
    page, in order: a page that spans days is cut at each day."""
    for page in _pages(engine, req):
        start = 0
        for i in range(1, len(page) + 1):
            if i == len(page) or _day_of(page[i]["occurred_at"]) != _day_of(
                page[start]["occurred_at"]
            ):
                rows = page[start:i]
                yield (
                    _day_of(rows[0]["occurred_at"]),
                    pa.RecordBatch.from_pylist(rows, schema=RAW_SCHEMA),
                )
                start = i


def subject_days(engine: Engine, req: PrivacyRequest) -> Iterator[tuple[str, pa.RecordBatch]]:
    """The subject's stored events, one UTC day at a time, as raw store batches (read a
    page at a time: no transaction is open while the caller handles a day). A day is
    held whole: for bounded memory use `subject_batches`."""
    day, batches = None, []
    for batch_day, batch in subject_batches(engine, req):
        if batches and batch_day != day:
            yield day, pa.concat_batches(batches)  # type: ignore[misc]
            batches = []
        day = batch_day
        batches.append(batch)
    if batches:
        yield day, pa.concat_batches(batches)  # type: ignore[misc]


def _event_lines(table: pa.Table) -> Iterator[str]:
    columns = []
    for field in EXPORT_SCHEMA:
        column = table.column(field.name)
        columns.append(
            _timestamp_text(column) if pa.types.is_timestamp(field.type) else column.to_pylist()
        )
    empty_profile = ("",) * len(PROFILE_SCHEMA)
    for values in zip(*columns, strict=True):
        yield ",".join(("event", *(cell(v) for v in values), *empty_profile)) + "\r\n"


def _profile_line(req: PrivacyRequest, profile: dict[str, Any]) -> str:
    seen = _timestamp_text(
        pa.array([profile.get("first_seen_at"), profile.get("last_seen_at")], pa.int64())
    )
    row: dict[str, Any] = dict.fromkeys(EXPORT_SCHEMA.names)
    row["workspace_id"] = req.workspace_id
    if req.user_ids:
        row["user_id"] = req.user_ids[0]
    else:
        row["company_id"] = req.company_ids[0]
    values = [
        "profile",
        *row.values(),
        profile.get("company_id"),
        profile.get("properties"),
        *seen,
    ]
    return _line(values)


def write_csv(
    engine: Engine, req: PrivacyRequest, out: Path, *, erased: bool = False
) -> dict[str, Any]:
    """Stream the subject's profile row, then its events validated a page at a time,
    into `out` (the layout in this module's docstring); returns counts. `erased`: the
    subject is suppressed, so the file is the header alone."""
    from eventsync.engine.validate import DayValidator  # pandas + pandera, only when this runs

    profile = None if erased else _profile(engine, req)
    valid = invalid = 0
    validator: DayValidator | None = None
    with out.open("w", encoding="utf-8", newline="") as f:
        f.write(BOM + _line(HEADER))
        if profile is not None:
            f.write(_profile_line(req, profile))
        for day, batch in () if erased else subject_batches(engine, req):
            if validator is None or validator.day != day:
                validator = DayValidator(req.workspace_id, day)
            rows, quarantined = validator.validate(batch)
            valid += rows.num_rows
            invalid += quarantined.num_rows
            f.writelines(_event_lines(rows))
    return {
        "events": valid,
        "events_invalid_excluded": invalid,
        "profile_found": profile is not None,
    }


def run_access_export(ctx: StepContext) -> dict[str, Any]:
    """Write the CSV (idempotent: same key on retry) and record where it is."""
    req, engine = ctx.request, ctx.engine
    kind, subject = ("user", req.user_ids[0]) if req.user_ids else ("company", req.company_ids[0])
    syncs = list_syncs(engine, req.workspace_id)
    key = access_export_key(req.id)
    with tempfile.TemporaryDirectory(prefix="eventsync-access-") as tmp:
        local = Path(tmp) / f"{req.id}.csv"
        erased = is_suppressed(engine, req.workspace_id, kind, subject)
        counts = write_csv(engine, req, local, erased=erased)
        if erased:
            counts["note"] = SUBJECT_ERASED_NOTE
        size = local.stat().st_size
        ctx.check_lease()
        if syncs:
            dest = ctx.opener(syncs[0])
            dest.put_file(key, local, content_type=handler("csv").content_type)
            output = AccessOutput(sync_id=syncs[0].id, key=key, location=dest.describe(key))
        else:
            target = data_root() / "privacy" / req.workspace_id / key
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(local, target)  # a new file: the mode the umask gives
            output = AccessOutput(local_path=str(target), location=str(target))
    ctx.progress.output = output
    ctx.save("access_export_written", {"location": output.location, "events": counts["events"]})
    return {**counts, "bytes": size, **output.model_dump()}

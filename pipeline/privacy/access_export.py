"""Access export (right of access / portability): one user's or company's stored
events and profile as one CSV file.

- One row per stored event of the subject that is valid under event schema v1, in
  occurred_at order; rows that fail it (the ones an export quarantines) are left
  out, and their number is in the request's result (`events_invalid_excluded`).
- The columns of the exported files, then the profile in `profile_*` columns on
  every row. The file is written by the export's CSV handler, so it has the same
  dialect: RFC 4180, CRLF, UTF-8, timestamps as ISO-8601 UTC text with
  microseconds, NULL as an empty unquoted field and an empty string as `""`;
  `properties` is JSON text.
- Written to `_privacy/access/<request id>.csv` under the workspace's first sync's
  destination, or under data_root()/privacy/<workspace>/ when it has no sync.

An erased (suppressed) subject's export is the header alone, with the note `subject
erased`: eventsync keeps nothing of them. An erasure that later deletes an export's
file marks that request `erased` (pipeline/privacy/erasure.py, runner.py).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Engine, select

from assets.event_schema import COLUMNS, EXPORT_SCHEMA, TS
from assets.extract import RAW_SCHEMA
from assets.formats import handler
from assets.layout import access_export_key
from pipeline.privacy import ledger
from pipeline.privacy.opener import Opener, default_opener
from pipeline.privacy.suppressions import is_suppressed
from pipeline.syncs.config import list_syncs
from resources.clock import US_PER_DAY, from_us
from resources.schema import company_profiles, events, user_profiles
from resources.settings import data_root

PROFILE_SCHEMA = pa.schema(
    [
        pa.field("profile_company_id", pa.string()),
        pa.field("profile_properties", pa.string()),
        pa.field("profile_first_seen_at", TS),
        pa.field("profile_last_seen_at", TS),
    ]
)
ACCESS_SCHEMA = pa.schema(list(EXPORT_SCHEMA) + list(PROFILE_SCHEMA))


HEADER = tuple(ACCESS_SCHEMA.names)
SUBJECT_ERASED_NOTE = "subject erased: eventsync keeps no data of this subject"


def _profile(engine: Engine, req: ledger.PrivacyRequest) -> dict[str, Any] | None:
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


def _days(engine: Engine, req: ledger.PrivacyRequest) -> Iterator[tuple[str, pa.RecordBatch]]:
    """The subject's stored events, one UTC day at a time, as raw store batches."""
    cond = (
        events.c.user_id == req.user_ids[0]
        if req.user_ids
        else events.c.company_id == req.company_ids[0]
    )
    query = (
        select(*[events.c[c] for c in COLUMNS])
        .where(events.c.workspace_id == req.workspace_id, cond)
        .order_by(events.c.occurred_at, events.c.event_id)
    )
    day, rows = None, []
    with engine.connect() as conn:
        for row in conn.execution_options(stream_results=True, yield_per=5000).execute(query):
            row_day = from_us(row.occurred_at - row.occurred_at % US_PER_DAY).date().isoformat()
            if rows and row_day != day:
                yield day, pa.RecordBatch.from_pylist(rows, schema=RAW_SCHEMA)  # type: ignore[misc]
                rows = []
            day = row_day
            rows.append(dict(row._mapping))
    if rows:
        yield day, pa.RecordBatch.from_pylist(rows, schema=RAW_SCHEMA)  # type: ignore[misc]


def write_csv(
    engine: Engine, req: ledger.PrivacyRequest, out: Path, *, erased: bool = False
) -> dict[str, Any]:
    """Validate the subject's events day by day, stage the valid ones with the profile
    columns as Parquet, and render that as CSV into `out`; returns counts. `erased`:
    the subject is suppressed, so the file is the header alone."""
    from assets.validate import DayValidator  # pandas + pandera, only when this runs

    profile = {} if erased else (_profile(engine, req) or {})
    prof = {
        "profile_company_id": profile.get("company_id"),
        "profile_properties": profile.get("properties"),
        "profile_first_seen_at": profile.get("first_seen_at"),
        "profile_last_seen_at": profile.get("last_seen_at"),
    }
    valid = invalid = 0
    staged = out.with_suffix(".parquet")
    with pq.ParquetWriter(staged, ACCESS_SCHEMA) as writer:
        for day, batch in () if erased else _days(engine, req):
            rows, quarantined = DayValidator(req.workspace_id, day).validate(batch)
            valid += rows.num_rows
            invalid += quarantined.num_rows
            profile_columns = [  # timestamps are µs integers in the store
                pa.array(
                    [prof[f.name]] * rows.num_rows, pa.int64() if f.type == TS else f.type
                ).cast(f.type)
                for f in PROFILE_SCHEMA
            ]
            writer.write_table(
                pa.Table.from_arrays(rows.columns + profile_columns, schema=ACCESS_SCHEMA)
            )
    handler("csv").render(staged, "none", out)
    staged.unlink()
    return {
        "events": valid,
        "events_invalid_excluded": invalid,
        "profile_found": bool(profile),
    }


def run_access_export(
    engine: Engine, request_id: str, opener: Opener = default_opener, actor: str = "job"
) -> dict[str, Any]:
    """Write the CSV (idempotent: same key on retry) and record where it is."""
    req = ledger.get_request(engine, request_id)
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
        if syncs:
            dest = opener(syncs[0])
            dest.put_file(key, local, content_type=handler("csv").content_type)
            output = {"sync_id": syncs[0].id, "key": key, "location": dest.describe(key)}
        else:
            target = data_root() / "privacy" / req.workspace_id / key
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(local, target)  # a new file: the mode the umask gives
            output = {"local_path": str(target), "location": str(target)}
    result = {**counts, "bytes": size, **output}
    ledger.update_progress(
        engine,
        request_id,
        lambda p: p.update(output=output),
        actor,
        "access_export_written",
        {"location": output["location"], "events": counts["events"]},
    )
    return result

"""Access export (right of access / portability): one user's or company's events and
profile as CSV -- UTF-8, a header, one row per event, `properties` as JSON text, the
profile in `profile_*` columns on every row -- written to
`_privacy/access/<request id>.csv` under the workspace's first sync's destination, or
under data_root()/privacy/<workspace>/ when the workspace has no sync.

An erased (suppressed) subject's export is the header alone, with the note `subject
erased`: eventsync keeps nothing of them. An erasure that later deletes an export's
file marks that request `erased` (pipeline/privacy/erasure.py, runner.py).
"""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from assets.event_schema import COLUMNS
from pipeline.privacy import ledger
from pipeline.privacy.opener import Opener, default_opener
from pipeline.privacy.suppressions import is_suppressed
from pipeline.syncs.config import list_syncs
from resources.clock import from_us
from resources.schema import company_profiles, events, user_profiles
from resources.settings import data_root

PROFILE_COLUMNS = (
    "profile_company_id",
    "profile_properties",
    "profile_first_seen_at",
    "profile_last_seen_at",
)
_TIMESTAMPS = ("occurred_at", "received_at")
HEADER = (*COLUMNS, *PROFILE_COLUMNS)
SUBJECT_ERASED_NOTE = "subject erased: eventsync keeps no data of this subject"


def access_key(request_id: str) -> str:
    return f"_privacy/access/{request_id}.csv"


def _iso(us: int | None) -> str:
    if us is None:
        return ""
    return from_us(int(us)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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


def write_csv(engine: Engine, req: ledger.PrivacyRequest, out: Path) -> dict[str, Any]:
    """Stream the subject's events (occurred_at order) into `out`; returns counts."""
    profile = _profile(engine, req)
    prof = {
        "profile_company_id": (profile or {}).get("company_id") or "",
        "profile_properties": (profile or {}).get("properties") or "",
        "profile_first_seen_at": _iso((profile or {}).get("first_seen_at")),
        "profile_last_seen_at": _iso((profile or {}).get("last_seen_at")),
    }
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
    n = 0
    with out.open("w", encoding="utf-8", newline="") as fh, engine.connect() as conn:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        for row in conn.execution_options(stream_results=True, yield_per=5000).execute(query):
            m = row._mapping
            values = [
                _iso(m[c]) if c in _TIMESTAMPS else ("" if m[c] is None else m[c]) for c in COLUMNS
            ]
            writer.writerow([*values, *(prof[c] for c in PROFILE_COLUMNS)])
            n += 1
    return {"events": n, "profile_found": profile is not None}


def _write_header_only(out: Path) -> dict[str, Any]:
    with out.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerow(HEADER)
    return {"events": 0, "profile_found": False, "note": SUBJECT_ERASED_NOTE}


def run_access_export(
    engine: Engine, request_id: str, opener: Opener = default_opener, actor: str = "job"
) -> dict[str, Any]:
    """Write the CSV (idempotent: same key on retry) and record where it is."""
    req = ledger.get_request(engine, request_id)
    kind, subject = ("user", req.user_ids[0]) if req.user_ids else ("company", req.company_ids[0])
    syncs = list_syncs(engine, req.workspace_id)
    key = access_key(req.id)
    with tempfile.TemporaryDirectory(prefix="eventsync-access-") as tmp:
        local = Path(tmp) / f"{req.id}.csv"
        if is_suppressed(engine, req.workspace_id, kind, subject):
            counts = _write_header_only(local)
        else:
            counts = write_csv(engine, req, local)
        size = local.stat().st_size
        if syncs:
            dest = opener(syncs[0])
            dest.put_file(key, local, content_type="text/csv; charset=utf-8")
            output = {"sync_id": syncs[0].id, "key": key, "location": dest.describe(key)}
        else:
            target = data_root() / "privacy" / req.workspace_id / key
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(local.read_bytes())
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

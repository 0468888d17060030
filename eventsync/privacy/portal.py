"""What the console's privacy portal does beyond the HTTP API's one-request calls:
read a list of ids (typed, pasted or a CSV file), name every id the subject-id rule
refuses, file the erasure in requests of at most `MAX_IDS` ids, and read an access
export's CSV back for download.

Every id is judged by `subjects.refusal`, the function `subjects.requested_ids` (the
API, the CLI) uses; requests are made by `request_store.create_request`, as the API's
are; un-suppression is `suppressions.lift`. Nothing here decides differently from them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine

from eventsync import subjects
from eventsync.destinations.local import LocalDestination
from eventsync.errors import ConfigError, NotFound
from eventsync.privacy.opener import Opener, default_opener
from eventsync.privacy.request_store import MAX_IDS, PrivacyRequest, create_request
from eventsync.privacy.states import RequestKind, RequestStatus
from eventsync.syncs.config import get_sync

MAX_SUBMITTED_IDS = 10 * MAX_IDS  # ten requests at most from one form
MAX_UPLOAD_BYTES = 2 * 1024 * 1024
CHUNK = 64 * 1024
HEADER_NAMES = {"id", "ids", "user_id", "user_ids", "company_id", "company_ids", "user", "company"}


@dataclass
class Screened:
    """The ids of one submission: those a request may name (distinct, in order) and
    those refused, each with its position (1-based) and the reason."""

    accepted: list[str] = field(default_factory=list)
    refused: list[tuple[int, str, str]] = field(default_factory=list)


def ids_from_text(text: str) -> list[str]:
    """One id per line; empty lines are skipped. Nothing else is trimmed: an id with
    stray spaces is refused by the rule (and named), never silently changed."""
    return [line for line in text.splitlines() if line != ""]


def ids_from_csv(data: bytes) -> list[str]:
    """The first column of a CSV file (UTF-8, with or without BOM); a first row whose
    first cell is a column name (`user_id`, `id` ...) is a header and skipped."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise ConfigError("file", f"is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MiB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError("file", f"is not UTF-8 text (byte {exc.start})") from None
    rows = [row for row in csv.reader(io.StringIO(text, newline="")) if row and row[0] != ""]
    if rows and rows[0][0].strip().lower() in HEADER_NAMES:
        rows = rows[1:]
    return [row[0] for row in rows]


def screen(engine: Engine, workspace_id: str, kind: str, ids: Iterable[str]) -> Screened:
    """Judge every id by the subject-id rule (`subjects.refusal`)."""
    out = Screened()
    seen: set[str] = set()
    for position, value in enumerate(ids, start=1):
        reason = subjects.refusal(engine, workspace_id, kind, value)
        if reason is not None:
            out.refused.append((position, value, reason))
            continue
        for form in subjects.request_forms(engine, workspace_id, kind, value):
            if form not in seen:
                seen.add(form)
                out.accepted.append(form)
    return out


def request_erasure(
    engine: Engine, workspace_id: str, kind: str, ids: list[str], actor: str
) -> tuple[list[PrivacyRequest], Screened]:
    """File the erasure of `ids` (users or companies) when every one passes the rule,
    in requests of at most MAX_IDS ids; else nothing is filed and the result names
    each refused id."""
    if kind not in subjects.KINDS:
        raise ConfigError("kind", f"must be one of {', '.join(subjects.KINDS)}")
    if len(ids) > MAX_SUBMITTED_IDS:
        raise ConfigError("ids", f"at most {MAX_SUBMITTED_IDS} ids at once, got {len(ids)}")
    screened = screen(engine, workspace_id, kind, ids)
    if screened.refused:
        return [], screened
    if not screened.accepted:
        raise ConfigError("ids", "name at least one id")
    made = []
    for i in range(0, len(screened.accepted), MAX_IDS):
        batch = screened.accepted[i : i + MAX_IDS]
        users, companies = (batch, []) if kind == "user" else ([], batch)
        made.append(
            create_request(engine, workspace_id, RequestKind.ERASURE, users, companies, actor)
        )
    return made, screened


def request_access_export(
    engine: Engine, workspace_id: str, kind: str, subject_id: str, actor: str
) -> PrivacyRequest:
    """File the access export of one subject; ConfigError when the id breaks the rule
    (and is not held already), as for an erasure."""
    reason = subjects.refusal(engine, workspace_id, kind, subject_id)
    if reason is not None:
        raise ConfigError("subject_id", reason)
    forms = subjects.request_forms(engine, workspace_id, kind, subject_id)
    users, companies = (forms, []) if kind == "user" else ([], forms)
    return create_request(engine, workspace_id, RequestKind.ACCESS_EXPORT, users, companies, actor)


def _file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            yield chunk


def access_export_file(
    engine: Engine, req: PrivacyRequest, opener: Opener = default_opener
) -> Iterator[bytes]:
    """The CSV of a completed access export, in chunks. NotFound when there is none (not
    completed yet, or deleted by a later erasure). A local file is read a chunk at a
    time; a bucket object is fetched whole (an access export is one subject's data)."""
    output = req.progress.output
    if req.kind != RequestKind.ACCESS_EXPORT or req.status != RequestStatus.COMPLETED:
        raise NotFound("this request has no file to download (yet)")
    if output is None or output.removed is not None:
        raise NotFound(
            "the access export's file is gone: "
            + (output.removed.note if output and output.removed else "it was never written")
        )
    if output.local_path:
        path = Path(output.local_path)
        if not path.is_file():
            raise NotFound("the access export's file is gone")
        return _file_chunks(path)
    if not output.sync_id or not output.key:
        raise NotFound("the access export's file is gone")
    destination = opener(get_sync(engine, output.sync_id, req.workspace_id))
    if isinstance(destination, LocalDestination):
        path = destination._path(output.key)
        if not path.is_file():
            raise NotFound("the access export's file is gone")
        return _file_chunks(path)
    data = destination.get_bytes(output.key)
    return (data[i : i + CHUNK] for i in range(0, len(data), CHUNK))

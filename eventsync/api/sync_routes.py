"""`GET /v1/syncs` and `GET /v1/syncs/{id}/days`: where each of the workspace's syncs
stands (scope `syncs:read`); `POST /v1/syncs`, `PATCH /v1/syncs/{id}` and
`DELETE /v1/syncs/{id}`: create a sync, change its settings, delete it (scope
`syncs:write`, which a key holds only when asked for by name). A sync of another
workspace is 404, exactly like one that does not exist. A setting that is wrong is 422
naming it; a change to a deleted sync is 409; every change is in the audit log
(eventsync/api/audit.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from eventsync.api.auth import EngineDep, SyncsReader, SyncsWriter
from eventsync.api.error_handlers import responses
from eventsync.clock import FIRST_DAY, day_parameter, utc_today
from eventsync.destinations.interface import parse_destination
from eventsync.engine.event_schema import EVENT_TYPES
from eventsync.engine.formats import COMPRESSIONS, FORMATS
from eventsync.engine.name_filter import MAX_PATTERNS
from eventsync.errors import ConfigError, NotFound
from eventsync.event_limits import LIMITS
from eventsync.syncs.config import (
    FREQUENCIES,
    MAX_BACKFILL_DAYS,
    Sync,
    create_sync,
    delete_sync,
    get_sync,
    update_sync,
)
from eventsync.syncs.health import MAX_DAYS, day_statuses, sync_status, workspace_status

router = APIRouter(prefix="/v1", tags=["syncs"])
MAX_SYNC_ID_LENGTH = 64
# A UTC day from FIRST_DAY to 9999-12-30 (JSON Schema's `format: date` alone takes any year).
DAY_PATTERN = r"^(?!9999-12-31)(2[0-9]{3}|[3-9][0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"


@router.get(
    "/syncs",
    summary="The workspace's syncs and where each stands",
    description="Per sync: last exported day, lag in days behind yesterday, whether "
    "the expected day is exported (fresh), pause state with its reason, failed days.",
    responses=responses(401, 403, 413, 429),
)
def list_sync_status(caller: SyncsReader, engine: EngineDep) -> dict:
    return {"syncs": [s.to_dict() for s in workspace_status(engine, caller.workspace_id)]}


@router.get(
    "/syncs/{sync_id}/days",
    summary="Per-day export status of one sync",
    description="Every day of [from, to] (default: the last 30 closed days; "
    f"no day before {FIRST_DAY}; an hourly sync's default includes today), newest first: "
    "exported (rows, quarantined rows, bytes, export id), partial (an hourly sync's "
    "intraday export: the same numbers and `complete_through`, its cut-off), failed "
    "(with the error), rewriting (a re-export is replacing its files; the next run "
    f"completes it), or not exported. At most {MAX_DAYS} days per answer: "
    "for a longer range the answer holds the newest ones and `more_before` is the `to` "
    "of the next page (else null). 404 for a sync of another workspace; 422 for a day "
    "that is not YYYY-MM-DD or `from` after `to`.",
    responses=responses(401, 403, 404, 413, 422, 429),
)
def list_day_status(
    sync_id: Annotated[str, Path(max_length=MAX_SYNC_ID_LENGTH)],
    caller: SyncsReader,
    engine: EngineDep,
    from_: str | None = Query(
        default=None,
        alias="from",
        description=f"YYYY-MM-DD (UTC), {FIRST_DAY} or later",
        json_schema_extra={"format": "date", "pattern": DAY_PATTERN},
    ),
    to: str | None = Query(
        default=None,
        description="YYYY-MM-DD (UTC), inclusive",
        json_schema_extra={"format": "date", "pattern": DAY_PATTERN},
    ),
) -> dict:
    if len(sync_id) > MAX_SYNC_ID_LENGTH or not sync_id.isprintable():
        raise NotFound("sync not found")
    sync = get_sync(engine, sync_id, caller.workspace_id)
    yesterday = utc_today() - timedelta(days=1)
    # An hourly sync's today so far is a day too (status `partial`).
    newest = yesterday + timedelta(days=1) if sync.frequency == "hourly" else yesterday
    last = day_parameter("to", to, newest)
    first = day_parameter("from", from_, max(FIRST_DAY, last - timedelta(days=29)))
    more_before = None
    if first <= last and (last - first).days >= MAX_DAYS:
        first = last - timedelta(days=MAX_DAYS - 1)
        more_before = (first - timedelta(days=1)).isoformat()
    days = day_statuses(engine, sync, first.isoformat(), last.isoformat())
    return {
        "sync": sync_status(engine, sync).to_dict(),
        "days": [d.to_dict() for d in days],
        "more_before": more_before,
    }


Format = Literal[FORMATS]  # type: ignore[valid-type]
Compression = Literal[COMPRESSIONS]  # type: ignore[valid-type]
FrequencyName = Literal[FREQUENCIES]  # type: ignore[valid-type]
EventType = Literal[EVENT_TYPES]  # type: ignore[valid-type]
# An event-name pattern: 1 to LIMITS.event_name characters, no control characters (the
# rest of eventsync/engine/name_filter.py's rule, printable only, is in the description).
NamePattern = Annotated[
    str,
    Field(
        min_length=1,
        max_length=LIMITS.event_name,
        pattern=r"^[^\x00-\x1f\x7f-\x9f]+$",
        description="An exact event name or a `*` glob; printable characters only.",
    ),
]
FormatList = Annotated[list[Format], Field(min_length=1)]
Title = Annotated[str, Field(min_length=1, max_length=200, pattern=r"\S")]


def _no_default(schema: dict) -> None:
    """A PATCH field that may be left out but not set to null: no `default: null`."""
    schema.pop("default", None)


def _unique(schema: dict) -> None:
    _no_default(schema)
    schema["uniqueItems"] = True


class SyncOut(BaseModel):
    id: str
    title: str
    destination: str
    frequency: FrequencyName
    formats: list[str]
    compression: str
    event_types: list[str] | None
    event_names: list[str] | None
    backfill_days: int
    enabled: bool
    paused_reason: str | None
    created_at: str
    updated_at: str


def _out(sync: Sync) -> SyncOut:
    return SyncOut.model_validate(sync.to_dict())


class SyncCreateBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # 0 is no boolean

    destination: str = Field(
        min_length=6,
        max_length=1024,
        pattern=r"^(s3|gs)://[^/\s]+(/\S*)?$",
        description="s3://bucket/prefix or gs://bucket/prefix (a local folder is set by "
        "the operator with `eventsync sync create`). Fixed after creation.",
    )
    title: Title | None = None
    frequency: FrequencyName = Field(
        default="daily",
        description="daily: 03:00 UTC, the closed UTC day. hourly: also the current UTC day "
        "so far, replaced at least hourly (manifest status `partial`).",
    )
    formats: list[Format] = Field(
        default_factory=lambda: ["parquet"], min_length=1, json_schema_extra={"uniqueItems": True}
    )
    compression: Compression = "auto"
    event_types: list[EventType] | None = Field(default=None, min_length=1)
    event_names: list[NamePattern] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_PATTERNS,
        description="Exact event names and `*` globs (e.g. `checklist:*`); omitted: all.",
    )
    backfill_days: int = Field(default=30, ge=0, le=MAX_BACKFILL_DAYS)
    check: bool = Field(
        default=True,
        description="Probe the destination first (a write with the configured encryption); "
        "a destination that refuses it is not stored (422 naming `destination`).",
    )


class SyncPatchBody(BaseModel):
    """Only the settings given change; `null` for event_types / event_names removes the
    filter. The destination cannot change."""

    model_config = ConfigDict(extra="forbid", strict=True)  # 0 is no boolean

    title: Title | SkipJsonSchema[None] = Field(default=None, json_schema_extra=_no_default)
    frequency: FrequencyName | SkipJsonSchema[None] = Field(
        default=None, json_schema_extra=_no_default
    )
    formats: FormatList | SkipJsonSchema[None] = Field(default=None, json_schema_extra=_unique)
    compression: Compression | SkipJsonSchema[None] = Field(
        default=None, json_schema_extra=_no_default
    )
    event_types: list[EventType] | None = Field(default=None, min_length=1)
    event_names: list[NamePattern] | None = Field(
        default=None, min_length=1, max_length=MAX_PATTERNS
    )
    enabled: bool | SkipJsonSchema[None] = Field(default=None, json_schema_extra=_no_default)


@router.post(
    "/syncs",
    status_code=201,
    summary="Create a sync",
    description="Validates every setting (422 naming the first wrong one), probes the "
    "destination unless `check` is false, stores the sync. The new-sync sensor "
    "backfills its last `backfill_days` days.",
    responses=responses(401, 403, 413, 422, 429),
)
def create_sync_route(body: SyncCreateBody, caller: SyncsWriter, engine: EngineDep) -> SyncOut:
    from eventsync.syncs.destination_check import destination_check

    if parse_destination(body.destination).kind not in ("s3", "gcs"):
        raise ConfigError("destination", "must be s3://bucket/prefix or gs://bucket/prefix")
    sync = create_sync(
        engine,
        caller.workspace_id,
        check=destination_check if body.check else None,
        **body.model_dump(exclude={"check"}),
    )
    return _out(sync)


@router.patch(
    "/syncs/{sync_id}",
    summary="Change a sync's settings",
    description="Title, frequency, formats, compression, event-type and event-name filters, "
    "enabled. A frequency change applies at the next schedule tick; a changed filter "
    "applies from the next export and re-exports nothing by itself (`eventsync sync "
    "resync` re-exports chosen days). 404 for a sync of another workspace; 422 naming "
    "the setting that is wrong.",
    responses=responses(401, 403, 404, 409, 413, 422, 429),
)
def patch_sync_route(
    sync_id: Annotated[str, Path(max_length=MAX_SYNC_ID_LENGTH)],
    body: SyncPatchBody,
    caller: SyncsWriter,
    engine: EngineDep,
) -> SyncOut:
    if len(sync_id) > MAX_SYNC_ID_LENGTH or not sync_id.isprintable():
        raise NotFound("sync not found")
    given = body.model_fields_set
    changes = {k: getattr(body, k) for k in given}
    for key in ("title", "frequency", "formats", "compression", "enabled"):
        if key in changes and changes[key] is None:
            raise ConfigError(key, "cannot be null")
    sync = update_sync(
        engine,
        sync_id,
        clear_event_types="event_types" in given and body.event_types is None,
        clear_event_names="event_names" in given and body.event_names is None,
        workspace_id=caller.workspace_id,
        **changes,
    )
    return _out(sync)


@router.delete(
    "/syncs/{sync_id}",
    summary="Delete a sync",
    description="The sync is disabled for good: nothing is exported for it any more, its "
    "queued exports are canceled and a running run of it alone ends CANCELED (by the "
    "new_sync_sensor, within a minute; a run of many syncs skips it). Its exported files "
    "stay in the destination (the data is yours), and erasures still rewrite them. "
    "Every later operation on it is refused with 409. 404 for a sync of another "
    "workspace; 409 when already deleted.",
    responses=responses(401, 403, 404, 409, 413, 429),
)
def delete_one_sync(sync_id: str, caller: SyncsWriter, engine: EngineDep, request: Request) -> dict:
    if len(sync_id) > MAX_SYNC_ID_LENGTH or not sync_id.isprintable():
        raise NotFound("sync not found")
    sync = delete_sync(
        engine,
        sync_id,
        caller.actor,
        source="api",
        workspace_id=caller.workspace_id,
        client_address=request.client.host if request.client else None,
    )
    return {
        "id": sync.id,
        "deleted_at": sync.deleted_at,
        "enabled": sync.enabled,
        "destination": sync.destination,
        "files_kept": True,
    }

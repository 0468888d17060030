"""`GET /v1/syncs` and `GET /v1/syncs/{id}/days`: where each of the workspace's syncs
stands (scope `syncs:read`). A sync of another workspace is 404, exactly like one that
does not exist."""

from __future__ import annotations

from datetime import date, timedelta

from fastapi import APIRouter, Query

from pipeline.api.auth import EngineDep, SyncsReader
from pipeline.api.errors import responses
from pipeline.syncs.config import get_sync
from pipeline.syncs.health import day_statuses, sync_status, workspace_status
from resources.clock import utcnow
from resources.errors import ConfigError, NotFound

router = APIRouter(prefix="/v1", tags=["syncs"])
FIRST_DAY = date(2000, 1, 1)  # no event is older (pipeline/ingest/rules.py)
MAX_SYNC_ID_LENGTH = 64


def _day(name: str, value: str | None, default: date) -> date:
    """A YYYY-MM-DD query parameter between FIRST_DAY and 9999-12-30, else ConfigError."""
    if value is None:
        return default
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ConfigError(name, f"not a UTC day (YYYY-MM-DD): {value[:40]!a}") from None
    if not FIRST_DAY <= day < date.max:
        raise ConfigError(name, f"must be between {FIRST_DAY} and 9999-12-30, got {day}")
    return day


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
    description="Every day of [from, to] (default: the last 30 closed days, at most 366; "
    f"no day before {FIRST_DAY}), newest first: exported (rows, quarantined rows, bytes, "
    "export id), failed (with the error), or not exported. 404 for a sync of another "
    "workspace; 422 for a day that is not YYYY-MM-DD or a range that is too long.",
    responses=responses(401, 403, 404, 413, 422, 429),
)
def list_day_status(
    sync_id: str,
    caller: SyncsReader,
    engine: EngineDep,
    from_: str | None = Query(
        default=None,
        alias="from",
        description=f"YYYY-MM-DD (UTC), {FIRST_DAY} or later",
        json_schema_extra={"format": "date"},
    ),
    to: str | None = Query(
        default=None,
        description="YYYY-MM-DD (UTC), inclusive",
        json_schema_extra={"format": "date"},
    ),
) -> dict:
    if len(sync_id) > MAX_SYNC_ID_LENGTH or not sync_id.isprintable():
        raise NotFound("sync not found")
    sync = get_sync(engine, sync_id, caller.workspace_id)
    yesterday = utcnow().date() - timedelta(days=1)
    last = _day("to", to, yesterday)
    first = _day("from", from_, max(FIRST_DAY, last - timedelta(days=29)))
    days = day_statuses(engine, sync, first.isoformat(), last.isoformat())
    return {"sync": sync_status(engine, sync).to_dict(), "days": [d.to_dict() for d in days]}

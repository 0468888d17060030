"""`GET /v1/syncs` and `GET /v1/syncs/{id}/days`: where each of the workspace's syncs
stands. A sync of another workspace is 404, exactly like one that does not exist."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, HTTPException, Query

from pipeline.api.auth import EngineDep, WorkspaceDep
from pipeline.syncs.config import get_sync
from pipeline.syncs.health import day_statuses, sync_status, workspace_status
from resources.clock import utcnow
from resources.errors import ConfigError, NotFound

router = APIRouter(prefix="/v1", tags=["syncs"])


@router.get(
    "/syncs",
    summary="The workspace's syncs and where each stands",
    description="Per sync: last exported day, lag in days behind yesterday, whether "
    "the expected day is exported (fresh), pause state with its reason, failed days.",
)
def list_sync_status(workspace_id: WorkspaceDep, engine: EngineDep) -> dict:
    return {"syncs": [s.to_dict() for s in workspace_status(engine, workspace_id)]}


@router.get(
    "/syncs/{sync_id}/days",
    summary="Per-day export status of one sync",
    description="Every day of [from, to] (default: the last 30 closed days, at most 366), "
    "newest first: exported (rows, quarantined rows, bytes, export id), failed (with "
    "the error), or not exported. 404 for a sync of another workspace.",
)
def list_day_status(
    sync_id: str,
    workspace_id: WorkspaceDep,
    engine: EngineDep,
    from_: str | None = Query(default=None, alias="from", description="YYYY-MM-DD (UTC)"),
    to: str | None = Query(default=None, description="YYYY-MM-DD (UTC), inclusive"),
) -> dict:
    try:
        sync = get_sync(engine, sync_id, workspace_id)
    except NotFound as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    yesterday = utcnow().date() - timedelta(days=1)
    last = to or yesterday.isoformat()
    first = from_ or (yesterday - timedelta(days=29)).isoformat()
    try:
        days = day_statuses(engine, sync, first, last)
    except ConfigError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None
    return {"sync": sync_status(engine, sync).to_dict(), "days": [d.to_dict() for d in days]}

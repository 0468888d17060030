"""Audit: every console action and API change of the workspace, newest first,
filtered by who, what, where from, outcome and day; the same selection as CSV."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from eventsync import audit
from eventsync.access import Permission
from eventsync.clock import utcnow
from eventsync.console import nav, web
from eventsync.console.web import Ctx, require
from eventsync.errors import ConfigError

router = APIRouter()
nav.register(nav.Page("Audit", "audit", Permission.AUDIT_READ, order=70))
FIELDS = ("actor", "action", "source", "outcome", "since", "until")


def _filter(request: Request) -> audit.Filter:
    values = {f: request.query_params.get(f, "").strip() for f in FIELDS}
    return audit.Filter(**values)


@router.get("/w/{workspace_id}/audit", name="audit")
def audit_page(
    request: Request, before: int | None = None, ctx: Ctx = require(Permission.AUDIT_READ)
) -> Response:
    f = _filter(request)
    try:
        entries = audit.query(ctx.engine, ctx.workspace_id, f, audit.PAGE + 1, before)
    except ConfigError as exc:
        return web.render(
            request,
            "audit.html",
            status=422,
            entries=[],
            f=f,
            error=str(exc),
            query="",
            older=None,
            sources=audit.SOURCES,
            outcomes=audit.OUTCOMES,
        )
    older = entries[audit.PAGE - 1].id if len(entries) > audit.PAGE else None
    query = urlencode({k: v for k, v in request.query_params.items() if k in FIELDS and v})
    return web.render(
        request,
        "audit.html",
        entries=entries[: audit.PAGE],
        f=f,
        older=older,
        query=query,
        sources=audit.SOURCES,
        outcomes=audit.OUTCOMES,
    )


@router.get("/w/{workspace_id}/audit.csv", name="audit_csv")
def audit_csv(request: Request, ctx: Ctx = require(Permission.AUDIT_READ)) -> Response:
    f = _filter(request)
    try:
        f.checked()
    except ConfigError as exc:
        raise web.PageError(422, "Invalid filter", str(exc)) from None
    ctx.audit("audit.exported", **{k: v for k, v in vars(f).items() if v})
    name = f"audit-{ctx.workspace_id}-{utcnow():%Y%m%dT%H%M%SZ}.csv"
    return StreamingResponse(
        audit.export_csv(audit.iter_all(ctx.engine, ctx.workspace_id, f)),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )

"""The privacy portal: erase users or companies (one id, a pasted list or a CSV file;
every id the subject-id rule refuses is named and nothing is filed), request an access
export and download its CSV, each request's status and audit trail, retry a failed
one, and un-suppress an erased subject (owners and admins, with a reason).

The work is done by the functions the HTTP API calls (eventsync/privacy/portal.py,
request_store, runner, suppressions). Requests are written with the actor
`console:<account id>`; the workspace's audit log gets one row per action, naming the
request, never a subject id.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response, StreamingResponse

from eventsync.access import Permission
from eventsync.console import nav, web
from eventsync.console.web import Ctx, require
from eventsync.destinations.interface import DestinationError, DestinationPermissionError
from eventsync.errors import ConfigError, NotFound
from eventsync.privacy import portal, request_store, runner, suppressions
from eventsync.privacy.request_store import PrivacyRequest
from eventsync.privacy.states import InvalidTransition, RequestKind, RequestStatus
from eventsync.subjects import KINDS

router = APIRouter()
FormStr = Annotated[str, Form()]
nav.register(nav.Page("Privacy", "privacy", Permission.PRIVACY_READ, order=20))
MAX_REQUEST_ID_LENGTH = 64
LIST_LIMIT = 200
web.MESSAGES.update(
    {
        "erasures_requested": "Erasure requested (in several requests of at most "
        f"{request_store.MAX_IDS} ids).",
        "unsuppressed": "Taken off the suppression list: new events of this subject are "
        "accepted again.",
        "retried": "Retry requested: a new attempt starts shortly.",
    }
)


def actor(ctx: Ctx) -> str:
    return f"console:{ctx.account.id}"


def _requests(ctx: Ctx, status: str) -> list[PrivacyRequest]:
    return request_store.list_requests(
        ctx.engine,
        ctx.workspace_id,
        status=status if status in set(RequestStatus) else None,
        limit=LIST_LIMIT,
    )


def _page(ctx: Ctx, status_code: int = 200, **extra: object) -> Response:
    status = ctx.request.query_params.get("status", "")
    return web.render(
        ctx.request,
        "privacy.html",
        status=status_code,
        requests=_requests(ctx, status),
        status_filter=status,
        statuses=list(RequestStatus),
        kinds=KINDS,
        max_ids=request_store.MAX_IDS,
        **extra,
    )


@router.get("/w/{workspace_id}/privacy", name="privacy")
def privacy_page(ctx: Ctx = require(Permission.PRIVACY_READ)) -> Response:
    return _page(ctx)


@router.post("/w/{workspace_id}/privacy/erasures", name="privacy_erase")
async def erase(
    kind: FormStr = "user",
    ids: FormStr = "",
    file: Annotated[UploadFile | None, File()] = None,
    ctx: Ctx = require(Permission.PRIVACY_WRITE),
) -> Response:
    form = {"kind": kind, "ids": ids}
    try:
        if kind not in KINDS:
            raise ConfigError("kind", f"must be one of {', '.join(KINDS)}")
        submitted = portal.ids_from_text(ids)
        if file is not None and file.filename:
            submitted += portal.ids_from_csv(await file.read(portal.MAX_UPLOAD_BYTES + 1))
        made, screened = portal.request_erasure(
            ctx.engine, ctx.workspace_id, kind, submitted, actor(ctx)
        )
    except ConfigError as exc:
        return _page(ctx, 422, erase_error=str(exc), erase_form=form)
    if screened.refused:
        ctx.audit(
            "privacy.erasure_refused",
            outcome="refused",
            subject_type=kind,
            ids=len(submitted),
            refused=len(screened.refused),
        )
        return _page(
            ctx,
            422,
            erase_error=f"{len(screened.refused)} of {len(submitted)} ids are refused; "
            "nothing was requested. Correct or remove them and send again.",
            refused=screened.refused,
            erase_form=form,
        )
    for req in made:
        ctx.audit(
            "privacy.erasure_requested",
            target=f"request:{req.id}",
            subject_type=kind,
            ids=len(req.user_ids) + len(req.company_ids),
        )
    return _created(ctx, made)


@router.post("/w/{workspace_id}/privacy/access-exports", name="privacy_access_export")
def access_export(
    kind: FormStr = "user", subject_id: FormStr = "", ctx: Ctx = require(Permission.PRIVACY_WRITE)
) -> Response:
    form = {"kind": kind, "subject_id": subject_id}
    try:
        if kind not in KINDS:
            raise ConfigError("kind", f"must be one of {', '.join(KINDS)}")
        req = portal.request_access_export(
            ctx.engine, ctx.workspace_id, kind, subject_id, actor(ctx)
        )
    except ConfigError as exc:
        ctx.audit("privacy.access_export_refused", outcome="refused", subject_type=kind)
        return _page(ctx, 422, export_error=str(exc), export_form=form)
    ctx.audit("privacy.access_export_requested", target=f"request:{req.id}", subject_type=kind)
    return _created(ctx, [req])


def _created(ctx: Ctx, made: list[PrivacyRequest]) -> Response:
    """To the request's page (or the list, for several): a reload sends nothing again."""
    if len(made) == 1:
        target = web.url(
            ctx.request, "privacy_request", workspace_id=ctx.workspace_id, request_id=made[0].id
        )
    else:
        target = web.url(
            ctx.request, "privacy", {"msg": "erasures_requested"}, workspace_id=ctx.workspace_id
        )
    return web.redirect(ctx.request, target)


def _request(ctx: Ctx, request_id: str) -> PrivacyRequest:
    """The workspace's request; any other (or none) is 404."""
    if len(request_id) > MAX_REQUEST_ID_LENGTH or not request_id.isprintable():
        raise NotFound("no such request")
    return request_store.get_request(ctx.engine, request_id, ctx.workspace_id)


@router.get("/w/{workspace_id}/privacy/requests/{request_id}", name="privacy_request")
def request_page(request_id: str, ctx: Ctx = require(Permission.PRIVACY_READ)) -> Response:
    req = _request(ctx, request_id)
    return web.render(
        ctx.request,
        "privacy_request.html",
        req=req,
        trail=request_store.audit_log(ctx.engine, req.id),
        downloadable=req.kind == RequestKind.ACCESS_EXPORT
        and req.status == RequestStatus.COMPLETED
        and req.progress.output is not None
        and req.progress.output.removed is None,
        retryable=req.status == RequestStatus.FAILED,
    )


@router.get("/w/{workspace_id}/privacy/requests/{request_id}/download", name="privacy_download")
def download(request_id: str, ctx: Ctx = require(Permission.PRIVACY_READ)) -> Response:
    req = _request(ctx, request_id)
    try:
        chunks = portal.access_export_file(ctx.engine, req)
    except NotFound as exc:
        raise web.PageError(404, "No file to download", str(exc)) from None
    except DestinationPermissionError:
        ctx.audit(
            "privacy.access_export_download_failed", target=f"request:{req.id}", outcome="failed"
        )
        location = req.progress.output.location if req.progress.output else ""
        raise web.PageError(
            409,
            "The file cannot be read from here",
            "The destination lets eventsync write but not read (write-only credentials). "
            f"Fetch the file from the destination itself: {location}",
        ) from None
    except DestinationError as exc:
        ctx.audit(
            "privacy.access_export_download_failed", target=f"request:{req.id}", outcome="failed"
        )
        raise web.PageError(
            503,
            "The destination did not answer",
            f"The file could not be read from the destination ({exc.reason or 'error'}). "
            "Try again later.",
        ) from None
    ctx.audit("privacy.access_export_downloaded", target=f"request:{req.id}")
    return StreamingResponse(
        chunks,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{req.id}.csv"',
            "Cache-Control": "no-store",
        },
    )


@router.post("/w/{workspace_id}/privacy/requests/{request_id}/retry", name="privacy_retry")
def retry(
    request: Request, request_id: str, ctx: Ctx = require(Permission.PRIVACY_WRITE)
) -> Response:
    req = _request(ctx, request_id)
    try:
        runner.retry(ctx.engine, req.id, actor(ctx), ctx.workspace_id)
    except InvalidTransition as exc:
        raise web.PageError(409, "Cannot retry", str(exc)) from None
    ctx.audit("privacy.request_retried", target=f"request:{req.id}")
    return web.redirect(
        request,
        web.url(
            request,
            "privacy_request",
            {"msg": "retried"},
            workspace_id=ctx.workspace_id,
            request_id=req.id,
        ),
    )


@router.post("/w/{workspace_id}/privacy/unsuppress", name="privacy_unsuppress")
def unsuppress(
    kind: FormStr = "user",
    subject_id: FormStr = "",
    reason: FormStr = "",
    ctx: Ctx = require(Permission.PRIVACY_UNSUPPRESS),
) -> Response:
    form = {"kind": kind, "subject_id": subject_id, "reason": reason}
    try:
        if kind not in KINDS:
            raise ConfigError("kind", f"must be one of {', '.join(KINDS)}")
        if not reason.strip():
            raise ConfigError("reason", "say why (for example the consent you received)")
        lifted = suppressions.lift(
            ctx.engine, ctx.workspace_id, kind, subject_id, actor(ctx), reason.strip()
        )
    except (ConfigError, NotFound) as exc:
        ctx.audit("privacy.unsuppress_refused", outcome="refused", subject_type=kind)
        return _page(
            ctx,
            422 if isinstance(exc, ConfigError) else 404,
            unsuppress_error=str(exc),
            unsuppress_form=form,
        )
    ctx.audit(
        "privacy.unsuppressed",
        target=f"request:{lifted['erasure_request_id']}",
        subject_type=kind,  # the reason is in the request's trail, beside the subject
    )
    return web.redirect(
        ctx.request,
        web.url(ctx.request, "privacy", {"msg": "unsuppressed"}, workspace_id=ctx.workspace_id),
    )

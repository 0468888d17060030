"""Syncs: the workspace's syncs with their health (last exported day, lag, failing days
and why), a new sync (the destination probe's verdict shown before anything is saved),
the Data Sync settings page (every editable setting of the sync model:
eventsync/console/sync_form.py; the destination read-only), pause and resume with a
reason, a backfill request, the per-day status table and a re-sync dry run.

Store changes go through eventsync/syncs/ (config, health, resync_plan, destination
check); work on the Dagster instance through pipeline/runs/sync_operations.py, the
functions the CLI calls. Deleting a sync (`delete_sync`, the hook: the CLI's
`eventsync sync delete`) asks to type the sync's id to confirm, and is audited.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy import Engine

from eventsync import settings
from eventsync.access import Permission
from eventsync.clock import FIRST_DAY, day_parameter, utc_today
from eventsync.console import nav, sync_form, web
from eventsync.console.web import Ctx, require
from eventsync.destinations.interface import parse_destination
from eventsync.errors import ConfigError, Conflict, NotFound
from eventsync.syncs import config
from eventsync.syncs.config import SSE_MODES, DestinationRefused, Sync
from eventsync.syncs.destination_check import one_line, probe_destination
from eventsync.syncs.health import day_statuses, failing_days, sync_status
from eventsync.syncs.resync_plan import plan_resync

router = APIRouter()
FormStr = Annotated[str, Form()]
nav.register(nav.Page("Syncs", "syncs", Permission.SYNCS_READ, order=10))
MAX_SYNC_ID_LENGTH = 64
DEFAULT_DAYS = 30


def _delete_sync(engine: Engine, sync: Sync, actor: str) -> None:
    """Delete the sync as `eventsync sync delete` does (pipeline.runs.sync_operations:
    disabled for good, its queued work canceled, audited by the store with source
    `console`); Conflict when it is already deleted."""
    from pipeline.runs.sync_operations import delete

    with _instance() as instance:
        delete(engine, instance, sync.id, actor, source="console", workspace_id=sync.workspace_id)


# The hook for deleting a sync: a function (engine, sync, actor) that deletes it, or
# raises ConfigError / Conflict saying why not. While it is None the pages offer no
# delete and the route answers 404.
delete_sync: Callable[[Engine, Sync, str], None] | None = _delete_sync

web.MESSAGES.update(
    {
        "sync_created": "Sync created. Its backfill starts shortly.",
        "settings_saved": "Settings saved.",
        "settings_unchanged": "Nothing changed.",
        "paused": "Sync paused: no new export starts; queued work is canceled.",
        "resumed": "Sync resumed: the work its pause canceled is requested again.",
        "not_paused": "The sync was not paused.",
        "already_paused": "The sync was already paused.",
        "sync_deleted": "Sync deleted.",
    }
)


def actor(ctx: Ctx) -> str:
    return f"console:{ctx.account.id}"


def _sync(ctx: Ctx, sync_id: str) -> Sync:
    """The workspace's sync; any other (or none) is 404."""
    if len(sync_id) > MAX_SYNC_ID_LENGTH or not sync_id.isprintable():
        raise NotFound("no such sync")
    return config.get_sync(ctx.engine, sync_id, ctx.workspace_id)


@contextmanager
def _instance() -> Iterator[Any]:
    """The Dagster instance (the CLI's); one it cannot open is the system's fault (503)."""
    from pipeline.instance import dagster_instance

    try:
        instance = dagster_instance()
    except ConfigError as exc:
        raise web.PageError(
            503,
            "The scheduler is not reachable",
            f"The Dagster instance could not be opened: {exc}. Tell the server's operator.",
        ) from None
    with instance:
        yield instance


def _sync_url(ctx: Ctx, sync_id: str, name: str = "sync", msg: str | None = None) -> str:
    return web.url(
        ctx.request,
        name,
        {"msg": msg} if msg else None,
        workspace_id=ctx.workspace_id,
        sync_id=sync_id,
    )


# --- the list -------------------------------------------------------------------------
@router.get("/w/{workspace_id}/syncs", name="syncs")
def syncs_page(ctx: Ctx = require(Permission.SYNCS_READ)) -> Response:
    rows = []
    for s in config.list_syncs(ctx.engine, ctx.workspace_id):
        rows.append(
            {
                "sync": s,
                "status": sync_status(ctx.engine, s),
                "failing": failing_days(ctx.engine, s.id, limit=3),
            }
        )
    return web.render(ctx.request, "syncs.html", rows=rows)


# --- a new sync -------------------------------------------------------------------------
def _template_sync(ctx: Ctx) -> Sync:
    """A sync of the model's defaults: what the new-sync form starts from."""
    values: dict[str, Any] = {}
    for f in dataclasses.fields(Sync):
        if f.default is not dataclasses.MISSING:
            values[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            values[f.name] = f.default_factory()
    base = {
        "id": "",
        "workspace_id": ctx.workspace_id,
        "title": "",
        "destination": "",
        "formats": ["parquet"],
        "compression": "auto",
        "event_types": None,
        "backfill_days": 30,
        "enabled": True,
    }
    return Sync(**{**values, **base})


def _new_page(ctx: Ctx, status: int = 200, form: Any = None, **extra: Any) -> Response:
    template = _template_sync(ctx)
    fields = sync_form.fields_of(template)
    if form is not None:  # what was typed stays on the page
        for f in fields:
            if f.widget in ("checkboxes",):
                f.value = form.getlist(f.name)
            elif f.widget == "checkbox":
                f.value = form.get(f.name) == "on"
            elif form.get(f.name) is not None:
                f.value = form.get(f.name)
    return web.render(
        ctx.request,
        "sync_new.html",
        status=status,
        fields=fields,
        destination=(form.get("destination") if form is not None else "") or "",
        sse=(form.get("sse") if form is not None else "") or "",
        kms_key_id=(form.get("kms_key_id") if form is not None else "") or "",
        sse_modes=SSE_MODES,
        local_root=settings.load().console_local_root,
        **extra,
    )


@router.get("/w/{workspace_id}/syncs/new", name="sync_new")
def new_sync_page(ctx: Ctx = require(Permission.SYNCS_WRITE)) -> Response:
    return _new_page(ctx)


class _CheckOnly(Exception):
    """The destination was checked; the sync is not to be stored yet."""


def _destination(uri: str) -> str:
    """The destination as the console accepts it: s3:// and gs://, or a folder under
    EVENTSYNC_CONSOLE_LOCAL_ROOT (a path typed in a web form must not be any folder
    the server can write)."""
    uri = uri.strip()
    if not uri:
        raise ConfigError("destination", "give where the files go (s3://bucket/prefix ...)")
    parsed = parse_destination(uri)
    if parsed.kind == "local":
        root = settings.load().console_local_root
        if root is None:
            raise ConfigError(
                "destination",
                "local folders cannot be set from the console on this server; use "
                "s3://bucket/prefix or gs://bucket/prefix",
            )
        folder = Path(parsed.prefix).resolve()
        base = Path(root).resolve()
        if folder != base and base not in folder.parents:
            raise ConfigError("destination", f"a local folder must be under {base}")
    return str(parsed)


@router.post("/w/{workspace_id}/syncs/new", name="sync_create")
async def create_sync(
    request: Request,
    action: FormStr = "check",
    destination: FormStr = "",
    sse: FormStr = "",
    kms_key_id: FormStr = "",
    ctx: Ctx = require(Permission.SYNCS_WRITE),
) -> Response:
    form = await request.form()
    options = {"sse": sse or None, "kms_key_id": kms_key_id.strip() or None}
    verdict: dict[str, Any] = {}

    def check(uri: str, opts: dict[str, Any], sync_id: str) -> tuple[bool, str]:
        """Run by create_sync after it validated every value, before it stores."""
        verdict.update(probe_destination(uri, opts, sync_id))
        ctx.audit(
            "syncs.destination_checked",
            outcome="ok" if verdict["ok"] else "refused",
            destination=verdict["destination"],
            problem=verdict.get("problem"),
        )
        if action != "create":
            raise _CheckOnly
        return verdict["ok"], one_line(verdict)

    try:
        uri = _destination(destination)
        values, cleared = sync_form.changes_from(form, sync_form.fields_of(_template_sync(ctx)))
        if not values.get("title"):
            values.pop("title", None)  # the default: "Sync to <destination>"
        if sse and sse not in SSE_MODES:
            raise ConfigError("sse", f"choose one of {', '.join(SSE_MODES)}")
        accepted = set(inspect.signature(config.create_sync).parameters)
        kwargs = {k: v for k, v in values.items() if k in accepted}
        kwargs.update({name: None for name in cleared if name in accepted})
        made = config.create_sync(
            ctx.engine, ctx.workspace_id, uri, options=options, check=check, **kwargs
        )
    except _CheckOnly:
        return _new_page(ctx, 200 if verdict["ok"] else 422, form, verdict=verdict)
    except DestinationRefused:
        return _new_page(ctx, 422, form, verdict=verdict)
    except ConfigError as exc:
        return _new_page(ctx, 422, form, error=str(exc), verdict=verdict or None)
    ctx.audit(
        "syncs.created",
        target=f"sync:{made.id}",
        destination=made.destination,
        formats=made.formats,
    )
    return web.redirect(request, _sync_url(ctx, made.id, msg="sync_created"))


# --- one sync ---------------------------------------------------------------------------
def _sync_page(ctx: Ctx, s: Sync, status: int = 200, **extra: Any) -> Response:
    q = ctx.request.query_params
    yesterday = utc_today() - timedelta(days=1)
    error = None
    try:
        last = day_parameter("to", q.get("to") or None, yesterday)
        first = day_parameter(
            "from", q.get("from") or None, max(FIRST_DAY, last - timedelta(days=DEFAULT_DAYS - 1))
        )
        days = day_statuses(ctx.engine, s, first.isoformat(), last.isoformat())
    except ConfigError as exc:
        error, status = str(exc), 422
        last, first = yesterday, yesterday - timedelta(days=DEFAULT_DAYS - 1)
        days = day_statuses(ctx.engine, s, first.isoformat(), last.isoformat())
    return web.render(
        ctx.request,
        "sync.html",
        status=status,
        s=s,
        st=sync_status(ctx.engine, s),
        failing=failing_days(ctx.engine, s.id, limit=20),
        days=days,
        first=first.isoformat(),
        last=last.isoformat(),
        days_error=error,
        can_delete=delete_sync is not None and s.deleted_at is None,
        form_days=DEFAULT_DAYS,
        most_days=config.MAX_BACKFILL_DAYS,
        **extra,
    )


@router.get("/w/{workspace_id}/syncs/{sync_id}", name="sync")
def sync_page(sync_id: str, ctx: Ctx = require(Permission.SYNCS_READ)) -> Response:
    return _sync_page(ctx, _sync(ctx, sync_id))


def _day_count(days: str) -> int:
    """The form's number of days: a whole number from 1 to MAX_BACKFILL_DAYS."""
    n = int(days) if days.strip().isdecimal() else 0
    if not 1 <= n <= config.MAX_BACKFILL_DAYS:
        raise ConfigError("days", f"a whole number from 1 to {config.MAX_BACKFILL_DAYS}")
    return n


@router.get("/w/{workspace_id}/syncs/{sync_id}/resync", name="sync_resync")
def resync_dry_run(
    sync_id: str, days: str = str(DEFAULT_DAYS), ctx: Ctx = require(Permission.SYNCS_READ)
) -> Response:
    """What a re-sync would re-export, and why; nothing is queued."""
    s = _sync(ctx, sync_id)
    try:
        plan = plan_resync(ctx.engine, s, _day_count(days))
    except ConfigError as exc:
        return _sync_page(ctx, s, 422, resync_error=str(exc))
    return _sync_page(ctx, s, plan=plan)


@router.post("/w/{workspace_id}/syncs/{sync_id}/pause", name="sync_pause")
def pause(
    request: Request, sync_id: str, reason: FormStr = "", ctx: Ctx = require(Permission.SYNCS_WRITE)
) -> Response:
    return _pause_or_resume(request, ctx, sync_id, reason, pausing=True)


@router.post("/w/{workspace_id}/syncs/{sync_id}/resume", name="sync_resume")
def resume(
    request: Request, sync_id: str, reason: FormStr = "", ctx: Ctx = require(Permission.SYNCS_WRITE)
) -> Response:
    return _pause_or_resume(request, ctx, sync_id, reason, pausing=False)


def _pause_or_resume(
    request: Request, ctx: Ctx, sync_id: str, reason: str, *, pausing: bool
) -> Response:
    """Pause (cancelling the sync's runs and backfills) or resume (queueing the days
    the pause left behind), with the reason in the audit log."""
    from pipeline.runs import sync_operations

    s = _sync(ctx, sync_id)
    why, done = reason.strip(), "paused" if pausing else "resumed"
    if not why:
        return _sync_page(ctx, s, 422, pause_error=f"reason: say why the sync is {done}")
    with _instance() as instance:
        if pausing:
            data = sync_operations.pause(ctx.engine, instance, s.id, why, actor(ctx))
            msg = "already_paused" if data["was_paused"] else "paused"
            detail = {
                "outcome": "ok",
                "canceled_runs": len(data["canceled_runs"]),
                "canceled_backfills": len(data["canceled_backfills"]),
            }
        else:
            data = sync_operations.resume(ctx.engine, instance, s.id)
            msg = "resumed" if data["was_paused"] else "not_paused"
            detail = {
                "was_paused": data["was_paused"],
                "requeued_days": (data["requeued"] or {}).get("days", 0),
            }
    ctx.audit(
        f"syncs.{done}",
        target=f"sync:{s.id}",
        reason=why[:300],
        **detail,
    )
    return web.redirect(request, _sync_url(ctx, s.id, msg=msg))


@router.post("/w/{workspace_id}/syncs/{sync_id}/backfill", name="sync_backfill")
def backfill(
    sync_id: str, days: FormStr = "", ctx: Ctx = require(Permission.SYNCS_WRITE)
) -> Response:
    from pipeline.runs.sync_operations import backfill_last_days

    s = _sync(ctx, sync_id)
    try:
        n = _day_count(days)
        with _instance() as instance:
            _, plan = backfill_last_days(ctx.engine, instance, s.id, n, "console backfill")
    except ConfigError as exc:  # a bad number of days (422) or a paused sync (409)
        return _sync_page(ctx, s, 422 if exc.field == "days" else 409, backfill_error=str(exc))
    queued = plan.to_dict()
    ctx.audit(
        "syncs.backfill_requested",
        target=f"sync:{s.id}",
        days=n,
        queued_days=queued["days"],
        backfill_id=queued["backfill_id"],
    )
    return _sync_page(ctx, s, backfill=queued)


# --- the settings page ------------------------------------------------------------------
def _settings_page(
    ctx: Ctx, s: Sync, status: int = 200, form: Any = None, **extra: Any
) -> Response:
    fields = sync_form.fields_of(s)
    if form is not None:
        for f in fields:
            if f.widget == "checkboxes":
                f.value = form.getlist(f.name)
            elif f.widget == "checkbox":
                f.value = form.get(f.name) == "on"
            elif form.get(f.name) is not None:
                f.value = form.get(f.name)
    return web.render(ctx.request, "sync_settings.html", status=status, s=s, fields=fields, **extra)


@router.get("/w/{workspace_id}/syncs/{sync_id}/settings", name="sync_settings")
def settings_page(sync_id: str, ctx: Ctx = require(Permission.SYNCS_READ)) -> Response:
    return _settings_page(ctx, _sync(ctx, sync_id))


@router.post("/w/{workspace_id}/syncs/{sync_id}/settings", name="sync_settings_post")
async def save_settings(
    request: Request, sync_id: str, ctx: Ctx = require(Permission.SYNCS_WRITE)
) -> Response:
    s = _sync(ctx, sync_id)
    form = await request.form()
    if form.get("destination") not in (None, s.destination):
        return _settings_page(
            ctx,
            s,
            422,
            form,
            error=f"destination: cannot change after the sync is created (it is {s.destination}); "
            "create a new sync for another destination",
        )
    try:
        updated, changed = sync_form.apply(ctx.engine, s, form)
    except ConfigError as exc:
        return _settings_page(ctx, s, 422, form, error=str(exc))
    if changed:
        ctx.audit("syncs.settings_changed", target=f"sync:{s.id}", **changed)
    msg = "settings_saved" if changed else "settings_unchanged"
    return web.redirect(request, _sync_url(ctx, updated.id, "sync_settings", msg=msg))


@router.post("/w/{workspace_id}/syncs/{sync_id}/delete", name="sync_delete")
def delete(
    request: Request,
    sync_id: str,
    confirm: FormStr = "",
    ctx: Ctx = require(Permission.SYNCS_WRITE),
) -> Response:
    s = _sync(ctx, sync_id)
    if delete_sync is None:
        raise NotFound("deleting syncs is not available")
    config.require_not_deleted(s)  # Conflict: the 409 page says when it was deleted
    if confirm.strip() != s.id:
        return _sync_page(
            ctx, s, 422, delete_error=f"confirm: type the sync's id ({s.id}) to delete it"
        )
    try:
        delete_sync(ctx.engine, s, actor(ctx))
    except (ConfigError, Conflict) as exc:
        return _sync_page(ctx, s, 409, delete_error=str(exc))
    ctx.audit("syncs.deleted", target=f"sync:{s.id}")
    return web.redirect(
        request, web.url(request, "syncs", {"msg": "sync_deleted"}, workspace_id=ctx.workspace_id)
    )

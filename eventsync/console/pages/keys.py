"""API keys: the workspace's keys (scopes, expiry, last use, revoked or not), a new key
whose secret is shown once, and revoking. A member may put on a key only the scopes
their role grants (eventsync/access.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from eventsync import workspaces
from eventsync.access import Permission, grantable_scopes
from eventsync.console import nav, web
from eventsync.console.web import Ctx, require
from eventsync.errors import ConfigError

router = APIRouter()
FormStr = Annotated[str, Form()]
nav.register(nav.Page("API keys", "keys", Permission.KEYS_READ, order=60))
EXPIRY_CHOICES = (("30", "30 days"), ("90", "90 days"), ("365", "1 year"), ("", "Never"))


def _page(ctx: Ctx, status: int = 200, **extra: object) -> Response:
    keys = workspaces.list_keys(ctx.engine, ctx.workspace_id)
    keys.sort(key=lambda k: (k["revoked_at"] is not None, k["created_at"]), reverse=False)
    return web.render(
        ctx.request,
        "keys.html",
        status=status,
        keys=keys,
        scopes=grantable_scopes(ctx.role),
        expiry_choices=EXPIRY_CHOICES,
        **extra,
    )


@router.get("/w/{workspace_id}/keys", name="keys")
def keys_page(ctx: Ctx = require(Permission.KEYS_READ)) -> Response:
    return _page(ctx)


@router.post("/w/{workspace_id}/keys", name="create_key")
def create_key(
    name: FormStr = "",
    expires_in_days: FormStr = "",
    scopes: Annotated[list[str] | None, Form()] = None,
    ctx: Ctx = require(Permission.KEYS_WRITE),
) -> Response:
    name, expires, scopes = name.strip(), expires_in_days, scopes or []
    allowed = {str(s) for s in grantable_scopes(ctx.role)}
    fields = {"name": name, "scopes": scopes, "expires_in_days": expires}
    refused = [s for s in scopes if s not in allowed]
    if refused:
        return _page(
            ctx,
            status=403,
            key_error=f"your role cannot give the scope {refused[0][:40]!r}",
            key_form=fields,
        )
    if not scopes:
        return _page(ctx, status=422, key_error="tick at least one scope", key_form=fields)
    if expires not in {c for c, _ in EXPIRY_CHOICES}:
        return _page(ctx, status=422, key_error="choose an expiry offered", key_form=fields)
    try:
        plaintext = workspaces.create_key(
            ctx.engine,
            ctx.workspace_id,
            scopes,
            name=name or None,
            expires_in_days=int(expires) if expires else None,
        )
    except ConfigError as exc:
        return _page(ctx, status=422, key_error=str(exc), key_form=fields)
    key_id = plaintext.split("_", 2)[1]
    ctx.audit(
        "keys.created",
        target=f"key:{key_id}",
        name=name or None,
        scopes=scopes,
        expires_in_days=int(expires) if expires else None,
    )
    response = _page(ctx, new_key=plaintext, new_key_id=key_id)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/w/{workspace_id}/keys/{key_id}/revoke", name="revoke_key")
def revoke_key(
    request: Request, key_id: str, ctx: Ctx = require(Permission.KEYS_WRITE)
) -> Response:
    mine = {
        k["id"] for k in workspaces.list_keys(ctx.engine, ctx.workspace_id) if not k["revoked_at"]
    }
    if key_id not in mine:  # another workspace's key: as if it did not exist
        raise web.PageError(404, "Not found", "No such active API key in this workspace.")
    workspaces.revoke_key(ctx.engine, key_id)
    ctx.audit("keys.revoked", target=f"key:{key_id}")
    return web.redirect(
        request, web.url(request, "keys", {"msg": "key_revoked"}, workspace_id=ctx.workspace_id)
    )

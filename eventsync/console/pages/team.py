"""Team: the workspace's members (role, two-factor status, how they sign in), pending
invitations, and for owners and admins the workspace's sign-in rules: "MFA required"
and OpenID Connect single sign-on."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from pydantic import BaseModel

from eventsync import settings
from eventsync.access import Permission, Role, may_assign
from eventsync.accounts import mail, members, oidc, signin, tokens, workspace_auth
from eventsync.accounts.members import Forbidden
from eventsync.console import nav, web
from eventsync.console.web import Ctx, require
from eventsync.errors import ConfigError, NotFound

router = APIRouter()
FormStr = Annotated[str, Form()]
nav.register(nav.Page("Team", "team", Permission.TEAM_READ, order=50))


def _page(ctx: Ctx, status: int = 200, **extra: object) -> Response:
    db = ctx.engine
    assignable = [r for r in Role if may_assign(ctx.role, r)]
    return web.render(
        ctx.request,
        "team.html",
        status=status,
        members=members.list_members(db, ctx.workspace_id),
        invitations=tokens.pending_invitations(db, ctx.workspace_id),
        assignable=assignable,
        roles=list(Role),
        may_assign=may_assign,
        redirect_uri=oidc.redirect_uri(),
        sso_session=ctx.session.auth_method == signin.SSO
        and ctx.session.sso_workspace_id == ctx.workspace_id,
        **extra,
    )


def _to_team(request: Request, ctx: Ctx, msg: str) -> Response:
    """Back to the team page, saying what was done."""
    return web.redirect(
        request, web.url(request, "team", {"msg": msg}, workspace_id=ctx.workspace_id)
    )


@router.get("/w/{workspace_id}/team", name="team")
def team_page(ctx: Ctx = require(Permission.TEAM_READ)) -> Response:
    return _page(ctx)


@router.post("/w/{workspace_id}/team/invitations", name="invite")
def invite(
    request: Request,
    email: FormStr = "",
    role: FormStr = "",
    ctx: Ctx = require(Permission.TEAM_WRITE),
) -> Response:
    db = ctx.engine
    try:
        address = members.normalize_email(email)
        new_role = Role(role) if role in set(Role) else None
        if new_role is None or not may_assign(ctx.role, new_role):
            raise ConfigError("role", "choose one of the roles offered")
    except ConfigError as exc:
        return _page(ctx, status=422, invite_error=str(exc), invite_email=email[:320])
    existing = members.find_account(db, address)
    if existing and members.membership(db, ctx.workspace_id, existing.id):
        return _page(
            ctx, status=409, invite_error=f"{address} is a member already.", invite_email=address
        )
    token = tokens.issue(
        db,
        tokens.INVITATION,
        workspace_id=ctx.workspace_id,
        email=address,
        role=new_role,
        created_by=ctx.account.id,
    )
    link = f"{settings.load().console}/invitations/{token}"
    ctx.audit("team.invited", target=address, role=str(new_role), by_mail=mail.configured())
    if not mail.configured():
        # No mail server: the inviter passes the link on (shown once, like an API key).
        response = _page(ctx, invite_link=link, invite_for=address)
        response.headers["Cache-Control"] = "no-store"
        return response
    mail.send(
        address,
        f"You are invited to {ctx.membership.workspace_name} on eventsync",
        f"{ctx.account.email} invited you to the eventsync workspace "
        f"{ctx.membership.workspace_name} as {new_role.label}.\n\nAccept here (the link works "
        f"once, for 7 days):\n{link}\n",
    )
    return _to_team(request, ctx, "invited")


@router.post("/w/{workspace_id}/team/invitations/revoke", name="revoke_invitation")
def revoke_invitation(
    request: Request, token_hash: FormStr = "", ctx: Ctx = require(Permission.TEAM_WRITE)
) -> Response:
    found = tokens.revoke_invitation(ctx.engine, ctx.workspace_id, token_hash)
    if found is None:
        raise web.PageError(404, "Not found", "No such pending invitation.")
    ctx.audit("team.invitation_revoked", target=found.email, role=found.role)
    return _to_team(request, ctx, "invitation_revoked")


@router.post("/w/{workspace_id}/team/members/{account_id}/role", name="change_role")
def change_role(
    request: Request, account_id: str, role: FormStr = "", ctx: Ctx = require(Permission.TEAM_WRITE)
) -> Response:
    try:
        old, new = members.change_role(ctx.engine, ctx.workspace_id, ctx.role, account_id, role)
    except NotFound:
        raise web.PageError(404, "Not found", "No such member in this workspace.") from None
    except (Forbidden, ConfigError) as exc:
        return _page(ctx, status=403 if isinstance(exc, Forbidden) else 409, team_error=str(exc))
    target = members.get_account(ctx.engine, account_id).email
    ctx.audit("team.role_changed", target=target, old=str(old), new=str(new))
    return _to_team(request, ctx, "role_changed")


@router.post("/w/{workspace_id}/team/members/{account_id}/remove", name="remove_member")
def remove_member(
    request: Request, account_id: str, ctx: Ctx = require(Permission.TEAM_WRITE)
) -> Response:
    try:
        target = members.get_account(ctx.engine, account_id).email
        old = members.remove_member(ctx.engine, ctx.workspace_id, ctx.role, account_id)
    except NotFound:
        raise web.PageError(404, "Not found", "No such member in this workspace.") from None
    except (Forbidden, ConfigError) as exc:
        return _page(ctx, status=403 if isinstance(exc, Forbidden) else 409, team_error=str(exc))
    ctx.audit("team.member_removed", target=target, role=str(old))
    if account_id == ctx.account.id:
        return web.redirect(request, web.url(request, "home"))
    return _to_team(request, ctx, "removed")


@router.post("/w/{workspace_id}/team/mfa", name="set_mfa_required")
def set_mfa_required(
    request: Request, mfa_required: FormStr = "", ctx: Ctx = require(Permission.WORKSPACE_ADMIN)
) -> Response:
    required = mfa_required == "on"
    workspace_auth.set_mfa_required(ctx.engine, ctx.workspace_id, required)
    ctx.audit("workspace.mfa_required", required=required)
    return _to_team(request, ctx, "mfa_saved")


class SsoForm(BaseModel):
    """The single sign-on form: the OpenID provider, the domains it signs in, the role
    it gives a first sign-in, and whether password sign-in stays allowed."""

    issuer: str = ""
    client_id: str = ""
    domains: str = ""
    default_role: str = "viewer"
    sso_required: str = ""


@router.post("/w/{workspace_id}/team/sso", name="set_sso")
def set_sso(
    request: Request,
    form: Annotated[SsoForm, Form()],
    ctx: Ctx = require(Permission.WORKSPACE_ADMIN),
) -> Response:
    required = form.sso_required == "on"
    fields = form.model_dump(exclude={"sso_required"})
    sso_session = (
        ctx.session.auth_method == signin.SSO and ctx.session.sso_workspace_id == ctx.workspace_id
    )
    if required and not ctx.auth.sso_required and not sso_session:
        return _page(
            ctx,
            status=409,
            sso_form=fields,
            sso_error="Sign in with single sign-on once "
            "(so we know it works for you) before making it required.",
        )
    try:
        saved = workspace_auth.set_sso(ctx.engine, ctx.workspace_id, **fields, required=required)
    except ConfigError as exc:
        return _page(ctx, status=422, sso_form=fields, sso_error=str(exc))
    ctx.audit(
        "workspace.sso_updated",
        issuer=saved.sso_issuer,
        client_id=saved.sso_client_id,
        domains=list(saved.sso_domains),
        default_role=str(saved.sso_default_role),
        required=saved.sso_required,
    )
    return _to_team(request, ctx, "sso_saved")

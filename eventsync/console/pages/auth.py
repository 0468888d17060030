"""Signing in and out: password, the TOTP step, single sign-on, password reset,
accepting an invitation, and the workspace list."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from eventsync import settings
from eventsync.accounts import (
    mail,
    members,
    mfa,
    oidc,
    passwords,
    sessions,
    signin,
    throttle,
    tokens,
    workspace_auth,
)
from eventsync.accounts.members import Account
from eventsync.console import web
from eventsync.errors import ConfigError

router = APIRouter()
FormStr = Annotated[str, Form()]


def _signed_in_response(
    request: Request, account: Account, method: str, sso_workspace: str | None, target: str | None
) -> Response:
    """Replace the session with a new one (new id: no fixation), then the TOTP step or
    the page the person wanted."""
    db = web.engine(request)
    stage = signin.next_stage(account)
    session_id, session = sessions.rotate(
        db, request.cookies.get(web.cookie_name()), account.id, stage, method, sso_workspace
    )
    web.replace_session(request, session_id, session)
    if stage == sessions.MFA:
        query = {"next": target} if target else None
        return web.redirect(request, web.url(request, "login_mfa", query))
    signin.audit_all(
        db, account, "console.sign_in", web.client_address(request), detail={"method": method}
    )
    return web.redirect(request, target or web.url(request, "home"))


@router.get("/", name="home")
def home(request: Request) -> Response:
    session = web.current_session(request)
    if session is None or not session.signed_in:
        return web.redirect(request, web.url(request, "login"))
    _, account = web.signed_in(request)
    joined = members.memberships(web.engine(request), account.id)
    if len(joined) == 1:
        return web.redirect(
            request, web.url(request, "workspace_home", workspace_id=joined[0].workspace_id)
        )
    return web.render(request, "workspaces.html", joined=joined)


@router.get("/w/{workspace_id}/", name="workspace_home")
def workspace_home(request: Request, ctx: web.Ctx = web.require()) -> Response:
    for link in web.nav.links(request, ctx):
        return web.redirect(request, link["url"])
    return web.redirect(request, web.url(request, "account"))


# --- password -------------------------------------------------------------------------
@router.get("/login", name="login")
def login_page(request: Request, next: str | None = None) -> Response:
    session = web.start_session(request)
    if session.signed_in:
        return web.redirect(request, web.local_target(request, next) or web.url(request, "home"))
    return web.render(request, "login.html", next=web.local_target(request, next) or "")


@router.post("/login", name="login_post")
def login_post(
    request: Request, email: FormStr = "", password: FormStr = "", next: FormStr = ""
) -> Response:
    target = web.local_target(request, next)
    try:
        account = signin.check_password(
            web.engine(request), email, password, web.client_address(request)
        )
    except signin.SignInRefused as exc:
        status = 429 if isinstance(exc, signin.Throttled) else 401
        return web.render(
            request,
            "login.html",
            status=status,
            error=str(exc),
            email=email[:320],
            next=target or "",
        )
    return _signed_in_response(request, account, signin.PASSWORD, None, target)


@router.get("/login/mfa", name="login_mfa")
def mfa_page(request: Request, next: str | None = None) -> Response:
    session = web.current_session(request)
    if session is None or session.stage != sessions.MFA:
        return web.redirect(request, web.url(request, "login"))
    return web.render(request, "login_mfa.html", next=web.local_target(request, next) or "")


@router.post("/login/mfa", name="login_mfa_post")
def mfa_post(
    request: Request, code: FormStr = "", recovery_code: FormStr = "", next: FormStr = ""
) -> Response:
    db = web.engine(request)
    session = web.current_session(request)
    if session is None or session.stage != sessions.MFA or not session.account_id:
        return web.redirect(request, web.url(request, "login"))
    account = members.get_account(db, session.account_id)
    address = web.client_address(request)
    target = web.local_target(request, next)
    wait = throttle.wait_seconds(db, account.email, address)
    if wait:
        return web.render(
            request,
            "login_mfa.html",
            status=429,
            next=target or "",
            error=str(signin.Throttled(wait)),
        )
    used_recovery = bool(recovery_code.strip())
    if used_recovery:
        ok = mfa.use_recovery_code(db, account.id, recovery_code)
    else:
        ok = mfa.verify_code(db, account.id, code)
    if not ok:
        throttle.record_failure(db, account.email, address)
        what = "recovery code" if used_recovery else "code"
        signin.audit_all(
            db,
            account,
            "console.sign_in",
            address,
            outcome="refused",
            detail={"method": session.auth_method, "reason": f"wrong {what}"},
        )
        return web.render(
            request,
            "login_mfa.html",
            status=401,
            next=target or "",
            error=f"That {what} is not valid (or was used already).",
        )
    throttle.clear_account(db, account.email)
    session_id, new = sessions.rotate(
        db,
        request.cookies.get(web.cookie_name()),
        account.id,
        sessions.FULL,
        session.auth_method or signin.PASSWORD,
        session.sso_workspace_id,
    )
    web.replace_session(request, session_id, new)
    detail = {
        "method": session.auth_method,
        "second_factor": "recovery code" if used_recovery else "totp",
    }
    signin.audit_all(db, account, "console.sign_in", address, detail=detail)
    if used_recovery:
        left = mfa.recovery_codes_left(db, account.id)
        return web.redirect(request, web.url(request, "account", {"recovery_left": left}))
    return web.redirect(request, target or web.url(request, "home"))


@router.post("/logout", name="logout")
def logout(request: Request) -> Response:
    session = web.current_session(request)
    if session is not None and session.account_id:
        db = web.engine(request)
        account = members.get_account(db, session.account_id)
        signin.audit_all(db, account, "console.sign_out", web.client_address(request))
    web.end_session(request)
    return web.redirect(request, web.url(request, "login", {"msg": "signed_out"}))


# --- single sign-on -------------------------------------------------------------------
@router.post("/login/sso", name="sso_start")
def sso_start(request: Request, email: FormStr = "", workspace_id: FormStr = "") -> Response:
    db = web.engine(request)
    session = web.start_session(request)
    try:
        domain = members.email_domain(email)
    except ConfigError as exc:
        return web.render(
            request, "login.html", status=422, sso_error=str(exc), sso_email=email[:320]
        )
    account = members.find_account(db, email)
    candidates = {w.workspace_id: w for w in workspace_auth.sso_workspaces_for(db, domain)}
    if account is not None:
        for m in members.memberships(db, account.id):
            config = workspace_auth.get(db, m.workspace_id)
            if config.sso_configured:
                candidates[m.workspace_id] = config
    if workspace_id:
        candidates = {k: v for k, v in candidates.items() if k == workspace_id}
    if not candidates:
        return web.render(
            request,
            "login.html",
            status=422,
            sso_email=email[:320],
            sso_error="No workspace has single sign-on for this e-mail address.",
        )
    if len(candidates) > 1:
        names = {
            m.workspace_id: m.workspace_name
            for m in (members.memberships(db, account.id) if account else [])
        }
        choices = [(ws, names.get(ws, ws)) for ws in sorted(candidates)]
        return web.render(request, "sso_choose.html", choices=choices, email=email[:320])
    config = next(iter(candidates.values()))
    try:
        target, _ = oidc.begin(db, config, session.id_hash, login_hint=email.strip())
    except oidc.SsoError as exc:
        return web.render(
            request, "login.html", status=503, sso_error=str(exc), sso_email=email[:320]
        )
    return web.finish(request, RedirectResponse(target, status_code=303))


@router.get("/sso/callback", name="sso_callback")
def sso_callback(
    request: Request, state: str = "", code: str = "", error: str = "", error_description: str = ""
) -> Response:
    db = web.engine(request)
    session = web.current_session(request)
    pending = tokens.consume(db, tokens.SSO, state)
    if pending is None or session is None or pending.data.get("session") != session.id_hash:
        raise web.PageError(
            400,
            "Sign-in expired",
            "This single sign-on attempt expired or was started in another browser. Start "
            "again from the sign-in page.",
        )
    if error:
        reason = (error_description or error)[:200]
        return web.render(
            request, "login.html", status=401, sso_error=f"The identity provider said: {reason}"
        )
    config = workspace_auth.get(db, pending.workspace_id or "")
    address = web.client_address(request)
    try:
        identity = oidc.complete(config, code, pending)
        account = signin.sso_account(db, config, identity, address)
    except (oidc.SsoError, ConfigError) as exc:
        return web.render(request, "login.html", status=401, sso_error=str(exc))
    target = web.url(request, "workspace_home", workspace_id=config.workspace_id)
    return _signed_in_response(request, account, signin.SSO, config.workspace_id, target)


# --- password reset -------------------------------------------------------------------
@router.get("/password-reset", name="reset")
def reset_page(request: Request) -> Response:
    web.start_session(request)
    return web.render(request, "reset_request.html", mail_ready=mail.configured())


@router.post("/password-reset", name="reset_post")
def reset_post(request: Request, email: FormStr = "") -> Response:
    db = web.engine(request)
    if not mail.configured():
        return web.render(request, "reset_request.html", status=503, mail_ready=False)
    address = web.client_address(request)
    key = email.strip().lower()[:320]
    wait = throttle.wait_seconds(db, key, address)
    if wait:
        return web.render(
            request,
            "reset_request.html",
            status=429,
            mail_ready=True,
            error=str(signin.Throttled(wait)),
        )
    throttle.record_failure(db, key, address)  # a reset request counts like a failed sign-in
    account = members.find_account(db, email)
    if account is not None:
        token = tokens.issue(db, tokens.RESET, account_id=account.id, email=account.email)
        link = f"{settings.load().console}/password-reset/{token}"
        mail.send(
            account.email,
            "Reset your eventsync password",
            "Someone (we hope you) asked to reset the password of your eventsync console "
            f"account.\n\nChoose a new password here (the link works once, for one hour):\n{link}"
            "\n\nIf it was not you, ignore this message: your password stays as it is.\n",
        )
        signin.audit_all(db, account, "console.password_reset_requested", address)
    # The same answer whether or not the address has an account.
    return web.render(
        request,
        "message.html",
        title="Check your e-mail",
        detail="If an account uses this address, we sent it a link to choose a new "
        "password. The link works once, for one hour.",
    )


@router.get("/password-reset/{token}", name="reset_token")
def reset_token_page(request: Request, token: str) -> Response:
    web.start_session(request)
    found = tokens.peek(web.engine(request), tokens.RESET, token)
    if found is None:
        raise web.PageError(
            404, "Link expired", "This reset link is used, expired, or wrong. Ask for a new one."
        )
    return web.render(request, "reset_form.html", token=token, email=found.email)


@router.post("/password-reset/{token}", name="reset_token_post")
def reset_token_post(
    request: Request, token: str, password: FormStr = "", password2: FormStr = ""
) -> Response:
    db = web.engine(request)
    found = tokens.peek(db, tokens.RESET, token)
    if found is None or not found.account_id:
        raise web.PageError(
            404, "Link expired", "This reset link is used, expired, or wrong. Ask for a new one."
        )
    problem = password_problem(password, password2, found.email or "")
    if problem:
        return web.render(
            request, "reset_form.html", status=422, token=token, email=found.email, error=problem
        )
    if tokens.consume(db, tokens.RESET, token) is None:
        raise web.PageError(404, "Link expired", "This reset link was just used.")
    members.set_password(db, found.account_id, password)  # ends every session of the account
    tokens.revoke_resets(db, found.account_id)
    account = members.get_account(db, found.account_id)
    signin.audit_all(db, account, "console.password_reset", web.client_address(request))
    return web.redirect(request, web.url(request, "login", {"msg": "reset_done"}))


def password_problem(password: str, password2: str, email: str) -> str | None:
    if password != password2:
        return "The two passwords differ."
    try:
        passwords.check_new(password, email)
    except ConfigError as exc:
        return str(exc).replace("password: ", "The password ", 1)
    return None


# --- invitations ----------------------------------------------------------------------
def _invitation(request: Request, token: str) -> tokens.Token:
    found = tokens.peek(web.engine(request), tokens.INVITATION, token)
    if found is None:
        raise web.PageError(
            404,
            "Invitation expired",
            "This invitation is used, expired, withdrawn, or wrong. "
            "Ask the person who invited you for a new one.",
        )
    return found


@router.get("/invitations/{token}", name="invitation")
def invitation_page(request: Request, token: str) -> Response:
    web.start_session(request)
    found = _invitation(request, token)
    db = web.engine(request)
    workspace = members.workspace_name(db, found.workspace_id or "")
    exists = members.find_account(db, found.email or "") is not None
    return web.render(
        request,
        "invitation.html",
        token=token,
        invitation=found,
        workspace=workspace,
        exists=exists,
    )


@router.post("/invitations/{token}", name="invitation_post")
def invitation_post(
    request: Request, token: str, password: FormStr = "", password2: FormStr = ""
) -> Response:
    db = web.engine(request)
    found = _invitation(request, token)
    workspace = members.workspace_name(db, found.workspace_id or "")
    account = members.find_account(db, found.email or "")
    address = web.client_address(request)

    def again(status: int, error: str) -> Response:
        return web.render(
            request,
            "invitation.html",
            status=status,
            token=token,
            invitation=found,
            workspace=workspace,
            exists=account is not None,
            error=error,
        )

    if account is not None:
        try:
            account = signin.check_password(db, account.email, password, address)
        except signin.Throttled as exc:
            return again(429, str(exc))
        except signin.SignInRefused:
            return again(401, "Wrong password for this account.")
    else:
        problem = password_problem(password, password2, found.email or "")
        if problem:
            return again(422, problem)
    if tokens.consume(db, tokens.INVITATION, token) is None:
        raise web.PageError(404, "Invitation expired", "This invitation was just used.")
    if account is None:
        account = members.create_account(db, found.email or "", password)
    signin.join(
        db,
        found.workspace_id or "",
        account,
        found.role or "viewer",
        "team.invitation_accepted",
        address,
    )
    target = web.url(request, "workspace_home", workspace_id=found.workspace_id)
    return _signed_in_response(request, account, signin.PASSWORD, None, target)

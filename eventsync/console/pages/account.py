"""The signed-in person's own security: two-factor authentication (enroll with a QR
code, recovery codes shown once, turn off) and their password."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from eventsync.accounts import members, mfa, passwords, sessions, signin, workspace_auth
from eventsync.accounts.members import Account
from eventsync.console import web
from eventsync.console.pages.auth import password_problem

router = APIRouter()
FormStr = Annotated[str, Form()]


def _required_by(request: Request, account: Account) -> list[str]:
    """Names of the account's workspaces that require MFA."""
    db = web.engine(request)
    return [
        m.workspace_name
        for m in members.memberships(db, account.id)
        if workspace_auth.get(db, m.workspace_id).mfa_required
    ]


def _page(request: Request, account: Account, status: int = 200, **extra: object) -> Response:
    db = web.engine(request)
    context: dict[str, object] = {
        "required_by": _required_by(request, account),
        "workspace": web.local_workspace(request),
        "recovery_left": mfa.recovery_codes_left(db, account.id) if account.mfa_enabled else 0,
    }
    if not account.mfa_enabled:
        secret = mfa.pending_secret(db, account.id)
        context["secret"] = secret
        context["qr_svg"] = mfa.qr_svg(mfa.provisioning_uri(secret, account.email))
    return web.render(request, "account.html", status=status, **{**context, **extra})


@router.get("/account", name="account")
def account_page(request: Request) -> Response:
    _, account = web.signed_in(request)
    return _page(request, account)


@router.post("/account/mfa", name="mfa_confirm")
def mfa_confirm(request: Request, code: FormStr = "", workspace: FormStr = "") -> Response:
    _, account = web.signed_in(request)
    db = web.engine(request)
    codes = mfa.confirm_enrollment(db, account.id, code)
    if codes is None:
        return _page(
            request,
            account,
            status=422,
            mfa_error="That code is not valid. Type the 6 digits your authenticator app shows now.",
        )
    signin.audit_all(db, account, "console.mfa_enrolled", web.client_address(request))
    return _codes_page(request, codes, workspace)


def _codes_page(request: Request, codes: list[str], workspace: str) -> Response:
    response = web.render(
        request,
        "recovery_codes.html",
        codes=codes,
        workspace=web.local_workspace(request, workspace),
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/account/mfa/recovery-codes", name="mfa_new_codes")
def mfa_new_codes(request: Request, code: FormStr = "") -> Response:
    _, account = web.signed_in(request)
    db = web.engine(request)
    if not account.mfa_enabled or not mfa.verify_code(db, account.id, code):
        return _page(request, account, status=422, codes_error="That code is not valid.")
    codes = mfa.new_recovery_codes(db, account.id)
    signin.audit_all(db, account, "console.recovery_codes_replaced", web.client_address(request))
    return _codes_page(request, codes, "")


@router.post("/account/mfa/off", name="mfa_off")
def mfa_off(request: Request, code: FormStr = "") -> Response:
    _, account = web.signed_in(request)
    db = web.engine(request)
    required = _required_by(request, account)
    if required:
        return _page(
            request,
            account,
            status=409,
            off_error=f"{', '.join(required)} requires two-factor authentication.",
        )
    if not mfa.verify_code(db, account.id, code):
        return _page(request, account, status=422, off_error="That code is not valid.")
    mfa.turn_off(db, account.id)
    signin.audit_all(db, account, "console.mfa_turned_off", web.client_address(request))
    return web.redirect(request, web.url(request, "account", {"msg": "mfa_off"}))


@router.get("/account/password", name="change_password")
def password_page(request: Request) -> Response:
    web.signed_in(request)
    return web.render(request, "password.html")


@router.post("/account/password", name="change_password_post")
def password_post(
    request: Request, current: FormStr = "", password: FormStr = "", password2: FormStr = ""
) -> Response:
    session, account = web.signed_in(request)
    db = web.engine(request)
    if account.password_hash is not None and not passwords.verify(account.password_hash, current):
        return web.render(
            request, "password.html", status=401, error="Your current password is wrong."
        )
    problem = password_problem(password, password2, account.email)
    if (
        problem is None
        and account.password_hash
        and passwords.verify(account.password_hash, password)
    ):
        problem = "Choose a password you have not used here."
    if problem:
        return web.render(request, "password.html", status=422, error=problem)
    members.set_password(db, account.id, password)  # ends every session, this one too
    session_id, new = sessions.create(
        db, account.id, sessions.FULL, session.auth_method, session.sso_workspace_id
    )
    web.replace_session(request, session_id, new)
    signin.audit_all(db, account, "console.password_changed", web.client_address(request))
    return web.redirect(request, web.url(request, "account", {"msg": "password_changed"}))

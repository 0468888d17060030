"""What every console page shares: the session cookie, CSRF and Origin checks, who is
signed in and what they may do in the workspace the URL names, and rendering.

A page's route takes a `Ctx` through `require(permission)`: signed in (else to the
sign-in page), a member of the workspace in the URL (else 404, exactly like a
workspace that does not exist), allowed in by the workspace's rules (single sign-on,
MFA enrollment: eventsync/accounts/signin.py), and holding the permission (else 403).
Every POST passes `csrf_protect` (a router dependency) first.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine

from eventsync import access, audit, settings
from eventsync.access import Permission, Role
from eventsync.accounts import members, passwords, sessions, signin, workspace_auth
from eventsync.accounts.members import Account, Membership
from eventsync.accounts.sessions import Session
from eventsync.client_address import of_scope
from eventsync.console import nav

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.globals["password_min_length"] = passwords.MIN_LENGTH
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
# Pages a signed-in account that must first choose a new password may still open.
PASSWORD_CHANGE_PATHS = ("/account/password", "/logout")


class Redirect(Exception):
    def __init__(self, url: str) -> None:
        self.url = url


class PageError(Exception):
    """Answered with the error page: status, a title, and what to do."""

    def __init__(self, status: int, title: str, message: str = "") -> None:
        super().__init__(title)
        self.status = status
        self.title = title
        self.message = message


def engine(request: Request) -> Engine:
    return request.app.state.engine()


def client_address(request: Request) -> str:
    """The client's address: the socket's, or X-Forwarded-For's when the socket is a
    trusted proxy (eventsync/client_address.py, the API's rule too)."""
    return of_scope(request.scope)


def cookie_name() -> str:
    # __Host-: the browser keeps it only when Secure, Path=/ and no Domain were set.
    return "__Host-es_session" if settings.load().console_secure_cookie else "es_session"


def _cookie(request: Request) -> str | None:
    return request.cookies.get(cookie_name())


def current_session(request: Request) -> Session | None:
    if not hasattr(request.state, "session"):
        request.state.session = sessions.load(engine(request), _cookie(request))
    return request.state.session


def start_session(request: Request) -> Session:
    """The request's session; an anonymous one (set on the response) when it has none."""
    session = current_session(request)
    if session is None:
        session_id, session = sessions.create(engine(request))
        request.state.session = session
        request.state.new_session_id = session_id
    return session


def replace_session(request: Request, session_id: str, session: Session) -> None:
    """After a rotation: the response carries the new id."""
    request.state.session = session
    request.state.new_session_id = session_id


def end_session(request: Request) -> None:
    cookie = _cookie(request)
    if cookie:
        sessions.end(engine(request), cookie)
    request.state.session = None
    request.state.clear_cookie = True


def finish(request: Request, response: Response) -> Response:
    """Put the session cookie on the response when it changed."""
    new_id = getattr(request.state, "new_session_id", None)
    if new_id:
        response.set_cookie(
            cookie_name(),
            new_id,
            max_age=int(settings.load().console_session_hours * 3600),
            path="/",
            secure=settings.load().console_secure_cookie,
            httponly=True,
            samesite="lax",
        )
    elif getattr(request.state, "clear_cookie", False):
        response.delete_cookie(
            cookie_name(), path="/", secure=settings.load().console_secure_cookie, httponly=True
        )
    return response


def url(request: Request, name: str, query: dict[str, Any] | None = None, **params: Any) -> str:
    """The path of a console route (with an optional query string)."""
    # The console is mounted (at /console): its routes are its own app's, under the
    # mount's root_path.
    path = request.scope.get("root_path", "") + str(request.app.url_path_for(name, **params))
    return f"{path}?{urlencode(query)}" if query else path


def local_target(request: Request, target: str | None) -> str | None:
    """`target` when it is a path of this console (after sign-in), else None: never a
    redirect to another site."""
    prefix = url(request, "home")
    if target and target.startswith(prefix) and not target.startswith("//") and "\\" not in target:
        return target
    return None


def redirect(request: Request, target: str) -> Response:
    return finish(request, RedirectResponse(target, status_code=303))


# --- CSRF ---------------------------------------------------------------------------
def _origin_of(value: str) -> str:
    parts = urlsplit(value)
    return f"{parts.scheme}://{parts.netloc}".lower()


def allowed_origins(request: Request) -> set[str]:
    """The console's configured origin and the origin the browser asked for (the Host
    header is the browser's, never the page's that made it post)."""
    own = f"{request.url.scheme}://{request.headers.get('host', '')}".lower()
    return {_origin_of(settings.load().console), own}


async def csrf_protect(request: Request) -> None:
    """Refuse a state-changing request that came from another origin or lacks the
    session's CSRF token (synchronizer token pattern)."""
    if request.method in SAFE_METHODS:
        return
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin or _origin_of(origin) not in allowed_origins(request):
        raise PageError(
            403,
            "Request refused",
            "This form was sent from another site (its Origin is not the console's). "
            "Open the console and try again there.",
        )
    form = await request.form()
    token = form.get("csrf_token")
    session = current_session(request)
    if (
        session is None
        or not isinstance(token, str)
        or not hmac.compare_digest(token.encode(), session.csrf_token.encode())
    ):
        raise PageError(
            403,
            "Your session has expired",
            "The form was older than your session (or cookies are blocked). Reload the page "
            "and send it again.",
        )


# --- who is asking --------------------------------------------------------------------
def signed_in(request: Request) -> tuple[Session, Account]:
    """The full session and its account, else a redirect to the sign-in page."""
    session = current_session(request)
    if session is None or not session.signed_in:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise Redirect(url(request, "login", {"next": target}))
    try:
        account = members.get_account(engine(request), session.account_id or "")
    except LookupError:
        end_session(request)
        raise Redirect(url(request, "login")) from None
    request.state.account = account
    if account.must_change_password and not request.url.path.endswith(PASSWORD_CHANGE_PATHS):
        raise Redirect(url(request, "change_password"))
    return session, account


def local_workspace(request: Request, value: str | None = None) -> Membership | None:
    """The signed-in account's workspace named by `value` (or ?workspace=), else None."""
    ws = value if value is not None else request.query_params.get("workspace", "")
    account = getattr(request.state, "account", None)
    if not ws or account is None or len(ws) > 64:
        return None
    return members.membership(engine(request), ws, account.id)


@dataclass
class Ctx:
    """A member on a workspace's page."""

    request: Request
    session: Session
    account: Account
    membership: Membership
    auth: workspace_auth.WorkspaceAuth
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def workspace_id(self) -> str:
        return self.membership.workspace_id

    @property
    def role(self) -> Role:
        return self.membership.role

    @property
    def engine(self) -> Engine:
        return engine(self.request)

    @property
    def address(self) -> str:
        return client_address(self.request)

    def can(self, permission: Permission | str) -> bool:
        return access.role_allows(self.role, permission)

    def audit(
        self, action: str, target: str | None = None, outcome: str = "ok", **detail: Any
    ) -> None:
        audit.record(
            self.engine,
            self.workspace_id,
            "console",
            self.account.id,
            action,
            actor_label=self.account.email,
            target=target,
            outcome=outcome,
            client_address=self.address,
            detail=detail or None,
        )


def workspace_ctx(request: Request, workspace_id: str, permission: Permission | None) -> Ctx:
    session, account = signed_in(request)
    db = engine(request)
    membership = (
        members.membership(db, workspace_id, account.id) if len(workspace_id) <= 64 else None
    )
    if membership is None:  # another workspace's page: as if it did not exist
        raise PageError(404, "Not found", "There is no such page in your workspaces.")
    problem = signin.entry_problem(db, session, account, workspace_id)
    if problem == signin.ENROLL:
        raise Redirect(url(request, "account", {"workspace": workspace_id, "enroll": "1"}))
    if problem == signin.SSO_REQUIRED:
        raise PageError(
            403,
            "Single sign-on required",
            f"{membership.workspace_name} requires single sign-on. Sign out, then sign in "
            "with single sign-on.",
        )
    if problem == signin.OTHER_SSO:
        raise PageError(
            403,
            "Signed in for another workspace",
            "You signed in through another workspace's single sign-on. Sign out, then sign "
            f"in for {membership.workspace_name}.",
        )
    ctx = Ctx(request, session, account, membership, workspace_auth.get(db, workspace_id))
    request.state.ctx = ctx
    if permission is not None and not ctx.can(permission):
        ctx.audit(
            "console.refused",
            target=request.url.path,
            outcome="refused",
            permission=str(permission),
        )
        raise PageError(
            403,
            "Not allowed",
            f"Your role ({ctx.role.label}) does not allow this ({permission}). Ask an owner "
            "or admin of the workspace.",
        )
    return ctx


def require(permission: Permission | None = None) -> Any:
    """A route dependency: the `Ctx` of a member allowed `permission` in the URL's
    workspace (`workspace_id` path parameter)."""

    def dependency(request: Request, workspace_id: str) -> Ctx:
        return workspace_ctx(request, workspace_id, permission)

    return Depends(dependency)


# --- rendering ------------------------------------------------------------------------
MESSAGES = {
    "invited": "Invitation sent.",
    "invitation_revoked": "Invitation withdrawn.",
    "role_changed": "Role changed.",
    "removed": "Member removed.",
    "mfa_saved": "Two-factor requirement saved.",
    "sso_saved": "Single sign-on settings saved.",
    "key_revoked": "API key revoked.",
    "password_changed": "Password changed.",
    "mfa_off": "Two-factor authentication turned off.",
    "signed_out": "You are signed out.",
    "reset_done": "Your password is set. Sign in with it.",
}


def render(request: Request, template: str, status: int = 200, **context: Any) -> Response:
    ctx: Ctx | None = getattr(request.state, "ctx", None)
    session = current_session(request)
    account = getattr(request.state, "account", None)
    message = MESSAGES.get(request.query_params.get("msg", ""))
    response = templates.TemplateResponse(
        request,
        template,
        {
            "ctx": ctx,
            "account": account,
            "csrf_token": session.csrf_token if session else "",
            "nav": nav.links(request, ctx) if ctx else [],
            "memberships": members.memberships(engine(request), account.id) if account else [],
            "message": message,
            "url": lambda name, query=None, **p: url(request, name, query, **p),
            "Permission": Permission,
            **context,
        },
        status_code=status,
    )
    return finish(request, response)


def error_page(request: Request, status: int, title: str, message: str = "") -> Response:
    return render(request, "error.html", status=status, title=title, detail=message)

"""The console as an ASGI app of its own, mounted by the API at /console
(eventsync/api/app.py): its own error pages (HTML, not the API's JSON), no OpenAPI
document, security headers on every answer, and the static assets served from this
package (nothing is loaded from another site: the console works offline).

Adding a page area: a module in
eventsync/console/pages/ with a `router` that registers its nav entry, its templates
extending `base.html`, and one line in `PAGE_MODULES`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from eventsync.accounts.mail import MailError
from eventsync.accounts.members import Forbidden
from eventsync.console import web
from eventsync.console.pages import account, audit_log, auth, keys, privacy, syncs, team
from eventsync.errors import ConfigError, Conflict, NotFound

log = logging.getLogger("eventsync.console")
PAGE_MODULES = (auth, account, syncs, privacy, team, keys, audit_log)

SECURITY_HEADERS = {
    # Everything from this origin; no script at all; no framing (clickjacking).
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self' http: https:; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # Invitation and reset tokens are in URLs: never hand them to another site (and
    # no-referrer would make the browser send `Origin: null` on our own forms).
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                for name, value in SECURITY_HEADERS.items():
                    if name.lower().encode() not in present:
                        headers.append((name.lower().encode(), value.encode()))
                if b"cache-control" not in present and not scope["path"].endswith(".css"):
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


# Paths whose last part is a one-time token, and the SSO callback's query: the access
# log shows them redacted.
_TOKEN_PATH = re.compile(r"(/console/(?:invitations|password-reset)/)[^/?\s]+")
_CALLBACK_QUERY = re.compile(r"(/console/sso/callback)\?\S*")


class RedactTokens(logging.Filter):
    """Keeps one-time tokens and authorization codes out of uvicorn's access log."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) >= 3:
            args = list(record.args)
            path = str(args[2])
            path = _TOKEN_PATH.sub(r"\1[redacted]", path)
            args[2] = _CALLBACK_QUERY.sub(r"\1?[redacted]", path)
            record.args = tuple(args)
        return True


def install_log_redaction() -> None:
    access_log = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactTokens) for f in access_log.filters):
        access_log.addFilter(RedactTokens())


def _handlers(app: FastAPI) -> None:
    @app.exception_handler(web.Redirect)
    async def _redirect(request: Request, exc: web.Redirect) -> Response:
        return web.redirect(request, exc.url)

    @app.exception_handler(web.PageError)
    async def _page_error(request: Request, exc: web.PageError) -> Response:
        return web.error_page(request, exc.status, exc.title, exc.message)

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, _exc: NotFound) -> Response:
        return web.error_page(
            request, 404, "Not found", "There is no such page in your workspaces."
        )

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> Response:
        return web.error_page(request, 403, "Not allowed", str(exc))

    @app.exception_handler(ConfigError)
    async def _invalid(request: Request, exc: ConfigError) -> Response:
        return web.error_page(request, 422, "Invalid input", str(exc))

    @app.exception_handler(Conflict)
    async def _conflict(request: Request, exc: Conflict) -> Response:
        return web.error_page(request, 409, "Not possible now", str(exc))

    @app.exception_handler(RequestValidationError)
    async def _malformed(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return web.error_page(
            request, 422, "Invalid input", f"{where}: {first.get('msg', 'invalid')}"
        )

    @app.exception_handler(MailError)
    async def _mail(request: Request, exc: MailError) -> Response:
        log.warning("console: %s", exc)
        return web.error_page(
            request,
            503,
            "E-mail not sent",
            "The mail server did not take the message. Try "
            "again in a few minutes; if it persists, tell the server's operator.",
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        titles = {404: "Not found", 405: "Not allowed here"}
        return web.error_page(request, exc.status_code, titles.get(exc.status_code, "Error"), "")


def create_console(engine: Callable[[], Engine]) -> FastAPI:
    """The console app; `engine` returns the event store's engine when first needed."""
    app = FastAPI(title="eventsync console", openapi_url=None, docs_url=None, redoc_url=None)
    app.state.engine = engine
    app.mount("/static", StaticFiles(directory=web.HERE / "static"), name="static")
    for module in PAGE_MODULES:
        app.include_router(module.router, dependencies=[Depends(web.csrf_protect)])
    _handlers(app)
    app.add_middleware(SecurityHeaders)
    install_log_redaction()
    return app


def mount(parent: Any, engine: Callable[[], Engine]) -> None:
    """Serve the console at /console of `parent` (the API app)."""
    parent.mount("/console", create_console(engine), name="console")
    # /console without the slash: to the console
    parent.add_api_route(
        "/console", lambda: RedirectResponse("/console/", status_code=307), include_in_schema=False
    )

"""One error, one status, everywhere: the app-level exception handlers and the error
bodies the OpenAPI document shows.

| error | status | body |
|---|---|---|
| request validation, ConfigError | 422 | `{"message": "...", "detail": [{"loc", "msg", "type"}]}` |
| SettingsError (a bad setting of the server; its log names it) | 500 | `{"detail": "..."}` |
| Unauthorized (no, bad, revoked or expired key) | 401 + WWW-Authenticate | `{"detail": "..."}` |
| MissingScope | 403 | `{"detail": "..."}` naming the scope |
| NotFound (also another workspace's object) | 404 | `{"detail": "..."}` |
| InvalidTransition, Conflict (a deleted or disabled sync) | 409 | `{"detail": "..."}` |
| body over the limit (eventsync/api/guard.py) | 413 | `{"detail": "..."}` |
| RateLimited | 429 + Retry-After | `{"detail": "..."}` |
| store fault (eventsync/store/faults.py) | 503 + Retry-After | `{"detail": "..."}` |

Routers raise the domain errors; they never build these responses themselves.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from eventsync.api.ratelimit import RateLimited
from eventsync.errors import ConfigError, Conflict, EventsyncError, NotFound, StoreUnavailable
from eventsync.privacy.states import InvalidTransition
from eventsync.settings import SettingsError
from eventsync.store.faults import is_store_fault, unavailable

log = logging.getLogger("eventsync.api")


class Unauthorized(EventsyncError):
    """No key, or one that is unknown, revoked, expired or wrong."""


class MissingScope(EventsyncError):
    def __init__(self, scope: str) -> None:
        super().__init__(f"this API key lacks the scope {scope!r}")
        self.scope = scope


class ErrorOut(BaseModel):
    detail: str = Field(description="What is wrong, in one line.")


class ValidationItem(BaseModel):
    loc: list[str | int] = Field(description="Where: body/query/path, then field names.")
    msg: str
    type: str


class ValidationErrorOut(BaseModel):
    message: str = Field(description="The first problem in one line, e.g. `body.events: ...`.")
    detail: list[ValidationItem]


_DESCRIPTIONS = {
    400: "The body could not be read as JSON (e.g. nested too deeply).",
    401: "Missing, invalid, revoked or expired API key.",
    403: "The API key lacks the scope this endpoint needs (named in `detail`).",
    404: "No such object in the key's workspace (another workspace's objects too).",
    409: "The object is not in a state that allows this.",
    413: "The request body is over the limit; it was not read.",
    422: "Invalid parameters or body; nothing was stored.",
    429: "Rate limit (failed authentications per client address, requests per key).",
    503: "The event store is unavailable; nothing was done. Send the request again after "
    "Retry-After seconds.",
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` entries of these error statuses, and 503: every endpoint
    reads the event store (the key, at least)."""
    out: dict[int | str, dict[str, Any]] = {}
    for code in (*codes, 503):
        entry: dict[str, Any] = {
            "description": _DESCRIPTIONS[code],
            "model": ValidationErrorOut if code == 422 else ErrorOut,
        }
        if code in (429, 503):
            entry["headers"] = {
                "Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}
            }
        if code == 401:
            entry["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
        out[code] = entry
    return out


def error_response(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def store_unavailable(error: StoreUnavailable) -> JSONResponse:
    """The 503 of a store fault, logged with the driver's error class and first line
    (never the statement or its parameters)."""
    log.warning("event store unavailable: %s: %s", error.cause, error.detail)
    return error_response(503, str(error), {"Retry-After": str(error.retry_after)})


def validation_message(errors: list[dict[str, Any]]) -> str:
    """One line naming the first problem, e.g. `body.events: at most 1000 events ...`."""
    if not errors:
        return "invalid request"
    first = errors[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    msg = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {msg}{more}"


def misconfigured(exc: SettingsError) -> JSONResponse:
    """A bad setting of the server: 500 (not the request's fault), named in the log only."""
    log.error("the API cannot serve: %s", exc)
    return error_response(500, "the server is misconfigured: its log names the setting")


def _jsonable(errors: Any) -> Any:
    # pydantic puts the exception object into `ctx` (not JSON) and echoes the `input`,
    # which for an oversize batch is the whole batch: leave both out.
    items = [{k: v for k, v in e.items() if k not in ("input", "ctx", "url")} for e in errors]
    return jsonable_encoder(items, custom_encoder={Exception: str})


def _allowed_methods(request: Request) -> str | None:
    """Every method the OpenAPI document lists at this path (Starlette names only the
    first matching route's, so GET+POST on one path answered `Allow: POST`)."""
    for template, operations in request.app.openapi()["paths"].items():
        pattern = "/".join(
            "[^/]+" if part.startswith("{") else re.escape(part) for part in template.split("/")
        )
        if re.fullmatch(pattern, request.url.path):
            return ", ".join(sorted(m.upper() for m in operations))
    return None


def _answered_with(status: int) -> Any:
    """An exception handler answering `status` with the exception's text."""

    async def handler(_r: Request, exc: Exception) -> JSONResponse:
        return error_response(status, str(exc))

    return handler


def install(app: FastAPI) -> None:
    """Register the handlers on `app`."""

    @app.exception_handler(RequestValidationError)
    async def _invalid(_r: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        return JSONResponse(
            {"message": validation_message(errors), "detail": _jsonable(errors)},
            status_code=422,
        )

    @app.exception_handler(SettingsError)
    async def _settings(_r: Request, exc: SettingsError) -> JSONResponse:
        return misconfigured(exc)

    @app.exception_handler(ConfigError)
    async def _config(_r: Request, exc: ConfigError) -> JSONResponse:
        msg = str(exc).removeprefix(f"{exc.field}: ")
        item = {"loc": [exc.field], "msg": msg, "type": "value_error"}
        return JSONResponse({"message": str(exc), "detail": [item]}, status_code=422)

    @app.exception_handler(Unauthorized)
    async def _unauthorized(_r: Request, exc: Unauthorized) -> JSONResponse:
        return error_response(401, str(exc), {"WWW-Authenticate": "Bearer"})

    # Errors answered with their status and their own text, nothing else.
    answered: tuple[tuple[type[Exception], int], ...] = (
        (MissingScope, 403),
        (NotFound, 404),
        (InvalidTransition, 409),
        (Conflict, 409),
    )
    for error, status in answered:
        app.add_exception_handler(error, _answered_with(status))

    @app.exception_handler(RateLimited)
    async def _limited(_r: Request, exc: RateLimited) -> JSONResponse:
        return error_response(429, str(exc), {"Retry-After": str(exc.retry_after)})

    @app.exception_handler(StoreUnavailable)
    async def _unavailable(_r: Request, exc: StoreUnavailable) -> JSONResponse:
        return store_unavailable(exc)

    @app.exception_handler(SQLAlchemyError)
    async def _store_error(_r: Request, exc: SQLAlchemyError) -> JSONResponse:
        # Any endpoint: a store fault is 503, never a 500 or the input's fault; other
        # SQLAlchemy errors are bugs (500, logged by the server with the traceback).
        if is_store_fault(exc):
            return store_unavailable(unavailable(exc))
        raise exc

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Any:
        allow = _allowed_methods(request) if exc.status_code == 405 else None
        if allow:
            exc.headers = {**(exc.headers or {}), "Allow": allow}
        return await http_exception_handler(request, exc)

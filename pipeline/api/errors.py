"""One error, one status, everywhere: the app-level exception handlers and the error
bodies the OpenAPI document shows.

| error | status | body |
|---|---|---|
| request validation, ConfigError | 422 | `{"message": "...", "detail": [{"loc", "msg", "type"}]}` |
| Unauthorized (no, bad, revoked or expired key) | 401 + WWW-Authenticate | `{"detail": "..."}` |
| MissingScope | 403 | `{"detail": "..."}` naming the scope |
| NotFound (also another workspace's object) | 404 | `{"detail": "..."}` |
| InvalidTransition | 409 | `{"detail": "..."}` |
| body over the limit (pipeline/api/guard.py) | 413 | `{"detail": "..."}` |
| RateLimited | 429 + Retry-After | `{"detail": "..."}` |

Routers raise the domain errors; they never build these responses themselves.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from pipeline.api.ratelimit import RateLimited
from pipeline.privacy.ledger import InvalidTransition
from resources.errors import ConfigError, EventsyncError, NotFound


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
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` entries of these error statuses."""
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        entry: dict[str, Any] = {
            "description": _DESCRIPTIONS[code],
            "model": ValidationErrorOut if code == 422 else ErrorOut,
        }
        if code == 429:
            entry["headers"] = {
                "Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}
            }
        if code == 401:
            entry["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
        out[code] = entry
    return out


def error_response(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def validation_message(errors: list[dict[str, Any]]) -> str:
    """One line naming the first problem, e.g. `body.events: at most 1000 events ...`."""
    if not errors:
        return "invalid request"
    first = errors[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    msg = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {msg}{more}"


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


def install(app: FastAPI) -> None:
    """Register the handlers on `app`."""

    @app.exception_handler(RequestValidationError)
    async def _invalid(_r: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        return JSONResponse(
            {"message": validation_message(errors), "detail": _jsonable(errors)},
            status_code=422,
        )

    @app.exception_handler(ConfigError)
    async def _config(_r: Request, exc: ConfigError) -> JSONResponse:
        msg = str(exc).removeprefix(f"{exc.field}: ")
        item = {"loc": [exc.field], "msg": msg, "type": "value_error"}
        return JSONResponse({"message": str(exc), "detail": [item]}, status_code=422)

    @app.exception_handler(Unauthorized)
    async def _unauthorized(_r: Request, exc: Unauthorized) -> JSONResponse:
        return error_response(401, str(exc), {"WWW-Authenticate": "Bearer"})

    @app.exception_handler(MissingScope)
    async def _forbidden(_r: Request, exc: MissingScope) -> JSONResponse:
        return error_response(403, str(exc))

    @app.exception_handler(NotFound)
    async def _not_found(_r: Request, exc: NotFound) -> JSONResponse:
        return error_response(404, str(exc))

    @app.exception_handler(InvalidTransition)
    async def _conflict(_r: Request, exc: InvalidTransition) -> JSONResponse:
        return error_response(409, str(exc))

    @app.exception_handler(RateLimited)
    async def _limited(_r: Request, exc: RateLimited) -> JSONResponse:
        return error_response(429, str(exc), {"Retry-After": str(exc.retry_after)})

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Any:
        allow = _allowed_methods(request) if exc.status_code == 405 else None
        if allow:
            exc.headers = {**(exc.headers or {}), "Allow": allow}
        return await http_exception_handler(request, exc)

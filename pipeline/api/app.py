"""The HTTP API (FastAPI): `create_app` assembles the routers; `app` serves the
configured store (`uvicorn pipeline.api:app`, or `eventsync api`).

Routers live in their own modules (`pipeline/api_events.py`, ...) and share the
dependencies of `pipeline/api_auth.py`; add a router by including it in `create_app`.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import Engine, select

from pipeline.api.auth import EngineDep
from pipeline.api.events import router as events_router
from pipeline.api.privacy import router as privacy_router
from pipeline.api.syncs import router as syncs_router
from resources.schema import workspaces

try:
    API_VERSION = version("eventsync")
except PackageNotFoundError:  # running from a checkout that is not installed
    API_VERSION = "0.0.0"


def _validation_message(exc: RequestValidationError) -> str:
    """One line naming the first problem, e.g. `body.events: at most 1000 events ...`."""
    errors = exc.errors()
    if not errors:
        return "invalid request"
    first = errors[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    msg = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {msg}{more}"


def create_app(engine: Engine | None = None) -> FastAPI:
    """The API; without `engine` it opens the configured store on first use."""
    app = FastAPI(
        title="eventsync",
        version=API_VERSION,
        description="Ingest product-analytics events and run privacy requests for a "
        "workspace. Authenticate with `Authorization: Bearer <workspace API key>`.",
        openapi_url="/openapi.json",
    )
    app.state.engine = engine

    @app.exception_handler(RequestValidationError)
    async def _on_invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # Keep FastAPI's `detail` list and add a one-line `message` for humans.
        return JSONResponse(
            status_code=422,
            content={"message": _validation_message(exc), "detail": _jsonable(exc.errors())},
        )

    @app.get("/healthz", tags=["health"], summary="Liveness and event store connectivity")
    def healthz(engine: EngineDep) -> JSONResponse:
        try:
            with engine.connect() as conn:
                conn.execute(select(workspaces.c.id).limit(1)).all()
        except Exception as exc:
            cause = str(exc).splitlines()[0][:200]
            return JSONResponse(
                status_code=503,
                content={"status": "error", "database": f"{type(exc).__name__}: {cause}"},
            )
        return JSONResponse({"status": "ok", "database": "ok", "version": API_VERSION})

    app.include_router(events_router)
    app.include_router(privacy_router)
    app.include_router(syncs_router)
    return app


def _jsonable(errors: object) -> object:
    from fastapi.encoders import jsonable_encoder

    # pydantic puts the exception object into `ctx` (not JSON) and echoes the `input`,
    # which for an oversize batch is the whole batch: leave it out.
    if isinstance(errors, list | tuple):
        errors = [
            {k: v for k, v in e.items() if k != "input"} if isinstance(e, dict) else e
            for e in errors
        ]
    return jsonable_encoder(errors, custom_encoder={Exception: str})


app = create_app()

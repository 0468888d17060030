"""The HTTP API (FastAPI): `create_app` assembles the guard, the error handlers and one
router per resource; `app` serves the configured store (`uvicorn pipeline.api:app`, or
`eventsync api`).

Order of work for a request: pipeline/api/guard.py (body limit, authentication, rate
limits: before the body is read), then the router (scope check, body parsing, domain
call); errors map to statuses in pipeline/api/errors.py.
"""

from __future__ import annotations

import logging
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Literal

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import Engine, select

from pipeline.api import errors
from pipeline.api.auth import EngineDep
from pipeline.api.events import Event
from pipeline.api.events import router as events_router
from pipeline.api.guard import Guard
from pipeline.api.privacy import router as privacy_router
from pipeline.api.syncs import router as syncs_router
from resources import settings
from resources.schema import workspaces

log = logging.getLogger("eventsync.api")

try:
    API_VERSION = version("eventsync")
except PackageNotFoundError:  # running from a checkout that is not installed
    API_VERSION = "0.0.0"


class Health(BaseModel):
    status: Literal["ok", "not ok"]


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document plus the `Event` schema the batch's items refer to."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        event = Event.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(event.pop("$defs", {}))
        components["Event"] = event
        app.openapi_schema = schema
    return app.openapi_schema


def create_app(engine: Engine | None = None) -> FastAPI:
    """The API; without `engine` it opens the configured store on first use."""
    app = FastAPI(
        title="eventsync",
        version=API_VERSION,
        description="Ingest product-analytics events and run privacy requests for a "
        "workspace. Authenticate with `Authorization: Bearer <workspace API key>`; each "
        "endpoint names the key scope it needs. Limits (413/422/429) are in each "
        "endpoint's description and in README.md.",
        openapi_url="/openapi.json",
    )
    app.state.engine = engine
    app.add_middleware(
        Guard,
        events_limit=settings.events_max_body_bytes(),
        default_limit=settings.api_max_body_bytes(),
    )
    errors.install(app)

    @app.get(
        "/healthz",
        tags=["health"],
        summary="Liveness and event store connectivity",
        response_model=Health,
        responses={503: {"model": Health, "description": "The event store is unreachable."}},
    )
    def healthz(engine: EngineDep) -> Any:
        # Says ok / not ok only; why is in the server log (never host, port or role).
        try:
            with engine.connect() as conn:
                conn.execute(select(workspaces.c.id).limit(1)).all()
        except Exception as exc:
            cause = str(exc).splitlines()[0][:200] if str(exc) else ""
            log.warning("health check failed: %s: %s", type(exc).__name__, cause)
            return JSONResponse({"status": "not ok"}, status_code=503)
        return Health(status="ok")

    app.include_router(events_router)
    app.include_router(privacy_router)
    app.include_router(syncs_router)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


app = create_app()

"""The HTTP API (FastAPI): `create_app` assembles the guard, the error handlers and one
router per resource; `app` serves the configured store (`uvicorn eventsync.api:app`, or
`eventsync api`).

Order of work for a request: eventsync/api/guard.py (body limit, authentication, rate
limits: before the body is read), then the router (scope check, body parsing, domain
call); errors map to statuses in eventsync/api/error_handlers.py.
"""

from __future__ import annotations

import logging
import time
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Literal

import swagger_ui_bundle
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from sqlalchemy import Engine, select
from starlette.routing import Match
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from eventsync import client_address, settings
from eventsync.api import error_handlers
from eventsync.api.audit import AuditChanges
from eventsync.api.auth import EngineDep
from eventsync.api.event_routes import Event
from eventsync.api.event_routes import router as events_router
from eventsync.api.guard import Guard, engine_of
from eventsync.api.privacy_routes import router as privacy_router
from eventsync.api.sync_routes import router as syncs_router
from eventsync.console.app import mount as mount_console
from eventsync.ops.metrics import ApiMetrics
from eventsync.settings import MiB
from eventsync.store.schema import workspaces

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
        _state_body_limits(schema)
        app.openapi_schema = schema
    return app.openapi_schema


def _route_template(request: Request) -> str:
    """The template of the route a request is for (also when the guard answered before
    routing), "unmatched" for a path no route has: never the raw path, which holds ids."""
    matched = request.scope.get("route")
    routes = list(request.app.router.routes)
    while matched is None and routes:
        route = next((r for r in routes if r.matches(request.scope)[0] is not Match.NONE), None)
        if route is None:
            break
        if getattr(route, "path", None):
            matched = route
        # An included router (FastAPI wraps it): look inside.
        inner = getattr(route, "original_router", route)
        routes = list(getattr(inner, "routes", []))
    return getattr(matched, "path", None) or "unmatched"


def _state_body_limits(schema: dict[str, Any]) -> None:
    """Each operation's body limit (the guard's, 413 beyond it) in its requestBody, as
    `x-max-body-bytes` and in words; the rate limits as `x-rate-limit-per-minute`, and
    ingestion's per-workspace limits as `x-workspace-*`."""
    limits = settings.load()
    rates = {
        "/v1/events": (limits.ingest_rate, limits.ingest_burst),
    }
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            if path.startswith("/v1/privacy/") and "requestBody" in operation:
                rates[path] = (limits.privacy_rate, limits.privacy_burst)
            body = operation.get("requestBody")
            if body is not None:
                size = (
                    limits.events_max_body_bytes
                    if path == "/v1/events"
                    else (limits.api_max_body_bytes)
                )
                body["x-max-body-bytes"] = size
                body["description"] = f"At most {size} bytes (else 413, before it is read)."
            if path in rates and "requestBody" in operation:
                rate, burst = rates[path]
                operation["x-rate-limit-per-minute"] = rate
                operation["x-rate-limit-burst"] = burst
            if path == "/v1/events" and "requestBody" in operation:  # per workspace
                operation["x-workspace-bytes-per-minute"] = int(limits.ingest_bytes_rate * MiB)
                operation["x-workspace-bytes-burst"] = int(limits.ingest_bytes_burst * MiB)
                operation["x-workspace-batches-in-progress"] = limits.ingest_lanes


DOCS_ASSETS = "/docs/assets"


def _mount_docs(app: FastAPI) -> None:
    """Swagger UI at /docs from local files (the swagger-ui-bundle package)."""
    app.mount(
        DOCS_ASSETS,
        StaticFiles(directory=swagger_ui_bundle.swagger_ui_path),
        name="docs-assets",
    )

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="eventsync API",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
            oauth2_redirect_url="/docs/oauth2-redirect",
        )

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()


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
        # Served below from the swagger-ui-bundle package: the page works offline and
        # loads nothing from a CDN. (ReDoc has no packaged assets: not served.)
        docs_url=None,
        redoc_url=None,
    )
    _mount_docs(app)
    app.state.engine = engine
    app.state.metrics = metrics = ApiMetrics()
    limits = settings.load()

    app.add_middleware(AuditChanges)  # inside the guard: sees the verified key
    app.add_middleware(
        Guard,
        events_limit=limits.events_max_body_bytes,
        default_limit=limits.api_max_body_bytes,
    )
    # Outermost: the client's address from X-Forwarded-For, only from EVENTSYNC_TRUSTED_PROXIES.
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=client_address.trusted_proxies())

    @app.middleware("http")
    async def _count(request: Request, call_next: Any) -> Any:
        # Outermost: every answer counts, the guard's 401/413/429 too. The label is the
        # route's template (no id from the path), "unmatched" for unknown paths.
        started = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            route = _route_template(request)
            metrics.requests.labels(request.method, route, str(status)).inc()
            if status == 503:  # the API answers 503 only for a store fault
                metrics.store_faults.inc()
            metrics.latency.labels(route).observe(time.perf_counter() - started)

    error_handlers.install(app)

    @app.get(
        "/healthz",
        tags=["health"],
        summary="Liveness and event store connectivity",
        response_model=Health,
        responses={503: {"model": Health, "description": "The event store is unreachable."}},
    )
    def healthz(engine: EngineDep) -> Any:
        # Says ok / not ok only. The log says what kind of failure; a server driver's
        # message is left out (it names host, port, role and database), SQLite's kept.
        try:
            with engine.connect() as conn:
                conn.execute(select(workspaces.c.id).limit(1)).all()
        except Exception as exc:
            origin = getattr(exc, "orig", None) or exc
            code = getattr(origin, "pgcode", None) or getattr(origin, "sqlite_errorname", None)
            why = f"{type(origin).__name__}" + (f" ({code})" if code else "")
            if type(origin).__module__.startswith("sqlite3"):
                why += f": {str(origin).splitlines()[0][:200]}"
            log.warning("health check failed: %s", why)
            return JSONResponse({"status": "not ok"}, status_code=503)
        return Health(status="ok")

    @app.get(
        "/metrics",
        tags=["health"],
        summary="Prometheus metrics of this API process",
        response_class=PlainTextResponse,
        description="Requests by route template and status, ingested and rejected "
        "events, store faults (text exposition format). The pipeline's metrics are "
        "served by `eventsync metrics serve`.",
    )
    def prometheus_metrics() -> Any:
        return PlainTextResponse(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.include_router(events_router)
    app.include_router(privacy_router)
    app.include_router(syncs_router)
    mount_console(app, lambda: engine_of(app))
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


app = create_app()

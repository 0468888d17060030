"""The HTTP API: `create_app()` assembles the routers (`uvicorn eventsync.api:app`)."""

from eventsync.api.app import app, create_app

__all__ = ["app", "create_app"]

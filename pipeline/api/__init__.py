"""The HTTP API: `create_app()` assembles the routers (`uvicorn pipeline.api:app`)."""

from pipeline.api.app import app, create_app

__all__ = ["app", "create_app"]

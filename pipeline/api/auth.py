"""Dependencies shared by the API's routers: the event store engine and the caller's
workspace, authenticated by `Authorization: Bearer <workspace API key>`.

Keys are never logged: uvicorn's access log carries method, path and status only, and
the 401 messages do not echo what was sent.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine

from pipeline.workspaces import authenticate
from resources.store import default_engine

# auto_error=False: we answer 401 (not 403) with our own message when the header is
# missing; the scheme still shows up in OpenAPI so /docs has an "Authorize" button.
_bearer = HTTPBearer(auto_error=False, description="A workspace API key: esk_<id>_<secret>")


def get_engine(request: Request) -> Engine:
    """The app's engine, or the configured store (EVENTSYNC_DATABASE_URL) on first use."""
    engine = getattr(request.app.state, "engine", None)
    if engine is None:
        engine = default_engine()
        request.app.state.engine = engine
    return engine


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail=message,
        headers={"WWW-Authenticate": "Bearer"},
    )


def current_workspace(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    engine: Annotated[Engine, Depends(get_engine)],
) -> str:
    """The id of the workspace whose API key the caller presented; 401 otherwise."""
    if credentials is None or not credentials.credentials:
        raise _unauthorized("missing API key: send 'Authorization: Bearer <workspace API key>'")
    workspace_id = authenticate(engine, credentials.credentials.strip())
    if workspace_id is None:
        raise _unauthorized("invalid or revoked API key")
    return workspace_id


EngineDep = Annotated[Engine, Depends(get_engine)]
WorkspaceDep = Annotated[str, Depends(current_workspace)]

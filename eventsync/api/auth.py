"""Who is calling and what they may do: the key verified by eventsync/api/guard.py
(before the body was read) and the scope each endpoint requires.

Keys are never logged: uvicorn's access log carries method, path and status only, and
the 401 messages do not echo what was sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine

from eventsync import access
from eventsync.api.error_handlers import MissingScope, Unauthorized
from eventsync.api.guard import KEY_SCOPE, engine_of
from eventsync.keys import KeyInfo

# auto_error=False: the guard answers 401 itself; the scheme is declared so OpenAPI
# marks every /v1 endpoint as authenticated and /docs has an "Authorize" button.
_bearer = HTTPBearer(auto_error=False, description="A workspace API key: esk_<id>_<secret>")


def get_engine(request: Request) -> Engine:
    """The app's engine, or the configured store (EVENTSYNC_DATABASE_URL) on first use."""
    return engine_of(request.app)


@dataclass(frozen=True)
class Caller:
    workspace_id: str
    key_id: str

    @property
    def actor(self) -> str:
        """How the audit log names this caller (the key's public id, never the key)."""
        return f"key:{self.key_id}"


def require(scope: str) -> Any:
    """A dependency: the caller, when its key has `scope` (else 403 naming it)."""

    def caller(
        request: Request,
        _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Caller:
        info: KeyInfo | None = request.scope.get(KEY_SCOPE)
        if info is None:
            raise Unauthorized("missing API key: send 'Authorization: Bearer <workspace API key>'")
        if not access.allows(info.scopes, scope):  # the console's roles use the same table
            raise MissingScope(scope)
        return Caller(info.workspace_id, info.key_id)

    return Depends(caller)


EngineDep = Annotated[Engine, Depends(get_engine)]
EventsWriter = Annotated[Caller, require("events:write")]
PrivacyWriter = Annotated[Caller, require("privacy:write")]
PrivacyReader = Annotated[Caller, require("privacy:read")]
SyncsReader = Annotated[Caller, require("syncs:read")]
SyncsWriter = Annotated[Caller, require("syncs:write")]

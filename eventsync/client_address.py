"""The client's address, one rule for the API and the console: the socket's, or the
one in X-Forwarded-For when the socket is a trusted proxy (EVENTSYNC_TRUSTED_PROXIES).

The app's outermost middleware (uvicorn's ProxyHeadersMiddleware, given
`trusted_proxies()`) rewrites the ASGI scope's `client` before anything else runs, so
`of_scope` reads what it left; `eventsync api` runs uvicorn with its own proxy-header
handling off, so nothing else believes the header.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eventsync import settings


def trusted_proxies() -> list[str]:
    """Addresses or networks whose X-Forwarded-For is believed (none by default)."""
    return settings.load().proxies


def of_scope(scope: Mapping[str, Any]) -> str:
    """The client's address of an ASGI scope (after the proxy-header middleware)."""
    client = scope.get("client")
    return client[0] if client else "unknown"

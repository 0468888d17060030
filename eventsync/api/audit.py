"""Every API request that changed something goes into the general audit log
(eventsync/audit.py): a POST/PUT/PATCH/DELETE under /v1/ by a verified key that was
answered 2xx. The row names the key (`key:<id>`, never the key), the route
(`api.POST /v1/privacy/erasures`), the object it made or changed (the answer's
top-level `id`), the answer's top-level counts (e.g. `accepted`, `rejected`) and the
client's address. Nothing from the request body: no subject ids, no events.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from anyio import to_thread
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from eventsync import audit
from eventsync.api.guard import KEY_SCOPE, PROTECTED_PREFIX, engine_of

log = logging.getLogger("eventsync.api")
CHANGING = ("POST", "PUT", "PATCH", "DELETE")
MAX_CAPTURE = 64 * 1024  # answers read for their id and counts (a request's own answer)


def _summary(body: bytes) -> tuple[str | None, dict[str, Any]]:
    """(the answer's `id`, its top-level integer fields)."""
    try:
        data = json.loads(body)
    except ValueError:
        return None, {}
    if not isinstance(data, dict):
        return None, {}
    target = data.get("id") if isinstance(data.get("id"), str) else None
    counts = {k: v for k, v in data.items() if isinstance(v, int) and not isinstance(v, bool)}
    return target, dict(list(counts.items())[:10])


class AuditChanges:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in CHANGING
            or not scope["path"].startswith(PROTECTED_PREFIX)
        ):
            await self.app(scope, receive, send)
            return
        seen: dict[str, Any] = {"status": 0, "body": b""}

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
            elif message["type"] == "http.response.body" and len(seen["body"]) < MAX_CAPTURE:
                seen["body"] += message.get("body", b"")
            await send(message)

        await self.app(scope, receive, watch)
        info = scope.get(KEY_SCOPE)
        if info is None or not 200 <= seen["status"] < 300:
            return
        route = scope.get("route")
        path = getattr(route, "path", None) or scope["path"]
        target, counts = _summary(seen["body"])
        client = scope.get("client")
        try:
            await to_thread.run_sync(
                lambda: audit.record(
                    engine_of(scope["app"]),
                    info.workspace_id,
                    "api",
                    f"key:{info.key_id}",
                    f"api.{scope['method']} {path}",
                    target=target,
                    client_address=client[0] if client else None,
                    detail={"status": seen["status"], **counts},
                )
            )
        except Exception as exc:  # the change is made and answered; say the row is missing
            log.error(
                "audit: could not record %s %s: %s", scope["method"], path, type(exc).__name__
            )

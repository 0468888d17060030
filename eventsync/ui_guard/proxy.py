"""The UI guard's ASGI app: the three refusals, then a streaming HTTP and websocket
proxy to the webserver (httpx, websockets)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import anyio
import httpx
import websockets
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

log = logging.getLogger("eventsync.ui_guard")
HOP_BY_HOP = {
    b"connection",
    b"keep-alive",
    b"proxy-authenticate",
    b"proxy-authorization",
    b"te",
    b"trailer",
    b"transfer-encoding",
    b"upgrade",
    b"host",
}


@dataclass(frozen=True)
class GuardRules:
    """The names (`host[:port]`) the UI is served under; its origins follow from them."""

    hosts: frozenset[str]

    @classmethod
    def for_listen(cls, host: str, port: int, extra: list[str] | None = None) -> GuardRules:
        names = {f"{host}:{port}", f"localhost:{port}", f"127.0.0.1:{port}"}
        return cls(frozenset(names | set(extra or [])))

    def origins(self) -> set[str]:
        return {f"{scheme}://{h}" for h in self.hosts for scheme in ("http", "https")}

    def refusal(self, scope: Scope) -> tuple[int, str] | None:
        headers = {k.lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = headers.get(b"host", "")
        if host not in self.hosts:
            return 421, "this UI is not served under that host name"
        origin = headers.get(b"origin")
        if origin is not None and origin not in self.origins():
            return 403, "requests from another site's pages are refused"
        if (
            scope["type"] == "http"
            and scope["method"] in ("GET", "HEAD")
            and scope["path"].rstrip("/") == "/graphql"
            and "query" in parse_qs(scope.get("query_string", b"").decode("latin-1"))
        ):
            return 405, "GraphQL over GET is refused: POST it"
        return None


def create_app(upstream: str, rules: GuardRules) -> Any:
    """The guard for the webserver at `upstream` (`host:port`)."""
    client = httpx.AsyncClient(base_url=f"http://{upstream}", timeout=httpx.Timeout(60, read=3600))

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await client.aclose()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        refused = rules.refusal(scope)
        if refused is not None:
            status, detail = refused
            log.warning(
                "ui guard refused %s %s: %s", scope.get("method", "WS"), scope["path"], detail
            )
            if scope["type"] == "websocket":
                await receive()  # websocket.connect
                await send({"type": "websocket.close", "code": 1008})
                return
            await JSONResponse({"detail": detail}, status_code=status)(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await _websocket(upstream, scope, receive, send)
        else:
            await _http(client, scope, receive, send)

    return app


def _forwarded_headers(scope: Scope) -> list[tuple[bytes, bytes]]:
    return [(k, v) for k, v in scope.get("headers", []) if k.lower() not in HOP_BY_HOP]


async def _http(client: httpx.AsyncClient, scope: Scope, receive: Receive, send: Send) -> None:
    async def body() -> Any:
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return
            yield message.get("body", b"")
            if not message.get("more_body", False):
                return

    path = scope.get("raw_path") or scope["path"].encode()
    query = scope.get("query_string", b"")
    url = path.decode("latin-1") + (("?" + query.decode("latin-1")) if query else "")
    request = client.build_request(
        scope["method"], url, headers=_forwarded_headers(scope), content=body()
    )
    try:
        response = await client.send(request, stream=True)
    except httpx.TransportError as exc:
        await JSONResponse({"detail": f"the Dagster UI is not answering ({type(exc).__name__})"},
                           status_code=502)(scope, receive, send)  # fmt: skip
        return
    try:
        headers = [(k, v) for k, v in response.headers.raw if k.lower() not in HOP_BY_HOP]
        await send(
            {"type": "http.response.start", "status": response.status_code, "headers": headers}
        )
        async for chunk in response.aiter_raw():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        await response.aclose()


async def _websocket(upstream: str, scope: Scope, receive: Receive, send: Send) -> None:
    await receive()  # websocket.connect
    path = scope.get("raw_path") or scope["path"].encode()
    query = scope.get("query_string", b"")
    url = f"ws://{upstream}{path.decode('latin-1')}" + (("?" + query.decode()) if query else "")
    skip = HOP_BY_HOP | {b"origin", b"sec-websocket-key", b"sec-websocket-version",
                         b"sec-websocket-extensions", b"sec-websocket-protocol"}  # fmt: skip
    extra = [
        (k.decode(), v.decode("latin-1")) for k, v in scope["headers"] if k.lower() not in skip
    ]
    try:
        up = await websockets.connect(
            url, subprotocols=scope.get("subprotocols") or None, additional_headers=extra,
            max_size=None, open_timeout=10,
        )  # fmt: skip
    except (OSError, websockets.WebSocketException):
        await send({"type": "websocket.close", "code": 1011})
        return
    await send({"type": "websocket.accept", "subprotocol": up.subprotocol})
    async with anyio.create_task_group() as tg:

        async def from_browser() -> None:
            while True:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    await up.close()
                    tg.cancel_scope.cancel()
                    return
                data = message.get("text")
                await up.send(data if data is not None else message.get("bytes", b""))

        async def from_ui() -> None:
            try:
                async for data in up:
                    key = "text" if isinstance(data, str) else "bytes"
                    await send({"type": "websocket.send", key: data})
            except websockets.ConnectionClosed:
                pass
            await send({"type": "websocket.close", "code": 1000})
            tg.cancel_scope.cancel()

        tg.start_soon(from_browser)
        tg.start_soon(from_ui)

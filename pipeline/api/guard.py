"""The API's front door, a pure ASGI middleware that runs before any body is read:

1. **Body limit**: a Content-Length over the limit is answered 413 at once; a body
   streamed without one is counted and answered 413 as soon as it passes the limit.
   The rest is never read (the server closes the connection).
2. **Authentication** of `/v1/...` from the headers alone, before the body is read or
   parsed: a key verified within seconds costs no database read; any other costs one
   lookup and at most one slow hash, and only while the client address has not failed
   too often (else 429 + Retry-After, without hashing, after a short delay, closing
   the connection).
3. **Invalid UTF-8** in a JSON body becomes lone surrogates (surrogateescape), so the
   ingestion rules refuse just the events that hold it, with a reason, instead of the
   whole request failing to parse.

4. **Rate limits per key** (ingestion, privacy requests), also before the body.

The verified key goes into the ASGI scope (`KEY_SCOPE`) for pipeline/api/auth.py.
"""

from __future__ import annotations

from typing import Any

import anyio
from anyio import to_thread
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pipeline.api.errors import error_response
from pipeline.api.ratelimit import RateLimited, TokenBucket, limiter
from pipeline.workspaces import cached_key, verify_key
from resources import settings
from resources.store import default_engine

KEY_SCOPE = "eventsync.api_key"
PROTECTED_PREFIX = "/v1/"
EVENTS_PATH = "/v1/events"
BLOCKED_DELAY_SECONDS = 0.5  # before a 429 to an address over its failed-auth budget


class _TooLarge(Exception):
    pass


def engine_of(app: Any) -> Any:
    """The app's engine, or the configured store (EVENTSYNC_DATABASE_URL) on first use."""
    engine = getattr(app.state, "engine", None)
    if engine is None:
        engine = default_engine()
        app.state.engine = engine
    return engine


def failure_limiter(app: Any) -> TokenBucket:
    return limiter(
        app,
        "auth_failure_limiter",
        lambda: TokenBucket(settings.auth_failure_rate_per_minute(), settings.auth_failure_burst()),
    )


# Per-key limits: (limiter name, path test, rate per minute, burst, what it counts).
_KEY_LIMITS = (
    (
        "ingest_rate_limiter",
        lambda path: path == EVENTS_PATH,
        settings.ingest_rate_per_minute,
        settings.ingest_burst,
        "event batches for this API key",
    ),
    (
        "privacy_rate_limiter",
        lambda path: path.startswith("/v1/privacy/"),
        settings.privacy_rate_per_minute,
        settings.privacy_burst,
        "privacy requests for this API key",
    ),
)


def _key_limit(app: Any, path: str) -> tuple[TokenBucket, str] | None:
    """The per-key limiter of this path and what it counts, or None."""
    for name, applies, rate, burst, what in _KEY_LIMITS:
        if applies(path):
            return limiter(app, name, lambda r=rate, b=burst: TokenBucket(r(), b())), what
    return None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _bearer(scope: Scope) -> str | None:
    value = _header(scope, b"authorization")
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _utf8_or_escaped(body: bytes) -> bytes:
    """`body` when it is UTF-8; else its invalid bytes as lone surrogates, encoded so
    that json.loads (which decodes bytes with surrogatepass) yields them in strings."""
    try:
        body.decode("utf-8")
        return body
    except UnicodeDecodeError:
        return body.decode("utf-8", "surrogateescape").encode("utf-8", "surrogatepass")


class Guard:
    def __init__(self, app: ASGIApp, events_limit: int, default_limit: int) -> None:
        self.app = app
        self.events_limit = events_limit
        self.default_limit = default_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        limit = self.events_limit if path == EVENTS_PATH else self.default_limit
        length = _header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            await self._too_large(scope, receive, send, limit)
            return
        if path.startswith(PROTECTED_PREFIX):
            refusal = await self._authenticate(scope)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self._call_with_limit(scope, receive, send, limit)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        detail = f"request body larger than {limit} bytes; send smaller batches"
        await error_response(413, detail, {"Connection": "close"})(scope, receive, send)

    async def _authenticate(self, scope: Scope) -> Any:
        """None when the request may go on (the key is in the scope), else the response."""
        app = scope["app"]
        plaintext = _bearer(scope)
        if plaintext is None:
            return error_response(
                401,
                "missing API key: send 'Authorization: Bearer <workspace API key>'",
                {"WWW-Authenticate": "Bearer"},
            )
        engine = engine_of(app)
        info, needs_slow_hash = cached_key(engine, plaintext)
        if info is None and not needs_slow_hash:  # verified before: re-read its row only
            info, reason = await to_thread.run_sync(verify_key, engine, plaintext)
            if info is None:
                return error_response(401, reason, {"WWW-Authenticate": "Bearer"})
        if info is None:
            # A slow verification takes a token of the address's failure budget first
            # (so concurrent attempts cannot overrun it) and gives it back on success.
            client = (scope.get("client") or ("unknown", 0))[0]
            limiter = failure_limiter(app)
            wait = limiter.take(client)
            if wait > 0:
                # Answered slowly and the connection closed: a client that retries as
                # fast as it can then sends a few requests a second, not thousands.
                await anyio.sleep(BLOCKED_DELAY_SECONDS)
                limited = RateLimited("failed authentications from this address", wait)
                headers = {"Retry-After": str(limited.retry_after), "Connection": "close"}
                return error_response(429, str(limited), headers)
            info, reason = await to_thread.run_sync(verify_key, engine, plaintext)
            if info is None:
                return error_response(401, reason, {"WWW-Authenticate": "Bearer"})
            limiter.refund(client)
        scope[KEY_SCOPE] = info
        bucket = _key_limit(app, scope["path"])
        if bucket is not None:
            wait = bucket[0].take(info.key_id)
            if wait > 0:
                limited = RateLimited(bucket[1], wait)
                return error_response(429, str(limited), {"Retry-After": str(limited.retry_after)})
        return None

    async def _call_with_limit(
        self, scope: Scope, receive: Receive, send: Send, limit: int
    ) -> None:
        state = {"too_large": False, "sent_413": False, "total": 0}
        is_json = "json" in (_header(scope, b"content-type") or "").lower()

        async def limited_receive() -> Message:
            chunks: list[bytes] = []
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return message
                chunk = message.get("body", b"")
                state["total"] += len(chunk)
                if state["total"] > limit:
                    state["too_large"] = True
                    raise _TooLarge
                if not is_json:
                    return message
                chunks.append(chunk)
                if not message.get("more_body", False):
                    body = _utf8_or_escaped(b"".join(chunks))
                    return {"type": "http.request", "body": body, "more_body": False}

        async def guarded_send(message: Message) -> None:
            if not state["too_large"]:
                await send(message)
                return
            if message["type"] == "http.response.start" and not state["sent_413"]:
                state["sent_413"] = True
                await self._too_large(scope, receive, send, limit)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _TooLarge:
            if not state["sent_413"]:
                state["sent_413"] = True
                await self._too_large(scope, receive, send, limit)

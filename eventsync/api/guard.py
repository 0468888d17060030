"""The API's front door, a pure ASGI middleware that runs before any body is read:

1. **Body limit**: a Content-Length over the limit is answered 413 at once; a body
   streamed without one is counted and answered 413 as soon as it passes the limit.
   No request body is read past the limit, whatever the answer.
   **Lingering read**: an answer given before the body was read (401, 413, 429, 404 ...)
   carries `Connection: close`, and before the connection closes the rest of the body
   is read and dropped, for at most LINGER_SECONDS: a chunked body up to the limit, a
   declared length up to twice the limit. A client
   that sends its whole body before reading (urllib, requests, httpx, Node's fetch)
   then reads the status instead of "connection reset" (which SDKs retry, body and
   all); a body far over the limit still sees the connection closed.
2. **Authentication** of `/v1/...` from the headers alone, before the body is read or
   parsed: a key verified within seconds costs no database read; any other costs one
   lookup and at most one slow hash, and only while the client address has not failed
   too often with that key id (else 429 + Retry-After, without hashing, after a short delay, closing
   the connection). When the event store cannot be read, 503 + Retry-After.
3. **Invalid UTF-8** in a JSON body becomes lone surrogates (surrogateescape), so the
   ingestion rules refuse just the events that hold it, with a reason, instead of the
   whole request failing to parse.

4. **Rate limits per key** (ingestion, privacy requests), also before the body.
5. **Per workspace, for `POST /v1/events`**: lanes (its requests beyond
   EVENTSYNC_INGEST_LANES wait, unread, for one to free up: eventsync/api/lanes.py),
   then a metered bucket of body bytes (EVENTSYNC_INGEST_BYTES_RATE; the declared
   Content-Length, or what was read when none was declared), so that one workspace's
   large writes cannot take the process from the others.

The verified key goes into the ASGI scope (`KEY_SCOPE`) for eventsync/api/auth.py.
"""

from __future__ import annotations

from typing import Any

import anyio
from anyio import to_thread
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from eventsync import settings
from eventsync.api.error_handlers import error_response, misconfigured, store_unavailable
from eventsync.api.lanes import Lanes
from eventsync.api.ratelimit import Bucket, RateLimited, bucket, limiter
from eventsync.client_address import of_scope
from eventsync.keys import split_key
from eventsync.settings import SettingsError
from eventsync.store.connection import default_engine
from eventsync.store.faults import is_store_fault, unavailable
from eventsync.workspaces import cached_key, key_id_exists, verify_key

KEY_SCOPE = "eventsync.api_key"
PROTECTED_PREFIX = "/v1/"
EVENTS_PATH = "/v1/events"
BLOCKED_DELAY_SECONDS = 0.5  # before a 429 to an address over its failed-auth budget
LINGER_SECONDS = 5.0  # the longest a refused request's unread body is drained


class _TooLarge(Exception):
    pass


def engine_of(app: Any) -> Any:
    """The app's engine, or the configured store (EVENTSYNC_DATABASE_URL) on first use."""
    engine = getattr(app.state, "engine", None)
    if engine is None:
        engine = default_engine()
        app.state.engine = engine
    return engine


def lanes_of(app: Any) -> Lanes:
    """The app's ingestion lanes (eventsync/api/lanes.py), made on first use."""
    lanes = getattr(app.state, "ingest_lanes", None)
    if lanes is None:
        config = settings.load()
        lanes = Lanes(config.ingest_lanes, config.ingest_lane_wait_seconds)
        app.state.ingest_lanes = lanes
    return lanes


def bytes_limiter(app: Any) -> Bucket | None:
    """The KiB of event batches per workspace (EVENTSYNC_INGEST_BYTES_RATE), or None
    when it is 0; decided on first use, like the other limiters."""
    if not hasattr(app.state, "ingest_bytes_limiter"):
        config = settings.load()
        rate, burst = config.ingest_bytes_rate * 1024, int(config.ingest_bytes_burst * 1024)
        app.state.ingest_bytes_limiter = bucket("ingest_bytes", rate, burst) if rate else None
    return app.state.ingest_bytes_limiter


def failure_limiter(app: Any) -> Bucket:
    return limiter(
        app,
        "auth_failure_limiter",
        lambda: bucket(
            "auth_failure", settings.load().auth_failure_rate, settings.load().auth_failure_burst
        ),
    )


def failure_key(scope: Scope, plaintext: str, exists: bool) -> str:
    """What a failed authentication is counted by. A key naming a real key id: the
    client address and that id, so wrong keys from others behind a shared address (a
    proxy, a NAT) cannot lock out a valid key, while guessing one key's secret is
    limited. A made-up key (no such id, malformed, revoked): the address, for made-up
    keys only, so a flood of them gets 429 without touching any real key's budget."""
    parts = split_key(plaintext)
    return f"{of_scope(scope)}|{parts[0]}" if exists and parts else f"{of_scope(scope)}|?"


# Per-key limits: (limiter name, path test, rate per minute, burst, what it counts).
_KEY_LIMITS = (
    (
        "ingest_rate_limiter",
        lambda path: path == EVENTS_PATH,
        lambda: settings.load().ingest_rate,
        lambda: settings.load().ingest_burst,
        "event batches for this API key",
    ),
    (
        "privacy_rate_limiter",
        lambda path: path.startswith("/v1/privacy/"),
        lambda: settings.load().privacy_rate,
        lambda: settings.load().privacy_burst,
        "privacy requests for this API key",
    ),
)


def _key_limit(app: Any, path: str) -> tuple[Bucket, str] | None:
    """The per-key limiter of this path and what it counts, or None."""
    for name, applies, rate, burst, what in _KEY_LIMITS:
        if applies(path):
            return limiter(app, name, lambda n=name, r=rate, b=burst: bucket(n, r(), b())), what
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


def _has_body(scope: Scope) -> bool:
    length = _header(scope, b"content-length")
    if length is not None:
        return length.strip() not in ("", "0")
    return _header(scope, b"transfer-encoding") is not None


class _Body:
    """How much of the request body has been received, and whether all of it."""

    def __init__(self, scope: Scope, limit: int) -> None:
        self.total = 0
        self.done = not _has_body(scope)
        declared = _header(scope, b"content-length") is not None
        self.drain_limit = 2 * limit if declared else limit
        # Expect: 100-continue: the client waits for our go before sending the body.
        self.expect = _header(scope, b"expect") is not None
        self.linger = False


def _lingering(send: Send, receive: Receive, body: _Body) -> Send:
    """`send` that, when the answer starts before the whole body was received, adds
    `Connection: close` and drains the body (up to `body.drain_limit` bytes in all,
    LINGER_SECONDS) between the answer's last bytes and the end of the response."""

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start" and not body.done:
            body.linger = not body.expect
            headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"connection"]
            message = {**message, "headers": [*headers, (b"connection", b"close")]}
        elif (
            message["type"] == "http.response.body"
            and body.linger
            and not message.get("more_body", False)
        ):
            body.linger = False
            await send({**message, "more_body": True})
            await _drain(receive, body)
            message = {"type": "http.response.body", "body": b"", "more_body": False}
        await send(message)

    return wrapped


async def _drain(receive: Receive, body: _Body) -> None:
    with anyio.move_on_after(LINGER_SECONDS):
        while not body.done and body.total < body.drain_limit:
            message = await receive()
            if message["type"] != "http.request":
                return
            body.total += len(message.get("body", b""))
            body.done = not message.get("more_body", False)


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
        body = _Body(scope, limit)
        send = _lingering(send, receive, body)
        length = _header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            await self._too_large(scope, receive, send, limit)
            return
        if path.startswith(PROTECTED_PREFIX):
            try:
                refusal = await self._authenticate(scope)
            except SettingsError as exc:
                refusal = misconfigured(exc)
            except Exception as exc:
                if not is_store_fault(exc):
                    raise
                refusal = store_unavailable(unavailable(exc))
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        if path == EVENTS_PATH and KEY_SCOPE in scope:
            workspace = scope[KEY_SCOPE].workspace_id
            declared = int(length) if length is not None and length.isdigit() else None
            try:
                async with lanes_of(scope["app"]).hold(workspace):
                    meter = bytes_limiter(scope["app"])
                    if meter is not None:  # a body without Content-Length pays once read
                        wait = meter.spend(workspace, (declared or 0) / 1024)
                        if wait > 0:
                            raise RateLimited("event batch bytes for this workspace", wait)
                    await self._call_with_limit(scope, receive, send, limit, body)
                    if meter is not None and declared is None:
                        meter.debit(workspace, body.total / 1024)
            except RateLimited as limited:  # over its bytes, or waited too long for a lane
                headers = {"Retry-After": str(limited.retry_after)}
                await error_response(429, str(limited), headers)(scope, receive, send)
            return
        await self._call_with_limit(scope, receive, send, limit, body)

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
            exists = await to_thread.run_sync(key_id_exists, engine, plaintext)
            client = failure_key(scope, plaintext, exists)
            limiter = failure_limiter(app)
            wait = limiter.take(client)
            if wait > 0:
                # Answered slowly and the connection closed: a client that retries as
                # fast as it can then sends a few requests a second, not thousands.
                await anyio.sleep(BLOCKED_DELAY_SECONDS)
                what = "with this key id" if exists else "with unknown keys"
                limited = RateLimited(f"failed authentications from this address {what}", wait)
                headers = {"Retry-After": str(limited.retry_after), "Connection": "close"}
                return error_response(429, str(limited), headers)
            try:
                info, reason = await to_thread.run_sync(verify_key, engine, plaintext)
            except Exception:
                limiter.refund(client)  # the store failed, not the authentication
                raise
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
        self, scope: Scope, receive: Receive, send: Send, limit: int, body: _Body
    ) -> None:
        state = {"too_large": False, "sent_413": False}
        is_json = "json" in (_header(scope, b"content-type") or "").lower()

        async def limited_receive() -> Message:
            chunks: list[bytes] = []
            while True:
                if body.total > limit:  # never read past the limit
                    state["too_large"] = True
                    raise _TooLarge
                message = await receive()
                if message["type"] != "http.request":
                    return message
                chunk = message.get("body", b"")
                body.total += len(chunk)
                body.done = not message.get("more_body", False)
                if body.total > limit:
                    state["too_large"] = True
                    raise _TooLarge
                if not is_json:
                    return message
                chunks.append(chunk)
                if not message.get("more_body", False):
                    whole = _utf8_or_escaped(b"".join(chunks))
                    return {"type": "http.request", "body": whole, "more_body": False}

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

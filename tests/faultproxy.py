"""A fault-injecting HTTP proxy for tests: sits on 127.0.0.1 in front of a real
server (moto_server, fake-gcs-server) and, per request, forwards it, answers
503 SlowDown itself, drops the connection before forwarding, or forwards and
then drops the connection so the response is lost (the server did the work).

A *plan* decides per request: ``plan(request) -> action | None`` with action
one of FORWARD, SLOWDOWN, RESET_BEFORE, RESET_AFTER, or an ``int`` status.
A *rewrite* changes a forwarded answer: ``rewrite(request, status, headers, body)
-> (headers, body)`` (a server that reports what another server would, or drops a
header it would have sent).

``down_for(seconds)`` is an outage: the proxy stops listening and drops every open
connection, so clients get "connection refused" as while the server behind it
restarts, then listens again on the same port.
"""

from __future__ import annotations

import contextlib
import http.client
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from tests.fixtures.serving import serve_thread

FORWARD = "forward"
SLOWDOWN = "slowdown"  # 503 with an S3 SlowDown body
RESET_BEFORE = "reset_before"  # close without forwarding
RESET_AFTER = "reset_after"  # forward, then close without answering

HOP_HEADERS = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "expect",
    "proxy-connection",
    "content-length",
}


@dataclass(frozen=True)
class Respond:
    """Answer with this status and body instead of forwarding (an error as the
    real service would send it, e.g. S3's KMS.NotFoundException)."""

    status: int
    body: bytes
    content_type: str = "application/xml"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body_len: int
    index: int  # 0-based count of requests seen by the proxy


@dataclass
class Record:
    method: str
    path: str
    query: dict[str, list[str]]
    action: str
    status: int | None


Plan = Callable[[Request], "str | int | Respond | None"]
Headers = list[tuple[str, str]]
Rewrite = Callable[[Request, int, Headers, bytes], tuple[Headers, bytes]]


def random_faults(
    rate: float, seed: int = 7, actions: tuple[str, ...] = (SLOWDOWN, RESET_BEFORE, RESET_AFTER)
) -> Plan:
    """A share `rate` of requests get a fault, chosen at random (seeded)."""
    rng = random.Random(seed)
    lock = threading.Lock()

    def plan(req: Request) -> str | None:
        with lock:
            if rng.random() < rate:
                return rng.choice(actions)
        return None

    return plan


@dataclass
class FaultProxy:
    upstream: str  # http://127.0.0.1:PORT
    plan: Plan = field(default=lambda req: None)
    rewrite: Rewrite | None = None
    records: list[Record] = field(default_factory=list)

    def __post_init__(self) -> None:
        parts = urlsplit(self.upstream)
        self._up_host, self._up_port = parts.hostname or "127.0.0.1", parts.port or 80
        self._lock = threading.Lock()
        self._count = 0
        self._open: dict[int, socket.socket] = {}  # handler thread -> its client connection
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                with proxy._lock:
                    proxy._open[threading.get_ident()] = self.connection

            def finish(self) -> None:
                with proxy._lock:
                    proxy._open.pop(threading.get_ident(), None)
                with contextlib.suppress(OSError):
                    super().finish()

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    out = bytearray()
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return bytes(out)
                        out += self.rfile.read(size)
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _handle(self) -> None:
                body = self._body()
                split = urlsplit(self.path)
                with proxy._lock:
                    index = proxy._count
                    proxy._count += 1
                req = Request(
                    self.command,
                    split.path,
                    parse_qs(split.query, keep_blank_values=True),
                    {k.lower(): v for k, v in self.headers.items()},
                    len(body),
                    index,
                )
                action = proxy.plan(req) or FORWARD
                status: int | None = None
                try:
                    if action == RESET_BEFORE:
                        self._reset()
                    elif action == SLOWDOWN or isinstance(action, (int, Respond)):
                        if isinstance(action, Respond):
                            reply = action
                        else:
                            reply = Respond(
                                503 if action == SLOWDOWN else int(action),
                                b'<?xml version="1.0" encoding="UTF-8"?><Error>'
                                b"<Code>SlowDown</Code>"
                                b"<Message>Please reduce your request rate.</Message></Error>",
                            )
                        status = reply.status
                        self.send_response(status)
                        self.send_header("Content-Type", reply.content_type)
                        self.send_header("Content-Length", str(len(reply.body)))
                        self.end_headers()
                        if self.command != "HEAD":
                            self.wfile.write(reply.body)
                    else:
                        status, headers, data = proxy._forward(
                            self.command, self.path, self.headers, body
                        )
                        if proxy.rewrite is not None:
                            headers, data = proxy.rewrite(req, status, headers, data)
                        if action == RESET_AFTER:
                            self._reset()
                        else:
                            self.send_response(status)
                            for k, v in headers:
                                if k.lower() not in HOP_HEADERS:
                                    if k.lower() == "location":
                                        v = v.replace(proxy.upstream, proxy.url)
                                    self.send_header(k, v)
                            length = dict((k.lower(), v) for k, v in headers).get("content-length")
                            if self.command != "HEAD" or length is None:
                                length = str(len(data))
                            self.send_header("Content-Length", length)
                            self.end_headers()
                            if self.command != "HEAD":
                                self.wfile.write(data)
                finally:
                    with proxy._lock:
                        proxy.records.append(
                            Record(
                                req.method,
                                req.path,
                                req.query,
                                str(getattr(action, "status", action)),
                                status,
                            )
                        )

            def _reset(self) -> None:
                # SO_LINGER 0: the client sees a connection reset, not a clean close.
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                )
                self.close_connection = True
                self.connection.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = _handle

        self._handler = Handler
        self._listen(0)
        self.url = f"http://127.0.0.1:{self.port}"

    def _listen(self, port: int) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = serve_thread(self._server)

    def _forward(
        self, method: str, path: str, headers: object, body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection(self._up_host, self._up_port, timeout=60)
        try:
            out = {k: v for k, v in headers.items() if k.lower() not in HOP_HEADERS}  # type: ignore[attr-defined]
            out["Content-Length"] = str(len(body))
            conn.request(
                method, path, body=body if body or method in ("PUT", "POST") else None, headers=out
            )
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, resp.getheaders(), data
        finally:
            conn.close()

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def down_for(self, seconds: float) -> threading.Thread:
        """Stop listening and reset every open connection (but the calling handler's, so a
        plan may start the outage and answer its own request), then listen again on the
        same port after `seconds`. Returns the thread that brings the proxy back."""
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            others = [c for t, c in self._open.items() if t != threading.get_ident()]
        for conn in others:
            with contextlib.suppress(OSError):
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01" + b"\x00" * 7)
                conn.close()

        def back() -> None:
            time.sleep(seconds)
            self._listen(self.port)
            self._thread.start()

        thread = threading.Thread(target=back, daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def count(self, action: str) -> int:
        return sum(1 for r in self.records if r.action == action)

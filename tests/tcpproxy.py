"""A TCP proxy for tests: sits on 127.0.0.1 in front of a real server (PostgreSQL) and
can drop every open connection (`cut`), refuse new ones (`refuse`: the port is closed,
so a client gets "connection refused" as from a server that is down) and accept them
again (`accept`), or do it by itself once the clients have sent `cut_after_bytes`.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass, field

from tests.fixtures.ports import free_port


@dataclass
class TcpProxy:
    upstream_host: str
    upstream_port: int
    # Once clients have sent this many bytes in all: cut every connection and refuse.
    cut_after_bytes: int | None = None
    port: int = field(default_factory=free_port)
    sent: int = 0  # bytes from clients to the server, in all
    cuts: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self.accept()

    # --- control -------------------------------------------------------------------
    def accept(self) -> None:
        """Listen (again) on `port`."""
        with self._lock:
            if self._listener is not None:
                return
            listener = socket.socket()
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", self.port))
            listener.listen(64)
            self._listener = listener
        threading.Thread(target=self._accept_loop, args=(listener,), daemon=True).start()

    def refuse(self) -> None:
        """Close the port (new connections are refused) and drop the open ones."""
        with self._lock:
            listener, self._listener = self._listener, None
        if listener is not None:
            _close(listener)
        self.cut()

    def cut(self) -> None:
        """Drop every open connection (both sides see the socket close)."""
        with self._lock:
            sockets, self._sockets = self._sockets, set()
            self.cuts += 1
        for s in sockets:
            _close(s)

    def close(self) -> None:
        self.refuse()

    # --- plumbing ------------------------------------------------------------------
    def _accept_loop(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection((self.upstream_host, self.upstream_port))
            except OSError:
                _close(client)
                continue
            with self._lock:
                if self._listener is not listener:  # refused meanwhile
                    _close(client)
                    _close(server)
                    continue
                self._sockets |= {client, server}
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, upstream: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if upstream and self._count(len(data)):
                    return
                dst.sendall(data)
        except OSError:
            pass
        finally:
            _close(src)
            _close(dst)

    def _count(self, n: int) -> bool:
        """Count bytes sent upstream; True when this crossed `cut_after_bytes` (every
        connection is then dropped and new ones refused)."""
        with self._lock:
            self.sent += n
            crossed = self.cut_after_bytes is not None and self.sent > self.cut_after_bytes
            if crossed:
                self.cut_after_bytes = None
        if crossed:
            self.refuse()
        return crossed


def _close(s: socket.socket) -> None:
    with contextlib.suppress(OSError):
        s.shutdown(socket.SHUT_RDWR)
    s.close()

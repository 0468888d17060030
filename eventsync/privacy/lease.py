"""The lease of a running privacy request: its owner (a Dagster run id, or the CLI's
`cli:<host>:<pid>`) renews it while a step works, so a request whose owner died is
recognisable -- its lease expired -- and is taken over as a new attempt (the request
sensor's `runner.reap`) instead of staying `running` forever. The length is
EVENTSYNC_PRIVACY_LEASE_SECONDS (default 120 s); the owner renews it every quarter of
that. EVENTSYNC_PRIVACY_MAX_ATTEMPTS (default 5) bounds the attempts a take-over makes.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine

from eventsync.privacy import transitions
from eventsync.privacy.request_store import PrivacyRequest
from eventsync.settings import load

log = logging.getLogger(__name__)


def local_owner(prefix: str) -> str:
    """An owner name unique to this process: `<prefix>:<host>:<pid>`."""
    return f"{prefix}:{socket.gethostname()}:{os.getpid()}"


def seconds() -> float:
    return load().privacy_lease_seconds


def max_attempts() -> int:
    return load().privacy_max_attempts


@contextmanager
def heartbeat(engine: Engine, req: PrivacyRequest) -> Iterator[threading.Event]:
    """Renew the lease of `req`'s owner on its attempt in a background thread while the
    block runs. The yielded event is set when the lease was lost (the attempt was taken
    over or ended): the owner's next write is refused anyway, this lets it stop sooner."""
    lost = threading.Event()
    stop = threading.Event()
    length = seconds()

    def beat() -> None:
        while not stop.wait(max(0.2, length / 4)):
            try:
                if not transitions.renew(engine, req, length):
                    lost.set()
                    return
            except Exception as exc:  # a missed beat is retried; the lease has slack for three
                log.warning("privacy request %s: lease renewal failed: %s", req.id, exc)

    thread = threading.Thread(target=beat, name=f"lease-{req.id}", daemon=True)
    thread.start()
    try:
        yield lost
    finally:
        stop.set()
        thread.join(timeout=5)

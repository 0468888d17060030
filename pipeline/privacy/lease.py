"""The lease of a running privacy request: its owner (a Dagster run id, or the CLI's
`cli:<host>:<pid>`) renews it while a step works, so a request whose owner died is
recognisable -- its lease expired -- and can be retried instead of staying `running`
forever. The length is EVENTSYNC_PRIVACY_LEASE_SECONDS (default 120 s); the owner
renews it every quarter of that.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine

from pipeline.privacy import states
from resources.settings import privacy_lease_seconds

log = logging.getLogger(__name__)


def local_owner(prefix: str) -> str:
    """An owner name unique to this process: `<prefix>:<host>:<pid>`."""
    return f"{prefix}:{socket.gethostname()}:{os.getpid()}"


def seconds() -> float:
    return privacy_lease_seconds()


@contextmanager
def heartbeat(engine: Engine, request_id: str, owner: str) -> Iterator[threading.Event]:
    """Renew `owner`'s lease in a background thread while the block runs. The yielded
    event is set when the lease was lost (another owner took the request over)."""
    lost = threading.Event()
    stop = threading.Event()
    length = seconds()

    def beat() -> None:
        while not stop.wait(max(0.2, length / 4)):
            try:
                if not states.renew(engine, request_id, owner, length):
                    lost.set()
                    return
            except Exception as exc:  # a missed beat is retried; the lease has slack for three
                log.warning("privacy request %s: lease renewal failed: %s", request_id, exc)

    thread = threading.Thread(target=beat, name=f"lease-{request_id}", daemon=True)
    thread.start()
    try:
        yield lost
    finally:
        stop.set()
        thread.join(timeout=5)

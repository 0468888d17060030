"""What a step of a privacy request works with: the request as its owner loaded it at
the step's start (one read per step; `request.progress` is the typed progress the step
changes in memory), and `save`, which writes that progress back fenced on the owner's
attempt -- so a step never re-reads the row, and an owner that lost its lease is
stopped at its next save."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from eventsync.privacy import transitions
from eventsync.privacy.opener import Opener, default_opener
from eventsync.privacy.progress import RequestProgress
from eventsync.privacy.request_store import PrivacyRequest
from eventsync.privacy.states import LeaseLost


@dataclass
class StepContext:
    engine: Engine
    request: PrivacyRequest
    actor: str
    opener: Opener = default_opener
    # Set by the lease's heartbeat when a renewal found the request no longer ours.
    lost: threading.Event = field(default_factory=threading.Event)

    @property
    def progress(self) -> RequestProgress:
        return self.request.progress

    def check_lease(self) -> None:
        """Raise LeaseLost when the heartbeat found the attempt taken over: call it
        before work another owner may be doing too (an upload, a rewrite)."""
        if self.lost.is_set():
            raise LeaseLost(
                f"privacy request {self.request.id}: attempt {self.request.attempt} under "
                f"{self.request.lease_owner} was taken over; its lease was lost"
            )

    def save(self, action: str | None = None, detail: dict[str, Any] | None = None) -> None:
        """Write the progress (and audit `action`); LeaseLost when no longer the owner."""
        self.check_lease()
        transitions.save_progress(self.engine, self.request, self.actor, action, detail)

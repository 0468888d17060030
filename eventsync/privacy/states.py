"""The state machine of a privacy request, as types: the kinds, the states and the legal
moves between them, the statuses of a step and of a destination, and why a request
failed. The store keeps the enums' string values. eventsync/privacy/transitions.py makes
each move (one compare-and-set, audited); eventsync/privacy/runner.py alone calls it.

    RECEIVED --claim--> QUEUED --start--> RUNNING --complete--> COMPLETED
        ^                 |                 |  |                    |
        |                 +-------fail------+  +--(an erasure deleted the result)--> ERASED
        |                                   |
        +--take_over / retry ---------------+   lease expired: attempt + 1
        +--retry ------------------------- FAILED <-- fail; take_over with no attempt left
                                              |
                         RUNNING <-reexecute--+   a Dagster re-execution: attempt + 1

Each attempt has a number; a running request also has an owner (a Dagster run id, or
the CLI's `cli:<host>:<pid>`) and a lease its owner renews. A new attempt begins at
`retry`, `take_over` and `reexecute` (NEW_ATTEMPT_FROM) -- never in place -- so anything
the old attempt's owner still does is fenced off by the attempt number. A take-over
happens by itself once the owner's lease expired, at most EVENTSYNC_PRIVACY_MAX_ATTEMPTS
attempts in all; a retry is asked for (CLI, API) and always allowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from eventsync.errors import EventsyncError


class RequestKind(StrEnum):
    ERASURE = "erasure"
    ACCESS_EXPORT = "access_export"


class RequestStatus(StrEnum):
    RECEIVED = "received"  # stored; the request sensor (or --now) claims it
    QUEUED = "queued"  # claimed for an attempt; its run is launched
    RUNNING = "running"  # an owner holds the attempt's lease
    COMPLETED = "completed"  # every step done (an erasure: verified)
    FAILED = "failed"  # the reason is in `error`; retry starts a new attempt
    ERASED = "erased"  # an access export whose file a later erasure deleted


class StepStatus(StrEnum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class DestinationStatus(StrEnum):
    """Where an erasure stands with one sync's destination."""

    RUNNING = "running"  # its days are being rewritten
    DONE = "done"  # every indexed day rewritten
    FAILED = "failed"  # the error says why; the exports step fails after the others
    TOMBSTONE = "tombstone"  # write-only: a tombstone tells the owner what to clean


class FailureReason(StrEnum):
    """Why an attempt ended without completing (audited with the move)."""

    STEP_FAILED = "step_failed"  # a step raised (the error names it)
    RUN_FAILED = "run_failed"  # the Dagster run failed outside a step (it died, say)
    LEASE_EXPIRED = "lease_expired"  # the owner stopped renewing: taken over
    ATTEMPTS_EXHAUSTED = "attempts_exhausted"  # ... and no attempt was left


S = RequestStatus
TRANSITIONS: dict[RequestStatus, frozenset[RequestStatus]] = {
    S.RECEIVED: frozenset({S.QUEUED}),
    S.QUEUED: frozenset({S.RUNNING, S.FAILED}),
    S.RUNNING: frozenset({S.COMPLETED, S.FAILED, S.RECEIVED, S.ERASED}),
    S.FAILED: frozenset({S.RECEIVED, S.RUNNING}),
    S.COMPLETED: frozenset({S.ERASED}),
    S.ERASED: frozenset(),
}
TERMINAL = frozenset(s for s, targets in TRANSITIONS.items() if not targets)
# A move to one of these begins a new attempt (its number is one more): never in place,
# so whatever the old attempt's owner still does is fenced off by the number.
NEW_ATTEMPT_FROM = {
    S.FAILED: frozenset({S.RECEIVED, S.RUNNING}),
    S.RUNNING: frozenset({S.RECEIVED}),
}


def starts_attempt(source: RequestStatus, target: RequestStatus) -> bool:
    """Does the move source -> target begin a new attempt?"""
    return target in NEW_ATTEMPT_FROM.get(source, frozenset())


class InvalidTransition(EventsyncError):
    """The request is not in a state that allows the action (message says which)."""


class LeaseLost(InvalidTransition):
    """The caller no longer owns the request's current attempt: another attempt or owner
    took it over, or it was failed meanwhile. Whatever the caller does next is refused."""


@dataclass(frozen=True)
class Fence:
    """What a move expects the row to be: every transition is one UPDATE that matches
    the request id and these three, or changes nothing."""

    status: RequestStatus
    attempt: int
    owner: str | None

    def allows(self, target: RequestStatus) -> bool:
        return target in TRANSITIONS[self.status]

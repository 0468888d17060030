"""The steps of an erasure, in order: the one list the runner, the Dagster ops (one op
per step, so the UI shows each) and the docs follow. Each step is idempotent and
recorded in the request's progress; a retried request skips the steps that finished.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eventsync.privacy import erasure, purge, suppressions
from eventsync.privacy.step_context import StepContext
from eventsync.privacy.verification import step_verify

StepFunction = Callable[[StepContext], dict[str, Any]]

STEPS: dict[str, str] = {
    "suppress": "Put the subjects on the suppression list: refused at ingestion, dropped "
    "from every export, from now on.",
    "store": "Delete the subjects' events and profiles from the store.",
    "staging": "Filter the subjects out of staged partitions.",
    "quarantine": "Filter the subjects out of quarantine files.",
    "access_exports": "Delete earlier access-export files of the subjects.",
    "exports": "Rewrite the exported days that held the subjects (or write tombstones).",
    "verify": "Prove the subjects gone: index, store, staging, quarantine, rewritten days.",
}
# Steps that clean what exports (and access exports) write hold the workspace's export
# lock exclusively: no export that read the subjects before the suppression is in flight
# while they run, and none writes them back after (eventsync/store/locks.py).
LOCKED_STEPS = frozenset({"staging", "quarantine", "access_exports", "exports", "verify"})
# Always run, even when an earlier attempt finished it: the proof is of the present.
ALWAYS_RUN = frozenset({"verify"})


def step_suppress(ctx: StepContext) -> dict[str, Any]:
    req = ctx.request
    added = suppressions.add(ctx.engine, req.workspace_id, req.id, req.subjects)
    return {"subjects_suppressed": added}


FUNCTIONS: dict[str, StepFunction] = {
    "suppress": step_suppress,
    "store": lambda ctx: purge.step_store(ctx.engine, ctx.request),
    "staging": lambda ctx: erasure.step_staging(ctx.engine, ctx.request),
    "quarantine": lambda ctx: erasure.step_quarantine(ctx.engine, ctx.request),
    "access_exports": erasure.step_access_exports,
    "exports": erasure.step_exports,
    "verify": step_verify,
}


def erasure_step(step: str) -> StepFunction:
    """The function that runs `step` of an erasure."""
    if step not in FUNCTIONS:
        raise ValueError(f"unknown erasure step {step!r}")
    return FUNCTIONS[step]

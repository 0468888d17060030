"""The steps of an erasure, in order: the one list the runner, the Dagster ops (one op
per step, so the UI shows each) and the docs follow. Each step is idempotent and
recorded in the request's progress; a retried request skips the steps that finished.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine

from pipeline.privacy import erasure, ledger, purge, suppressions
from pipeline.privacy.opener import Opener
from pipeline.privacy.verification import step_verify

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
# while they run, and none writes them back after (resources/locks.py).
LOCKED_STEPS = frozenset({"staging", "quarantine", "access_exports", "exports", "verify"})
# Always run, even when an earlier attempt finished it: the proof is of the present.
ALWAYS_RUN = frozenset({"verify"})


def step_suppress(engine: Engine, req: ledger.PrivacyRequest) -> dict[str, Any]:
    return {"subjects_suppressed": suppressions.add(engine, req.workspace_id, req.id, req.subjects)}


def erasure_step(
    step: str, engine: Engine, opener: Opener
) -> Callable[[ledger.PrivacyRequest], dict[str, Any]]:
    """The function that runs `step` of an erasure."""
    fns: dict[str, Callable[[ledger.PrivacyRequest], dict[str, Any]]] = {
        "suppress": lambda r: step_suppress(engine, r),
        "store": lambda r: purge.step_store(engine, r),
        "staging": lambda r: erasure.step_staging(engine, r),
        "quarantine": lambda r: erasure.step_quarantine(engine, r),
        "access_exports": lambda r: erasure.step_access_exports(engine, r, opener),
        "exports": lambda r: erasure.step_exports(engine, r, opener),
        "verify": lambda r: step_verify(engine, r, opener),
    }
    if step not in fns:
        raise ValueError(f"unknown erasure step {step!r}")
    return fns[step]

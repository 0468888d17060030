"""One export run's verdict per day: a batch of 61 days where one day is bad exports
the other 60 in the same run.

Dagster 1.13 reports a ranged (batched) run's outcome per partition only through
what the step emits: `events_export` materializes each exported day on its own
(`AssetMaterialization(partition=...)`, the asset's output being optional), and a
run that ends in failure marks as failed exactly the planned partitions that were
not materialized -- in the UI's partition status and in the asset backfill, which
subtracts the materialized days of a failed ranged run from its failed set. So the
step goes through every day, collects the failures here, and raises one `Failure`
naming each failed day with its reason at the end.

A destination that fails for good (no such bucket, access denied, bad credentials,
KMS key refused) or for two days in a row is not tried for the remaining days of the
batch: they are failed with "not attempted" and the reason, instead of waiting out
the retries of every day. One failing day between good ones fails alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import dagster as dg

from pipeline.syncs.probe import classify
from resources.destinations.probe import ADVICE

# DestinationError.reason values that no retry within the batch can fix.
PERMANENT_REASONS = {"no_such_bucket", "access_denied", "bad_credentials", "kms_key_refused"}
MAX_CONSECUTIVE_FAILURES = 2
MAX_DESCRIPTION = 3000


def error_text(exc: BaseException) -> str:
    """One line: the classified problem and its fix when the destination layer (or the
    probe's classification) knows it, e.g. `access_denied: DestinationError: ...; fix: ...`."""
    message = " ".join(f"{type(exc).__name__}: {exc}".split())
    problem = classify(exc)
    if problem in ADVICE:
        return f"{problem}: {message}; fix: {ADVICE[problem]}"
    return message


def is_destination_wide(exc: BaseException) -> bool:
    """True when the error says the destination as a whole refuses writes."""
    return classify(exc) in PERMANENT_REASONS


@dataclass
class ExportBatch:
    """Per-day outcomes of one `events_export` step (keys are partition keys)."""

    exported: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    destination_errors: dict[str, str] = field(default_factory=dict)  # sync -> last error
    _streak: dict[str, int] = field(default_factory=dict)
    _given_up: dict[str, str] = field(default_factory=dict)  # sync -> why the rest is skipped

    def blocked(self, key: str, reason: str) -> None:
        """A day the checks refused: not exported; not a destination failure."""
        self.failed[key] = f"blocked: {reason}"

    def export_failed(self, key: str, day: str, sync_id: str, exc: BaseException) -> str:
        """Record a failed write; returns the reason stored for the day."""
        reason = error_text(exc)
        self.failed[key] = reason
        self.destination_errors[sync_id] = reason
        self._streak[sync_id] = self._streak.get(sync_id, 0) + 1
        if is_destination_wide(exc) or self._streak[sync_id] >= MAX_CONSECUTIVE_FAILURES:
            self._given_up[sync_id] = (
                f"not attempted: the destination failed on {day} ({reason[:500]})"
            )
        return reason

    def export_succeeded(self, key: str, sync_id: str) -> None:
        self.exported.append(key)
        self._streak[sync_id] = 0

    def given_up(self, sync_id: str) -> str | None:
        """Why the remaining days of this sync are not attempted, if they are not."""
        return self._given_up.get(sync_id)

    def skipped(self, key: str, reason: str) -> None:
        self.failed[key] = reason

    def failure(self, total: int) -> dg.Failure | None:
        """The step's failure naming every failed day, or None when all were exported."""
        if not self.failed:
            return None
        lines = [f"{key}: {why}" for key, why in sorted(self.failed.items())]
        head = f"{len(self.failed)} of {total} days not exported, {len(self.exported)} exported"
        description = head + "\n" + "\n".join(lines)
        if len(description) > MAX_DESCRIPTION:
            description = description[:MAX_DESCRIPTION] + "\n..."
        return dg.Failure(
            description=description,
            metadata={
                "days_failed": len(self.failed),
                "days_exported": len(self.exported),
                "failed_days": dg.MetadataValue.json(dict(sorted(self.failed.items()))),
            },
            allow_retries=False,
        )

"""The erasure's last step: prove the subjects gone from everything written before the
erasure began, once, with no retry loop that depends on timing.

Why one pass suffices: the subjects went on the suppression list first (nothing of
them is stored after that: eventsync/privacy/suppressions.py), and this step holds the
workspace's export lock exclusive, so no export writes while it reads. It checks, in
order:

1. the subject -> days index lists none of the subjects outside tombstoned
   destinations (a leftover is rewritten once -- under the lock nothing can add one
   back -- and then must be gone);
2. the store: one transaction in the exclusive subject gate deletes any row of the
   subjects and counts zero (eventsync/privacy/purge.py);
3. staging, quarantine and every rewritten day, re-read (erasure.verify_files): no row
   of the subjects, every file as its manifest says, the ledger row as the manifest.

Only then does the request get `verified_at`.
"""

from __future__ import annotations

from typing import Any

from eventsync.clock import now_iso
from eventsync.errors import EventsyncError
from eventsync.privacy.erasure import indexed_days, step_exports, verify_files
from eventsync.privacy.purge import prove_store_clean
from eventsync.privacy.step_context import StepContext


class VerificationFailed(EventsyncError):
    """Re-reading found rows of an erased subject (message says where)."""


def _indexed(ctx: StepContext) -> dict[str, list[str]]:
    skip = set(ctx.progress.tombstoned_syncs())
    return {s: d for s, d in indexed_days(ctx.engine, ctx.request).items() if s not in skip}


def step_verify(ctx: StepContext) -> dict[str, Any]:
    if _indexed(ctx):
        step_exports(ctx)
        left = _indexed(ctx)
        if left:
            days = sum(len(d) for d in left.values())
            raise VerificationFailed(
                f"the exported-days index still lists the subjects on {days} days of "
                f"syncs {', '.join(sorted(left))}"
            )
    purged, counts = prove_store_clean(ctx.engine, ctx.request)
    problems = [f"store: {n} {t} rows" for t, n in counts.items() if n]
    files_read, file_problems = verify_files(ctx)
    problems += file_problems
    if problems:
        raise VerificationFailed("rows of erased subjects remain: " + "; ".join(problems[:20]))
    return {
        "files_read": files_read,
        "store": counts,
        "store_events_purged": purged["events_removed"],
        "store_profiles_purged": purged["user_profiles_removed"]
        + purged["company_profiles_removed"],
        "verified_at": now_iso(),
    }

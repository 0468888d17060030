"""Tombstones: at a destination eventsync may not read, list or delete from, an erasure
writes `_deletions/<request id>.json` naming the subjects and the days (and access-export
files) the owner must clean, and the request says so (`owner_action_required`).
"""

from __future__ import annotations

import json

from eventsync.clock import now_iso
from eventsync.destinations.interface import Destination
from eventsync.engine import layout
from eventsync.privacy.progress import Tombstone
from eventsync.privacy.step_context import StepContext


def owner_instructions() -> str:
    """What the owner of a write-only destination must clean, in the layout the export
    writes (eventsync/engine/layout.py), with placeholders for the listed syncs and days."""
    sync, fmt, day = "<sync_id>", "<format>", "<day>"
    return (
        "eventsync may not read, list or delete at this destination. Delete the rows of "
        "these user/company ids from every file of the listed days: under "
        f"{layout.day_folder(sync, fmt, day)} for each exported format (listed in the "
        f"day's manifest {layout.manifest_key(sync, day)}), and under "
        f"{layout.legacy_day_folder(sync, day)} for days exported before that layout. "
        "Delete the listed access-export files too."
    )


def write_tombstone(
    ctx: StepContext,
    dest: Destination,
    syncs: dict[str, list[str]] | None = None,
    access_exports: list[str] | None = None,
) -> str:
    """Write (or extend) `_deletions/<request id>.json` at a destination we may not read
    or delete from: the days of `syncs` and the `access_exports` keys are merged into
    progress.tombstones[<destination>], which the file then lists in full."""
    req = ctx.request
    where = dest.describe()
    current = ctx.progress.tombstones.setdefault(where, Tombstone())
    for sync_id, days in (syncs or {}).items():
        current.syncs[sync_id] = sorted(set(current.syncs.get(sync_id, [])) | set(days))
    for key in access_exports or []:
        if key not in current.access_exports:
            current.access_exports.append(key)
    ctx.save()
    key = layout.tombstone_key(req.id)
    doc = {
        "request_id": req.id,
        "workspace_id": req.workspace_id,
        "user_ids": req.user_ids,
        "company_ids": req.company_ids,
        "days_by_sync": current.syncs,
        "access_export_files": current.access_exports,
        "written_at": now_iso(),
        "instructions": owner_instructions(),
    }
    dest.put_bytes(
        key, (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode(), "application/json"
    )
    ctx.progress.owner_action_required[where] = (
        f"write-only destination: the owner must clean the files listed in {dest.describe(key)}"
    )
    ctx.save("tombstone_written", {"destination": where, "key": key})
    return dest.describe(key)

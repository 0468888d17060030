"""Tombstones: at a destination eventsync may not read, list or delete from, an erasure
writes `_deletions/<request id>.json` naming the subjects and the days (and access-export
files) the owner must clean, and the request says so (`owner_action_required`).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine

from assets import layout
from pipeline.privacy import ledger
from resources.clock import now_iso
from resources.destinations.base import Destination


def tombstoned_syncs(req: ledger.PrivacyRequest) -> list[str]:
    """Syncs whose destination got a tombstone instead of rewritten files."""
    return [
        s for s, d in req.progress.get("destinations", {}).items() if d.get("status") == "tombstone"
    ]


def write_tombstone(
    engine: Engine, req: ledger.PrivacyRequest, dest: Destination, entry: dict[str, Any]
) -> str:
    """Write (or extend) `_deletions/<request id>.json` at a destination we may not read
    or delete from. `entry` is merged under progress.tombstones[<destination>]."""
    where = dest.describe()
    holder: dict[str, Any] = {}

    def merge(progress: dict[str, Any]) -> None:
        current = progress.setdefault("tombstones", {}).setdefault(
            where, {"syncs": {}, "access_exports": []}
        )
        for sync_id, days in entry.get("syncs", {}).items():
            current["syncs"][sync_id] = sorted(set(current["syncs"].get(sync_id, [])) | set(days))
        for key in entry.get("access_exports", []):
            if key not in current["access_exports"]:
                current["access_exports"].append(key)
        holder.update(current)

    ledger.update_progress(engine, req.id, merge)
    key = layout.tombstone_key(req.id)
    doc = {
        "request_id": req.id,
        "workspace_id": req.workspace_id,
        "user_ids": req.user_ids,
        "company_ids": req.company_ids,
        "days_by_sync": holder["syncs"],
        "access_export_files": holder["access_exports"],
        "written_at": now_iso(),
        "instructions": (
            "eventsync may not read, list or delete at this destination. Delete the rows of "
            "these user/company ids from the files of the listed days (under "
            "<sync_id>/events/date=<day>/) and the listed access-export files."
        ),
    }
    dest.put_bytes(
        key, (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode(), "application/json"
    )
    ledger.update_progress(
        engine,
        req.id,
        lambda p: p.setdefault("owner_action_required", {}).__setitem__(
            where,
            f"write-only destination: the owner must clean the files listed in "
            f"{dest.describe(key)}",
        ),
        "job",
        "tombstone_written",
        {"destination": where, "key": key},
    )
    return dest.describe(key)

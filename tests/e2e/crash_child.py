"""`python -m tests.e2e.crash_child SYNC DAY [POINT]`: stage and export one partition
with the functions the assets call, in a process a test may SIGKILL at any moment --
or that SIGKILLs itself the first time it reaches POINT (eventsync/checkpoints.py, e.g.
`export.uploaded`: between two files). Settings (store, data folder, S3 endpoint and
credentials, multipart sizes) come from the environment, as in a Dagster run."""

from __future__ import annotations

import json
import os
import signal
import sys
from contextlib import nullcontext
from typing import Any

from eventsync import checkpoints
from eventsync.engine.day_export import export_partition
from eventsync.engine.formats import staging_codec
from eventsync.engine.staging import stage_day
from eventsync.privacy.opener import default_opener
from eventsync.settings import database_url
from eventsync.store.connection import default_engine
from eventsync.syncs.config import get_sync


def _kill_at(point: str):  # type: ignore[no-untyped-def]
    def listener(reached: str, **_facts: Any) -> None:
        if reached == point:
            os.kill(os.getpid(), signal.SIGKILL)

    return checkpoints.listening(listener)


def main(sync_id: str, day: str, kill_at: str | None = None) -> None:
    with _kill_at(kill_at) if kill_at else nullcontext():
        _export(sync_id, day)


def _export(sync_id: str, day: str) -> None:
    engine = default_engine()
    sync = get_sync(engine, sync_id)
    stage = stage_day(
        database_url(),
        engine,
        sync.id,
        sync.workspace_id,
        day,
        event_types=sync.event_types,
        codec=staging_codec(sync.formats, sync.compression),
        holder=f"crash-child {os.getpid()}",
    )
    result = export_partition(
        engine,
        stage,
        sync.formats,
        sync.compression,
        default_opener(sync),
        holder=f"crash-child {os.getpid()}",
    )
    summary = {"rows": result.rows, "files": len(result.files), "aborted": result.uploads_aborted}
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:4])

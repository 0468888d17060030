"""`python -m tests.e2e.crash_child SYNC DAY`: stage and export one partition with the
functions the assets call, in a process a test may SIGKILL at any moment. Settings
(store, data folder, S3 endpoint and credentials, multipart sizes) come from the
environment, as in a Dagster run."""

from __future__ import annotations

import json
import os
import sys

from assets.export import export_partition
from assets.formats import staging_codec
from assets.staging import stage_day
from pipeline.privacy.opener import default_opener
from pipeline.syncs.config import get_sync
from resources.settings import database_url
from resources.store import default_engine


def main(sync_id: str, day: str) -> None:
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
    main(sys.argv[1], sys.argv[2])

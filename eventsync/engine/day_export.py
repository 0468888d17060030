"""Write a staged partition to its destination, exactly once.

Keys come from eventsync/engine/layout.py: one folder per format, the day's manifest outside
the data folders, written after every file it lists. Keys are deterministic, so a
retried or re-synced day overwrites its files instead of adding new ones: a reader
that lists a folder never sees two generations, even on write-only credentials.
Files the new manifest does not list (formats the sync no longer writes, other
codecs, days still in the legacy layout) are removed afterwards when the
destination grants list/delete; they are never in the manifest. The export id is
a digest of the content, so the same input gives byte-identical files, manifest
included.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from eventsync import checkpoints
from eventsync.destinations.interface import Destination
from eventsync.engine import export_records, layout, manifest
from eventsync.engine.formats import FORMATS, codec_for, handler
from eventsync.engine.manifest import ManifestFile
from eventsync.engine.staging import StageResult
from eventsync.engine.table_definitions import table_definitions
from eventsync.store import fencing
from eventsync.store.locks import LockLost, default_holder, export_lock, partition_lock


class ExportBlocked(Exception):
    """The partition's validation blocked its export (reason in the message)."""


class CompleteDayExported(Exception):
    """An intraday (partial) export of a day whose complete export is published: it is
    not written (the complete day is never replaced by a part of it)."""


@dataclass
class ExportResult:
    sync_id: str
    day: str
    export_id: str
    rows: int
    quarantined: int
    bytes: int
    files: list[ManifestFile]
    manifest_key: str
    manifest: dict[str, Any]
    stale_removed: list[str]
    stale_cleanup: str  # done | not permitted
    seconds: float
    uploads_aborted: list[str] = field(default_factory=list)  # a killed run's, cleaned up
    manifest_uri: str = ""  # where the manifest is, as the destination names it
    stage: StageResult | None = None  # the staging summary read under the locks


def export_partition(
    engine: Engine,
    stage: StageResult,
    formats: list[str],
    compression: str,
    destination: Destination,
    holder: str = "",
) -> ExportResult:
    """Export one staged partition, crash-safe and fenced at every point:

    1. hold the partition alone (a second run of it fails at once, naming the holder),
       then the workspace's export lock (shared); take the day's next fencing token
       (eventsync/store/fencing.py), and read the staging summary and a snapshot of the
       staged file under the locks: files, manifest, ledger and index all come from it;
    2. write-ahead: the snapshot's subjects join the day's subject index BEFORE any
       file can become visible, so an erasure visits the day whatever moment this
       process dies at (eventsync/engine/rewrite.py then finds files with or without
       manifest);
    3. a re-export marks the day `rewriting` (manifest and ledger) before it replaces
       any file, so a failure midway leaves a day readers skip, not a mix;
    4. abort the unfinished multipart uploads a killed run left under the day's
       folders (where the destination lets us list them);
    5. upload the files -- the locks re-asserted and the token checked before each --
       then publish under the token, in one transaction: the manifest, the ledger row
       and the index narrowed to exactly the exported subjects; then remove stale
       parts (under the token too).

    Raises Fenced or LockLost when another writer took the day; nothing is published
    then."""
    holder = holder or default_holder()
    with (
        partition_lock(engine, stage.sync_id, stage.day, holder),
        # Shared from the write-ahead index to the ledger: no erasure step runs between
        # them (eventsync/store/locks.py says why).
        export_lock(engine, stage.workspace_id),
    ):
        fence = fencing.take(engine, stage.sync_id, stage.day, f"export by {holder}")
        return _DayWriter(engine, stage, formats, compression, destination, fence).run()


class _DayWriter:
    """One fenced export of a day (`export_partition`)."""

    def __init__(
        self,
        engine: Engine,
        stage: StageResult,
        formats: list[str],
        compression: str,
        destination: Destination,
        fence: fencing.Fence,
    ) -> None:
        self.engine, self.formats, self.compression = engine, formats, compression
        self.destination, self.fence = destination, fence
        # The summary as it is now, under the locks (an erasure may have cleaned the
        # staged day since the caller read it).
        self.stage = StageResult.load(stage.sync_id, stage.day)
        self.staged_identity = _identity(Path(self.stage.staged_path))
        if self.stage.blocked_reason:
            raise ExportBlocked(
                f"partition {stage.day}|{stage.sync_id} is blocked by validation: "
                f"{self.stage.blocked_reason}"
            )
        # Under the partition lock: no complete export of the day can land meanwhile.
        if self.stage.partial and export_records.has_complete_export(
            engine, stage.sync_id, stage.day
        ):
            raise CompleteDayExported(
                f"partition {stage.day}|{stage.sync_id}: the complete day is exported; "
                "an intraday export does not replace it"
            )

    def check(self) -> None:
        """Before each upload: still ours (locks re-asserted, token current), and the
        staged file is still the one the snapshot holds (an erasure that ran while a
        lock was lost replaced it)."""
        self.fence.check()
        if _identity(Path(self.stage.staged_path)) != self.staged_identity:
            raise fencing.Fenced(
                f"the staged day {self.fence.where} changed during its export (an erasure "
                "cleaned it): it stops without publishing; the next run exports it"
            )

    def run(self) -> ExportResult:
        started = time.perf_counter()
        stage, sync_id, day = self.stage, self.stage.sync_id, self.stage.day
        checkpoints.reached("export.locked", sync_id=sync_id, day=day)
        with _snapshot(Path(stage.staged_path)) as snapshot:
            subjects = export_records.subjects_of(snapshot)
            self.check()
            self.fence.publish(
                lambda conn: export_records.write_subjects_ahead(conn, sync_id, day, subjects)
            )
            checkpoints.reached("export.indexed", sync_id=sync_id, day=day)
            if export_records.previously_exported(self.engine, sync_id, day):
                self.check()
                self.fence.publish(self._mark_rewriting)
                checkpoints.reached("export.marked", sync_id=sync_id, day=day)
            stale = [
                self.destination.abort_stale_uploads(folder)
                for folder in layout.day_folders(sync_id, day, self.formats)
            ]
            result = export_day(
                stage,
                self.formats,
                self.compression,
                self.destination,
                staged=snapshot,
                before_upload=self.check,
                publish=lambda doc, key: self.fence.publish(
                    lambda conn: self._publish(conn, doc, key, subjects)
                ),
                clean=self._clean,
            )
        result.uploads_aborted = [key for s in stale for key in s.aborted]
        result.stage = stage
        result.seconds = time.perf_counter() - started
        return result

    def _mark_rewriting(self, conn: Connection) -> None:
        stage = self.stage
        doc = manifest.rewriting_marker(stage.sync_id, stage.workspace_id, stage.day)
        export_records.mark_rewriting(conn, stage, self.fence.writer)
        manifest.write(self.destination, layout.manifest_key(stage.sync_id, stage.day), doc)

    def _publish(
        self, conn: Connection, doc: dict[str, Any], key: str, subjects: list[tuple[str, str]]
    ) -> None:
        """Inside the fenced transaction: the ledger row and the index first (the
        store's part, rolled back if the manifest fails), then the manifest, then the
        commit. A drop of the connection after the manifest retries all of it."""
        export_records.write_export(conn, doc, subjects)
        manifest.write(self.destination, key, doc)

    def _clean(self, files: list[ManifestFile]) -> tuple[list[str], str]:
        """Remove stale parts under the token; a day whose token or locks are lost by
        now is complete anyway (its manifest is published): the parts stay, unlisted."""
        try:
            self.fence.check()
            return self.fence.publish(
                lambda _conn: remove_stale(
                    self.destination, self.stage.sync_id, self.stage.day, files
                )
            )
        except (fencing.Fenced, LockLost, DBAPIError) as exc:
            return [], f"skipped: {' '.join(str(exc).split())[:300]}"


def _identity(path: Path) -> tuple[int, int, int] | None:
    """(inode, size, mtime) of a file, None when it is gone."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


@contextmanager
def _snapshot(staged: Path) -> Iterator[Path]:
    """The staged file as it is now, kept by a hard link beside it (same inode, no copy;
    an erasure replaces the staged file with a new one and leaves this one alone), or a
    copy where links are not possible."""
    folder = Path(tempfile.mkdtemp(prefix=".export-", dir=staged.parent))
    path = folder / staged.name
    try:
        try:
            os.link(staged, path)
        except OSError:
            shutil.copyfile(staged, path)
        yield path
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def export_day(
    stage: StageResult,
    formats: list[str],
    compression: str,
    destination: Destination,
    *,
    staged: Path | None = None,
    before_upload: Callable[[], None] | None = None,
    publish: Callable[[dict[str, Any], str], None] | None = None,
    clean: Callable[[list[ManifestFile]], tuple[list[str], str]] | None = None,
) -> ExportResult:
    """Render each format, upload the parts, then the manifest, then remove stale parts
    (files only; `export_partition` adds the locks, the fence, the index, the upload
    clean-up and the ledger through the hooks: `before_upload` runs before each file,
    `publish(doc, key)` writes the manifest, `clean(files)` removes stale parts). The
    rows are the staged file's (`staged`, default the stage's path). Local temporary
    files are removed whatever happens."""
    if stage.blocked_reason:
        raise ExportBlocked(
            f"partition {stage.day}|{stage.sync_id} is blocked by validation: "
            f"{stage.blocked_reason}"
        )
    started = time.perf_counter()
    staged = staged or Path(stage.staged_path)
    rows = pq.read_metadata(staged).num_rows
    files: list[ManifestFile] = []
    with tempfile.TemporaryDirectory(prefix="eventsync-export-") as tmp:
        # An empty day writes no data file (its manifest says 0 rows and lists none):
        # readers pointed at a whole folder never meet an empty file (pyarrow's JSON
        # reader fails on an empty gzip stream, "Empty JSON stream").
        for fmt in formats if rows else []:
            codec = codec_for(fmt, compression)
            key = layout.part_key(stage.sync_id, fmt, stage.day, codec)
            local = Path(tmp) / key.rsplit("/", 1)[1]
            handler(fmt).render(staged, codec, local)
            if before_upload is not None:
                before_upload()
            destination.put_file(key, local, content_type=handler(fmt).content_type)
            files.append(manifest.describe(local, key, fmt, codec, rows))
            local.unlink()
            checkpoints.reached("export.uploaded", sync_id=stage.sync_id, day=stage.day, key=key)
    doc = manifest.document(
        stage.sync_id,
        stage.workspace_id,
        stage.day,
        rows,
        stage.quarantined,
        stage.fingerprint,
        manifest.as_dicts(files),
        filters=stage.filters,
        received_through=stage.received_through,
    )
    manifest_key = layout.manifest_key(stage.sync_id, stage.day)
    if publish is None:
        manifest.write(destination, manifest_key, doc)
    else:
        publish(doc, manifest_key)
    checkpoints.reached("export.published", sync_id=stage.sync_id, day=stage.day)
    if clean is None:
        removed, cleanup = remove_stale(destination, stage.sync_id, stage.day, files)
    else:
        removed, cleanup = clean(files)
    checkpoints.reached("export.cleaned", sync_id=stage.sync_id, day=stage.day)
    return ExportResult(
        sync_id=stage.sync_id,
        day=stage.day,
        export_id=doc["export_id"],
        rows=rows,
        quarantined=stage.quarantined,
        bytes=sum(f.bytes for f in files),
        files=files,
        manifest_key=manifest_key,
        manifest_uri=destination.describe(manifest_key),
        manifest=doc,
        stale_removed=removed,
        stale_cleanup=cleanup,
        seconds=time.perf_counter() - started,
    )


def remove_stale(
    destination: Destination, sync_id: str, day: str, files: list[ManifestFile]
) -> tuple[list[str], str]:
    """Delete files of the day that the new manifest does not list, in every format's
    folder and the legacy one (best effort: a write-only destination keeps them, and
    they are never in the manifest)."""
    keep = {f.key for f in files}
    try:
        stale = [
            key
            for folder in layout.day_folders(sync_id, day, FORMATS)
            for key in destination.list(folder)
            if key not in keep
        ]
        if stale:
            destination.delete(stale)
    except PermissionError:
        return [], "not permitted"
    return stale, "done"


def write_schema_doc(destination: Destination, sync_id: str, formats: list[str]) -> None:
    """`_schema.json` and the table definitions beside it, at the sync's root
    (deterministic content, so rewriting them is a no-op for readers)."""
    for key, body, content_type in table_definitions(destination.uri, sync_id, formats):
        destination.put_bytes(key, body.encode(), content_type=content_type)

"""Local-folder destination: atomic writes (temp file + rename), the embedded default.
Files get the mode the process umask gives (0644 under 022), like any file the user
creates, so the people and tools meant to read the export can."""

from __future__ import annotations

import os
import shutil
import uuid
from datetime import datetime
from pathlib import Path

from eventsync.destinations.interface import (
    Destination,
    DestinationExistsError,
    DestinationURI,
    ObjectWritten,
    StaleUploads,
    Write,
)

TMP_PREFIX = ".tmp-"


class LocalDestination(Destination):
    def __init__(self, uri: DestinationURI) -> None:
        self.uri = uri
        self.root = Path(uri.prefix)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents and path != self.root.resolve():
            raise ValueError(f"key {key!r} escapes the destination folder")
        return path

    def _atomic(self, key: str) -> tuple[Path, Path]:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        # Not mkstemp: it creates 0600 files, and the rename would keep that mode.
        tmp = target.parent / f"{TMP_PREFIX}{uuid.uuid4().hex}-{target.name}"
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        return target, tmp

    def _publish(self, key: str, tmp: Path, target: Path, create_only: bool) -> ObjectWritten:
        if create_only:
            try:
                os.link(tmp, target)  # fails when the target exists: never clobbers
            except FileExistsError as exc:
                raise DestinationExistsError(
                    f"{self.describe(key)} already exists", reason="exists", key=key
                ) from exc
        else:
            os.replace(tmp, target)
        return ObjectWritten(key=key)

    def write_file(self, key: str, path: Path, how: Write) -> ObjectWritten:
        target, tmp = self._atomic(key)
        try:
            shutil.copyfile(path, tmp)
            return self._publish(key, tmp, target, create_only=False)
        finally:
            tmp.unlink(missing_ok=True)

    def write_bytes(self, key: str, data: bytes, how: Write) -> ObjectWritten:
        target, tmp = self._atomic(key)
        try:
            tmp.write_bytes(data)
            return self._publish(key, tmp, target, how.create_only)
        finally:
            tmp.unlink(missing_ok=True)

    def list(self, prefix: str) -> list[str]:
        base = self._path(prefix) if prefix else self.root
        if not base.exists():
            return []
        return sorted(
            p.relative_to(self.root).as_posix()
            for p in base.rglob("*")
            if p.is_file() and not p.name.startswith(TMP_PREFIX)
        )

    def delete(self, keys: list[str]) -> None:
        for key in keys:
            self._path(key).unlink(missing_ok=True)

    def remove_empty_folders(self, prefix: str) -> None:
        """Remove the folders of `prefix` that are empty, deepest first (never the root):
        what the destination probe created and no longer needs."""
        folder = self._path(prefix.rstrip("/"))
        root = self.root.resolve()
        while folder != root and root in folder.parents:
            try:
                folder.rmdir()
            except OSError:  # not empty (or gone): leave it and its parents
                return
            folder = folder.parent

    def get_bytes(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def abort_stale_uploads(
        self, prefix: str, *, initiated_before: datetime | None = None
    ) -> StaleUploads:
        """The local analogue of an unfinished upload: a temp file a killed run left."""
        result = StaleUploads(prefix=prefix, permitted=True)
        base = self._path(prefix) if prefix else self.root
        if not base.exists():
            return result
        cutoff = initiated_before.timestamp() if initiated_before else None
        for tmp in base.rglob(f"{TMP_PREFIX}*"):
            if not tmp.is_file():
                continue
            if cutoff is not None and tmp.stat().st_mtime >= cutoff:
                result.kept += 1
                continue
            tmp.unlink(missing_ok=True)
            result.aborted.append(tmp.relative_to(self.root).as_posix())
        return result

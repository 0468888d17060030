"""Local-folder destination: atomic writes (temp file + rename), the embedded default.
Files get the mode the process umask gives (0644 under 022), like any file the user
creates, so the people and tools meant to read the export can."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from resources.destinations.base import Destination, DestinationURI


class LocalDestination(Destination):
    def __init__(self, uri: DestinationURI) -> None:
        self.uri = uri
        self.root = Path(uri.prefix)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents and path != self.root.resolve():
            raise ValueError(f"key {key!r} escapes the destination folder")
        return path

    def _atomic(self, key: str):  # type: ignore[no-untyped-def]
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        # Not mkstemp: it creates 0600 files, and the rename would keep that mode.
        tmp = target.parent / f".tmp-{uuid.uuid4().hex}-{target.name}"
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        return target, tmp

    def put_file(self, key: str, path: Path, content_type: str | None = None) -> None:
        target, tmp = self._atomic(key)
        try:
            shutil.copyfile(path, tmp)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        target, tmp = self._atomic(key)
        try:
            tmp.write_bytes(data)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)

    def list(self, prefix: str) -> list[str]:
        base = self._path(prefix) if prefix else self.root
        if not base.exists():
            return []
        return sorted(
            p.relative_to(self.root).as_posix()
            for p in base.rglob("*")
            if p.is_file() and not p.name.startswith(".tmp-")
        )

    def delete(self, keys: list[str]) -> None:
        for key in keys:
            self._path(key).unlink(missing_ok=True)

    def get_bytes(self, key: str) -> bytes:
        return self._path(key).read_bytes()

"""The destination interface: local folder, S3 and GCS implement it.

Export needs only ``put_file``/``put_bytes`` (write-only credentials suffice);
``list``/``delete``/``read`` are optional capabilities a destination may grant,
used to remove stale parts and by erasure to rewrite files.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from resources.errors import ConfigError


@dataclass(frozen=True)
class DestinationURI:
    kind: str  # local | s3 | gcs
    bucket: str  # empty for local
    prefix: str  # for local: the absolute folder path

    def __str__(self) -> str:
        if self.kind == "local":
            return f"file://{self.prefix}"
        scheme = "s3" if self.kind == "s3" else "gs"
        return f"{scheme}://{self.bucket}/{self.prefix}".rstrip("/")


def parse_destination(uri: str) -> DestinationURI:
    """Parse a destination: a local path, ``file://``, ``s3://bucket/prefix``, ``gs://...``."""
    if not uri or not uri.strip():
        raise ConfigError("destination", "must not be empty")
    uri = uri.strip()
    parsed = urlparse(uri)
    if parsed.scheme in ("s3", "gs"):
        if not parsed.netloc:
            raise ConfigError("destination", f"{uri!r} has no bucket name")
        prefix = parsed.path.strip("/")
        kind = "s3" if parsed.scheme == "s3" else "gcs"
        return DestinationURI(kind, parsed.netloc, prefix)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise ConfigError("destination", f"file URI must be local, got host {parsed.netloc!r}")
        return DestinationURI("local", "", str(Path(parsed.path).resolve()))
    if not parsed.scheme:
        return DestinationURI("local", "", str(Path(uri).expanduser().resolve()))
    raise ConfigError(
        "destination",
        f"unsupported scheme {parsed.scheme!r} in {uri!r}: use a path, file://, s3:// or gs://",
    )


class DestinationError(Exception):
    """A destination refused an operation; the message names the sync, bucket and cause."""


class Destination(abc.ABC):
    """Keys are relative to the sync's destination prefix, '/'-separated."""

    uri: DestinationURI

    @abc.abstractmethod
    def put_file(self, key: str, path: Path, content_type: str | None = None) -> None: ...

    @abc.abstractmethod
    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None: ...

    # Optional capabilities (write-only destinations raise PermissionError).
    @abc.abstractmethod
    def list(self, prefix: str) -> list[str]: ...

    @abc.abstractmethod
    def delete(self, keys: list[str]) -> None: ...

    @abc.abstractmethod
    def get_bytes(self, key: str) -> bytes: ...

    @property
    def bucket(self) -> str:
        return self.uri.bucket

    def object_key(self, key: str) -> str:
        """The full object name of a key under the destination's prefix (buckets)."""
        key = key.lstrip("/")
        if not key or ".." in key.split("/"):
            raise ValueError(f"invalid destination key {key!r}")
        return f"{self.uri.prefix}/{key}" if self.uri.prefix else key

    def describe(self, key: str = "") -> str:
        """Human-readable location of a key (for messages and status)."""
        base = str(self.uri)
        return f"{base}/{key}" if key else base

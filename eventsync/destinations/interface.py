"""The destination interface: local folder, S3 and GCS implement it.

Export needs only ``put_file``/``put_bytes`` (write-only credentials suffice);
``list``/``delete``/``get_bytes`` are optional capabilities a destination may grant,
used to remove stale parts and by erasure to rewrite files. Every failure is a
:class:`DestinationError` with a ``reason`` from :data:`REASONS`, whatever the
server left out of its answer.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlparse

from eventsync.errors import ConfigError

# Why a destination operation failed: one word the probe, the status and the tests
# read, and the advice `eventsync sync test` gives for it (eventsync/destinations/probe.py).
REASONS = {
    "access_denied": "the credentials lack the permission for this operation",
    "no_such_bucket": "the bucket does not exist",
    "not_found": "the object does not exist",
    "throttled": "the service kept throttling (SlowDown / 429) after every retry",
    "unavailable": "the service kept failing with transient errors after every retry",
    "endpoint_unreachable": "the storage endpoint could not be reached",
    "bad_credentials": "the credentials are missing, unknown, expired or cannot be assumed",
    "kms_key_refused": "the encryption key was refused",
    "encryption_not_applied": "the server stored the object without the configured encryption",
    "exists": "the object already exists (create-only write)",
    "refused": "the service refused the operation",
}

_PROVIDER = {"s3": "S3", "gcs": "GCS", "local": "the local folder"}


def what_happened(kind: str, bucket: str, op: str, where: str, reason: str) -> str:
    """What a failed operation ran into, in words that match its `reason` (an
    unreachable endpoint is not a bucket that "refused" anything)."""
    p = _PROVIDER.get(kind, kind)
    return {
        "endpoint_unreachable": f"could not reach the {p} endpoint to {op} {where}",
        "access_denied": f"{p} denied {op} of {where} (missing permission)",
        "no_such_bucket": f"{p} bucket {bucket!r} does not exist ({op} of {where})",
        "bad_credentials": f"{p} did not accept the credentials for {op} of {where}",
        "kms_key_refused": f"the encryption key was refused for {op} of {where}",
        "throttled": f"{p} kept throttling {op} of {where}",
        "unavailable": f"{p} kept failing {op} of {where} with transient errors",
        "not_found": f"{where} does not exist ({op})",
        "encryption_not_applied": f"{p} stored {where} without the configured encryption",
        "exists": f"{where} already exists ({op})",
    }.get(reason, f"{p} bucket {bucket!r} refused {op} of {where}")


# Object metadata on every object and multipart upload eventsync writes, so an
# unfinished upload can be traced to its sync and export (x-amz-meta-eventsync-*).
META_SYNC = "eventsync-sync"
META_EXPORT = "eventsync-export"


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
    """A destination refused an operation. The message names the sync, the bucket, the
    object and the cause; ``reason`` is one of :data:`REASONS`; ``key`` is the object's
    key under the destination prefix (None when the operation had no single object)."""

    def __init__(
        self,
        message: str,
        *,
        reason: str = "refused",
        sync_id: str | None = None,
        bucket: str | None = None,
        key: str | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason if reason in REASONS else "refused"
        self.sync_id = sync_id
        self.bucket = bucket
        self.key = key


class DestinationPermissionError(DestinationError, PermissionError):
    """An optional capability (list, read, delete) is not granted: callers fall back
    (skip stale-part cleanup, write a tombstone)."""


class DestinationNotFoundError(DestinationError, FileNotFoundError):
    """get_bytes of an object that does not exist."""


class DestinationExistsError(DestinationError, FileExistsError):
    """A create-only write found the object already there."""


@dataclass(frozen=True)
class ObjectWritten:
    """What the server confirmed about one written object: ``key`` is its full name in
    the bucket (local: the relative key); ``encryption`` what the answer reported
    (``AES256``, ``aws:kms``, ``cmek``), ``kms_key`` the key it named; ``verified`` is
    True when that was checked against the sync's setting."""

    key: str
    encryption: str | None = None
    kms_key: str | None = None
    verified: bool = False


@dataclass
class StaleUploads:
    """The result of :meth:`Destination.abort_stale_uploads` for one prefix."""

    prefix: str
    permitted: bool  # False: the credentials may not list unfinished uploads
    aborted: list[str] = field(default_factory=list)  # object keys whose upload was aborted
    kept: int = 0  # uploads started after `initiated_before` (a run still going)
    failed: list[str] = field(default_factory=list)  # "key: error" of aborts that failed
    note: str = ""


@dataclass(frozen=True)
class Write:
    """How one object is written. ``create_only``: never replace an existing object
    (DestinationExistsError); a retry that finds its own earlier write counts as success."""

    content_type: str | None = None
    metadata: Mapping[str, str] | None = None
    create_only: bool = False


class Destination(abc.ABC):
    """Keys are relative to the sync's destination prefix, '/'-separated. Callers use
    ``put_file``/``put_bytes``; an implementation writes in ``write_file``/``write_bytes``."""

    uri: DestinationURI
    sync_id: str = "-"

    def put_file(
        self,
        key: str,
        path: Path,
        content_type: str | None = None,
        *,
        metadata: Mapping[str, str] | None = None,
    ) -> ObjectWritten:
        return self.write_file(key, Path(path), Write(content_type, metadata))

    def put_bytes(
        self,
        key: str,
        data: bytes,
        content_type: str | None = None,
        *,
        create_only: bool = False,
        metadata: Mapping[str, str] | None = None,
    ) -> ObjectWritten:
        return self.write_bytes(key, data, Write(content_type, metadata, create_only))

    @abc.abstractmethod
    def write_file(self, key: str, path: Path, how: Write) -> ObjectWritten: ...

    @abc.abstractmethod
    def write_bytes(self, key: str, data: bytes, how: Write) -> ObjectWritten: ...

    def failure(
        self,
        op: str,
        key: str,
        where: str,
        reason: str,
        cause: str,
        *,
        refused_capability: bool = False,
        missing_object: bool = False,
    ) -> DestinationError:
        """The classified error of a failed operation, naming sync, bucket, object and
        cause in words that match `reason`: a DestinationPermissionError for a refused
        optional capability, a DestinationNotFoundError for an object that is not there."""
        happened = what_happened(self.uri.kind, self.bucket, op, where, reason)
        message = f"sync {self.sync_id}: {happened} ({reason}): {cause}"
        kind: type[DestinationError] = DestinationError
        if refused_capability:
            kind = DestinationPermissionError
        elif missing_object:
            kind, reason = DestinationNotFoundError, "not_found"
        return kind(
            message,
            reason=reason,
            sync_id=self.sync_id,
            bucket=self.bucket,
            key=key or None,
        )

    def already_exists(self, key: str) -> DestinationExistsError:
        """The error of a create-only write that found `key` in the bucket."""
        return DestinationExistsError(
            f"sync {self.sync_id}: {self.describe(key)} already exists",
            reason="exists",
            sync_id=self.sync_id,
            bucket=self.bucket,
            key=key,
        )

    # Optional capabilities (write-only destinations raise DestinationPermissionError).
    @abc.abstractmethod
    def list(self, prefix: str) -> list[str]: ...

    @abc.abstractmethod
    def delete(self, keys: list[str]) -> None: ...

    @abc.abstractmethod
    def get_bytes(self, key: str) -> bytes: ...

    @abc.abstractmethod
    def abort_stale_uploads(
        self, prefix: str, *, initiated_before: datetime | None = None
    ) -> StaleUploads:
        """Abort unfinished uploads under `prefix` (those of a killed run) started before
        `initiated_before` (default: all). Where listing uploads is not permitted the
        result says so (``permitted=False``) instead of raising."""

    @property
    def bucket(self) -> str:
        return self.uri.bucket

    def object_key(self, key: str) -> str:
        """The full object name of a key under the destination's prefix (buckets)."""
        key = key.lstrip("/")
        if not key or ".." in key.split("/"):
            raise ValueError(f"invalid destination key {key!r}")
        return f"{self.uri.prefix}/{key}" if self.uri.prefix else key

    def full_prefix(self, prefix: str) -> str:
        """`prefix` (relative, may be empty) under the destination's prefix."""
        full = "/".join(p for p in (self.uri.prefix, prefix.lstrip("/")) if p)
        if (prefix.endswith("/") or not prefix) and full and not full.endswith("/"):
            full += "/"
        return full

    def relative_key(self, full: str) -> str:
        """The key under the destination's prefix of a full object name."""
        base = f"{self.uri.prefix}/" if self.uri.prefix else ""
        return full[len(base) :] if base and full.startswith(base) else full

    def describe(self, key: str = "") -> str:
        """Human-readable location of a key (for messages and status)."""
        base = str(self.uri)
        return f"{base}/{key}" if key else base

"""Google Cloud Storage destination.

Large files go up as resumable uploads in `chunk_size` pieces; a sync may name
a CMEK key (Cloud KMS) that every object is encrypted with. Create-only writes
use the generation precondition ``if_generation_match=0`` so they never
clobber an existing object. Export needs only storage.objects.create;
list/get/delete raise PermissionError when the role lacks them.

Retries are ours (see retry.py): every client call is made with ``retry=None``.
With a CMEK key configured, the key the server reports on the written object is
checked (reason ``encryption_not_applied`` when it is missing or another key).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from google.api_core import exceptions as gexc

from eventsync.destinations.gcs_errors import GCS_ERRORS, classify, is_transient
from eventsync.destinations.interface import (
    META_SYNC,
    Destination,
    DestinationError,
    DestinationURI,
    ObjectWritten,
    StaleUploads,
    Write,
)
from eventsync.destinations.retry import RetryCounter, RetryPolicy, call_with_retry, tries_of
from eventsync.settings import MiB, defaults

log = logging.getLogger(__name__)

_DEFAULTS = defaults()
DEFAULT_RESUMABLE_THRESHOLD = int(_DEFAULTS.gcs_resumable_threshold_mb * MiB)
DEFAULT_CHUNK_SIZE = int(_DEFAULTS.gcs_chunk_mb * MiB)  # a multiple of 256 KiB, as GCS requires
CHUNK_QUANTUM = 256 * 1024


class GCSDestination(Destination):
    def __init__(
        self,
        uri: DestinationURI,
        client: Any,
        *,
        sync_id: str = "-",
        kms_key_name: str | None = None,
        retry: RetryPolicy | None = None,
        resumable_threshold: int = DEFAULT_RESUMABLE_THRESHOLD,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> None:
        if uri.kind != "gcs":
            raise ValueError(f"GCSDestination needs a gs:// URI, got {uri}")
        if chunk_size <= 0 or chunk_size % CHUNK_QUANTUM:
            raise ValueError(f"chunk_size must be a positive multiple of {CHUNK_QUANTUM} bytes")
        self.uri = uri
        self.client = client
        self.sync_id = sync_id
        self.kms_key_name = kms_key_name
        self.retry = retry or RetryPolicy.from_settings(_DEFAULTS)
        self.resumable_threshold = resumable_threshold
        self.chunk_size = chunk_size
        self._bucket = client.bucket(uri.bucket)
        self.retries = RetryCounter(sync_id, lambda exc: type(exc).__name__)

    def _blob(
        self, key: str, chunk_size: int | None = None, metadata: Mapping[str, str] | None = None
    ) -> Any:
        blob = self._bucket.blob(
            self.object_key(key), chunk_size=chunk_size, kms_key_name=self.kms_key_name
        )
        blob.metadata = {META_SYNC: self.sync_id, **(metadata or {})}
        return blob

    def _error(
        self, op: str, key: str, exc: BaseException, *, optional: bool = False
    ) -> DestinationError:
        where = f"gs://{self.bucket}/{self.object_key(key)}" if key else f"gs://{self.bucket}"
        reason, hint, text = classify(exc, tries_of(exc))
        cause = "; ".join(p for p in (type(exc).__name__, hint, text) if p)
        return self.failure(
            op,
            key,
            where,
            reason,
            cause,
            refused_capability=optional and isinstance(exc, gexc.Forbidden),
            missing_object=op == "get" and isinstance(exc, gexc.NotFound),
        )

    def _call(self, op: str, key: str, fn: Callable[[int], Any], optional: bool = False) -> Any:
        try:
            return call_with_retry(
                fn,
                self.retry,
                is_transient,
                before_sleep=self.retries.hook(op, self.describe(key)),
            )
        except (DestinationError, FileExistsError, FileNotFoundError):
            raise
        except GCS_ERRORS as exc:
            raise self._error(op, key, exc, optional=optional) from exc

    def _unconfirmed(self, key: str) -> ObjectWritten:
        return ObjectWritten(
            key=self.object_key(key),
            encryption="cmek" if self.kms_key_name else "google-managed",
            kms_key=self.kms_key_name,
        )

    def _verified(self, key: str, blob: Any) -> ObjectWritten:
        """With a CMEK key configured, the object the server describes must name it (GCS
        reports the key version: `<key>/cryptoKeyVersions/N`)."""
        full = self.object_key(key)
        reported = getattr(blob, "kms_key_name", None) or None
        if not self.kms_key_name:
            return ObjectWritten(key=full, encryption="google-managed", verified=False)
        if reported and (
            reported == self.kms_key_name or reported.startswith(self.kms_key_name + "/")
        ):
            return ObjectWritten(key=full, encryption="cmek", kms_key=reported, verified=True)
        try:
            self._bucket.blob(full).delete(retry=None)
            tail = "the object was removed"
        except GCS_ERRORS:
            tail = "the object stays in the bucket without the key: remove it"
        raise DestinationError(
            f"sync {self.sync_id}: GCS bucket {self.bucket!r} did not apply the configured "
            f"encryption to gs://{self.bucket}/{full} (encryption_not_applied): asked for CMEK "
            f"key {self.kms_key_name}, the server reported {reported or 'none'}; {tail}",
            reason="encryption_not_applied",
            sync_id=self.sync_id,
            bucket=self.bucket,
            key=key,
        )

    def write_bytes(self, key: str, data: bytes, how: Write) -> ObjectWritten:
        return self._upload(key, how, None, lambda blob, **kw: blob.upload_from_string(data, **kw))

    def write_file(self, key: str, path: Path, how: Write) -> ObjectWritten:
        size = path.stat().st_size
        chunk = self.chunk_size if size >= self.resumable_threshold else None

        def send(blob: Any, **kw: Any) -> None:
            with path.open("rb") as fh:
                # size=None when chunked: the client uses a multipart (single request)
                # upload for any known size up to 8 MiB; we want resumable from our
                # threshold on, so the stream is sent in `chunk_size` pieces.
                blob.upload_from_file(fh, size=None if chunk else size, **kw)

        return self._upload(key, how, chunk, send)

    def _upload(
        self, key: str, how: Write, chunk: int | None, send: Callable[..., None]
    ) -> ObjectWritten:
        """`send(blob, **kw)` uploads once; create-only writes carry the generation
        precondition 0, which on a retry means our own earlier write landed."""

        def put(attempt: int) -> Any:
            # A new blob per attempt: a failed resumable session restarts from byte 0,
            # which is simple and correct (the object appears only when the last chunk lands).
            blob = self._blob(key, chunk_size=chunk, metadata=how.metadata)
            try:
                send(
                    blob,
                    content_type=how.content_type or "application/octet-stream",
                    if_generation_match=0 if how.create_only else None,
                    retry=None,
                )
            except gexc.PreconditionFailed as exc:
                if not how.create_only:
                    raise
                if attempt == 1:
                    raise self.already_exists(key) from exc
                return None  # our earlier attempt landed; its response was lost
            return blob

        blob = self._call("put", key, put)
        if blob is None:
            return self._unconfirmed(key)  # our earlier attempt landed; answer lost
        return self._verified(key, blob)

    def abort_stale_uploads(
        self, prefix: str, *, initiated_before: datetime | None = None
    ) -> StaleUploads:
        """Nothing to abort on GCS: an unfinished resumable upload is never visible, is
        not billed as an object, and its session expires after a week."""
        return StaleUploads(
            prefix=prefix,
            permitted=True,
            note="GCS: unfinished resumable uploads are invisible and expire by themselves",
        )

    def list(self, prefix: str) -> list[str]:
        base = self.uri.prefix
        full_prefix = self.full_prefix(prefix)

        def ls(attempt: int) -> list[str]:
            names = [
                b.name for b in self.client.list_blobs(self.bucket, prefix=full_prefix, retry=None)
            ]
            return sorted(n[len(base) + 1 :] if base else n for n in names)

        return self._call("list", prefix, ls, optional=True)

    def delete(self, keys: list[str]) -> None:
        for key in keys:

            def rm(attempt: int, key: str = key) -> None:
                try:
                    self._bucket.blob(self.object_key(key)).delete(retry=None)
                except gexc.NotFound:
                    # Gone already (or deleted by an earlier attempt whose response was lost);
                    # a missing bucket shows up on put, not here.
                    return

            self._call("delete", key, rm, optional=True)

    def get_bytes(self, key: str) -> bytes:
        def get(attempt: int) -> bytes:
            return bytes(self._bucket.blob(self.object_key(key)).download_as_bytes(retry=None))

        return self._call("get", key, get, optional=True)

"""Google Cloud Storage destination.

Large files go up as resumable uploads in `chunk_size` pieces; a sync may name
a CMEK key (Cloud KMS) that every object is encrypted with. Create-only writes
use the generation precondition ``if_generation_match=0`` so they never
clobber an existing object. Export needs only storage.objects.create;
list/get/delete raise PermissionError when the role lacks them.

Retries are ours (see retry.py): every client call is made with ``retry=None``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from google.api_core import exceptions as gexc
from google.auth.exceptions import TransportError

from resources.destinations.base import Destination, DestinationError, DestinationURI
from resources.destinations.retry import RetryPolicy, call_with_retry

log = logging.getLogger(__name__)

MiB = 1024 * 1024
DEFAULT_RESUMABLE_THRESHOLD = 8 * MiB
DEFAULT_CHUNK_SIZE = 16 * MiB  # a multiple of 256 KiB, as GCS requires
CHUNK_QUANTUM = 256 * 1024

TRANSIENT_TYPES: tuple[type[BaseException], ...] = (
    gexc.TooManyRequests,
    gexc.InternalServerError,
    gexc.BadGateway,
    gexc.ServiceUnavailable,
    gexc.GatewayTimeout,
    gexc.RequestRangeNotSatisfiable,
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
    TransportError,
    ConnectionError,
    TimeoutError,
)


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, TRANSIENT_TYPES):
        return True
    code = getattr(exc, "code", None)
    return isinstance(code, int) and (code >= 500 or code == 429)


def _hint(exc: BaseException) -> str:
    text = str(exc).lower()
    if "kms" in text or "cloudkms" in text:
        return (
            "the CMEK key was refused (check the key name and that the GCS service agent "
            "may use it)"
        )
    if isinstance(exc, gexc.NotFound):
        return "the bucket does not exist"
    if isinstance(exc, gexc.Forbidden):
        return (
            "access denied: the credentials lack the permission for this operation "
            "(see docs/destinations.md for the minimal role)"
        )
    if isinstance(exc, gexc.Unauthorized):
        return "the credentials were rejected"
    if isinstance(exc, (requests.exceptions.ConnectionError, TransportError, ConnectionError)):
        return "endpoint unreachable"
    return ""


def _reason(exc: BaseException) -> str:
    text = str(exc).lower()
    if "kms" in text:
        return "kms_key_refused"
    if isinstance(exc, gexc.NotFound):
        return "no_such_bucket"
    if isinstance(exc, gexc.Forbidden):
        return "access_denied"
    if isinstance(exc, gexc.Unauthorized):
        return "bad_credentials"
    if isinstance(exc, (requests.exceptions.ConnectionError, TransportError, ConnectionError)):
        return "endpoint_unreachable"
    if is_transient(exc):
        return "unavailable"
    return "refused"


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
        self.retry = retry or RetryPolicy()
        self.resumable_threshold = resumable_threshold
        self.chunk_size = chunk_size
        self._bucket = client.bucket(uri.bucket)

    def _blob(self, key: str, chunk_size: int | None = None) -> Any:
        return self._bucket.blob(
            self.object_key(key), chunk_size=chunk_size, kms_key_name=self.kms_key_name
        )

    def _error(self, op: str, key: str, exc: BaseException) -> DestinationError:
        where = f"gs://{self.bucket}/{self.object_key(key)}" if key else f"gs://{self.bucket}"
        hint = _hint(exc)
        if not hint and is_transient(exc):
            hint = f"still failing after {self.retry.max_attempts} attempts"
        message = getattr(exc, "message", None) or str(exc)
        cause = "; ".join(p for p in (type(exc).__name__, hint, message) if p)
        err = DestinationError(
            f"sync {self.sync_id}: GCS bucket {self.bucket!r} refused {op} of {where}: {cause}"
        )
        err.reason = _reason(exc)  # type: ignore[attr-defined]  # read by check_destination
        return err

    def _call(self, op: str, key: str, fn: Callable[[int], Any], optional: bool = False) -> Any:
        try:
            return call_with_retry(fn, self.retry, is_transient)
        except (FileExistsError, FileNotFoundError):
            raise
        except (
            gexc.GoogleAPIError,
            requests.exceptions.RequestException,
            TransportError,
            ConnectionError,
            TimeoutError,
        ) as exc:
            err = self._error(op, key, exc)
            if optional and isinstance(exc, gexc.Forbidden):
                raise PermissionError(str(err)) from exc
            if op == "get" and isinstance(exc, gexc.NotFound):
                raise FileNotFoundError(str(err)) from exc
            raise err from exc

    def _precondition(self, create_only: bool, attempt: int, key: str, exc: BaseException) -> None:
        """if_generation_match=0 failed: on a retry it is our own earlier write."""
        if create_only and isinstance(exc, gexc.PreconditionFailed):
            if attempt > 1:
                return
            raise FileExistsError(
                f"sync {self.sync_id}: {self.describe(key)} already exists"
            ) from exc
        raise exc

    def put_bytes(
        self, key: str, data: bytes, content_type: str | None = None, *, create_only: bool = False
    ) -> None:
        def put(attempt: int) -> None:
            blob = self._blob(key)
            try:
                blob.upload_from_string(
                    data,
                    content_type=content_type or "application/octet-stream",
                    if_generation_match=0 if create_only else None,
                    retry=None,
                )
            except gexc.PreconditionFailed as exc:
                self._precondition(create_only, attempt, key, exc)

        self._call("put", key, put)

    def put_file(
        self, key: str, path: Path, content_type: str | None = None, *, create_only: bool = False
    ) -> None:
        path = Path(path)
        size = path.stat().st_size
        chunk = self.chunk_size if size >= self.resumable_threshold else None

        def put(attempt: int) -> None:
            # A new blob per attempt: a failed resumable session restarts from byte 0,
            # which is simple and correct (the object appears only when the last chunk lands).
            blob = self._blob(key, chunk_size=chunk)
            try:
                with path.open("rb") as fh:
                    # size=None when chunked: the client uses a multipart (single request)
                    # upload for any known size up to 8 MiB; we want resumable from our
                    # threshold on, so the stream is sent in `chunk_size` pieces.
                    blob.upload_from_file(
                        fh,
                        size=None if chunk else size,
                        content_type=content_type or "application/octet-stream",
                        if_generation_match=0 if create_only else None,
                        retry=None,
                    )
            except gexc.PreconditionFailed as exc:
                self._precondition(create_only, attempt, key, exc)

        self._call("put", key, put)

    def list(self, prefix: str) -> list[str]:
        base = self.uri.prefix
        full_prefix = "/".join(p for p in (base, prefix.lstrip("/")) if p)
        if prefix.endswith("/") and not full_prefix.endswith("/"):
            full_prefix += "/"

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

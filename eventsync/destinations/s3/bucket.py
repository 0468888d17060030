"""Amazon S3 (and S3-compatible) destination.

Every object is written with server-side encryption (AES256 by default, or aws:kms
with the sync's key id), and the server's answer is checked: an object the server
stored without that encryption fails the write (reason ``encryption_not_applied``).
Files above the multipart threshold go up in parts (multipart.py). Export needs
only s3:PutObject (+ s3:AbortMultipartUpload); list/get/delete are optional and raise
DestinationPermissionError when the credentials lack them.

Retries are ours (see retry.py): botocore is built with one attempt per call.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from eventsync.destinations.interface import (
    META_SYNC,
    Destination,
    DestinationError,
    DestinationPermissionError,
    DestinationURI,
    ObjectWritten,
    StaleUploads,
    Write,
)
from eventsync.destinations.retry import RetryCounter, RetryPolicy, call_with_retry, tries_of
from eventsync.destinations.s3 import encryption, multipart
from eventsync.destinations.s3.multipart import content_md5
from eventsync.destinations.s3.s3_errors import (
    BOTO_ERRORS,
    DENIED_CODES,
    classify,
    error_code,
    is_denied,
    is_not_found,
    is_transient,
)
from eventsync.settings import MiB, defaults

log = logging.getLogger(__name__)

_DEFAULTS = defaults()
DEFAULT_MULTIPART_THRESHOLD = int(_DEFAULTS.multipart_threshold_mb * MiB)
DEFAULT_PART_SIZE = int(_DEFAULTS.multipart_part_mb * MiB)  # AWS: >= 5 MiB but the last


class S3Destination(Destination):
    """Keys are relative to the URI's prefix. `client` is a botocore S3 client
    built with retries off (retry.py retries)."""

    def __init__(
        self,
        uri: DestinationURI,
        client: Any,
        *,
        sync_id: str = "-",
        sse: str | None = "AES256",
        kms_key_id: str | None = None,
        retry: RetryPolicy | None = None,
        multipart_threshold: int = DEFAULT_MULTIPART_THRESHOLD,
        part_size: int = DEFAULT_PART_SIZE,
    ) -> None:
        if uri.kind != "s3":
            raise ValueError(f"S3Destination needs an s3:// URI, got {uri}")
        if sse not in (None, "AES256", "aws:kms"):
            raise DestinationError(f"sync {sync_id}: unknown server-side encryption {sse!r}")
        if kms_key_id and sse != "aws:kms":
            raise DestinationError(f"sync {sync_id}: a KMS key id needs sse aws:kms")
        if part_size <= 0 or multipart_threshold <= 0:
            raise ValueError("part_size and multipart_threshold must be positive")
        self.uri = uri
        self.client = client
        self.sync_id = sync_id
        self.sse = sse or "AES256"
        self.kms_key_id = kms_key_id
        self.retry = retry or RetryPolicy.from_settings(_DEFAULTS)
        self.multipart_threshold = multipart_threshold
        self.part_size = part_size
        self.retries = RetryCounter(sync_id, error_code)

    # --- helpers --------------------------------------------------------------------
    def where(self, key: str = "", *, full: bool = False) -> str:
        if not key:
            return f"s3://{self.bucket}"
        return f"s3://{self.bucket}/{key if full else self.object_key(key)}"

    def sse_args(self) -> dict[str, str]:
        args = {"ServerSideEncryption": self.sse}
        if self.sse == "aws:kms" and self.kms_key_id:
            args["SSEKMSKeyId"] = self.kms_key_id
        return args

    def write_args(self, how: Write) -> dict[str, Any]:
        """SSE, content type and the x-amz-meta-eventsync-* tags of every write."""
        args: dict[str, Any] = {**self.sse_args(), "Metadata": {META_SYNC: self.sync_id}}
        args["Metadata"].update(how.metadata or {})
        if how.content_type:
            args["ContentType"] = how.content_type
        return args

    def error(
        self, op: str, key: str, exc: BaseException, *, full: bool = False, optional: bool = False
    ) -> DestinationError:
        """A classified DestinationError naming sync, bucket, object and cause
        (DestinationPermissionError for a denied optional capability)."""
        c = classify(exc, tries_of(exc))
        return self.failure(
            op,
            key,
            self.where(key, full=full),
            c.reason,
            "; ".join(p for p in (c.code, c.hint, c.message) if p),
            refused_capability=optional and is_denied(exc),
            missing_object=op == "get" and is_not_found(exc),
        )

    def call(
        self,
        op: str,
        key: str,
        fn: Callable[[int], Any],
        *,
        optional: bool = False,
        full: bool = False,
    ) -> Any:
        """Run with retries; map every botocore failure to a classified DestinationError."""
        try:
            return call_with_retry(
                fn,
                self.retry,
                is_transient,
                before_sleep=self.retries.hook(op, self.where(key, full=full)),
            )
        except BOTO_ERRORS as exc:
            raise self.error(op, key, exc, full=full, optional=optional) from exc

    # --- encryption, verified (encryption.py) ------------------------------------
    def verify(self, op: str, full: str, response: Any, *, required: bool = True) -> ObjectWritten:
        return encryption.verify(self, op, full, response, required=required)

    def not_applied(self, err: DestinationError, full: str) -> DestinationError:
        return encryption.not_applied(self, err, full)

    # --- writes ---------------------------------------------------------------------
    def write_bytes(self, key: str, data: bytes, how: Write) -> ObjectWritten:
        """`create_only` sends If-None-Match: * so an existing object is never clobbered
        (a retry that finds its own earlier write counts as success; its response was
        lost, so the encryption reported by the first answer cannot be checked)."""
        full = self.object_key(key)
        extra = self.write_args(how)
        if how.create_only:
            extra["IfNoneMatch"] = "*"
        md5 = content_md5(data)

        def put(attempt: int) -> Any:
            try:
                return self.client.put_object(
                    Bucket=self.bucket, Key=full, Body=data, ContentMD5=md5, **extra
                )
            except ClientError as exc:
                if not how.create_only or error_code(exc) != "PreconditionFailed":
                    raise
                if attempt == 1:
                    raise self.already_exists(key) from exc
                return None  # our earlier attempt landed; its response was lost

        response = self.call("put", key, put)
        if response is None:
            return ObjectWritten(key=full, encryption=self.sse, kms_key=self.kms_key_id)
        return self._checked("PutObject", full, response)

    def _checked(self, op: str, full: str, response: Any) -> ObjectWritten:
        try:
            return self.verify(op, full, response)
        except DestinationError as err:
            raise self.not_applied(err, full) from None

    def write_file(self, key: str, path: Path, how: Write) -> ObjectWritten:
        size = path.stat().st_size
        extra = self.write_args(how)
        if size >= self.multipart_threshold:
            return multipart.upload(self, key, path, size, extra)
        full = self.object_key(key)

        def put(attempt: int) -> Any:
            data = path.read_bytes()  # below the multipart threshold: fits in memory
            return self.client.put_object(
                Bucket=self.bucket, Key=full, Body=data, ContentMD5=content_md5(data), **extra
            )

        return self._checked("PutObject", full, self.call("put", key, put))

    def abort_stale_uploads(
        self, prefix: str, *, initiated_before: datetime | None = None
    ) -> StaleUploads:
        return multipart.abort_stale(self, prefix, initiated_before)

    # --- optional capabilities ----------------------------------------------------
    def list(self, prefix: str) -> list[str]:
        base = self.uri.prefix
        full_prefix = self.full_prefix(prefix)
        keys: list[str] = []
        token: str | None = None
        while True:
            args: dict[str, Any] = {"Bucket": self.bucket, "Prefix": full_prefix}
            if token:
                args["ContinuationToken"] = token
            resp = self.call(
                "list",
                prefix,
                lambda attempt, a=args: self.client.list_objects_v2(**a),
                optional=True,
                full=True,
            )
            contents = [o["Key"] for o in resp.get("Contents") or [] if o.get("Key")]
            keys += [k[len(base) + 1 :] if base else k for k in contents]
            token = resp.get("NextContinuationToken")
            if not resp.get("IsTruncated") or not token:
                return sorted(keys)

    def delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):
            batch = [{"Key": self.object_key(k)} for k in keys[start : start + 1000]]
            resp = self.call(
                "delete",
                keys[start],
                lambda attempt, b=batch: self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": b, "Quiet": True}
                ),
                optional=True,
            )
            errors = resp.get("Errors") or []
            if errors:
                first = errors[0] if isinstance(errors[0], Mapping) else {}
                code = str(first.get("Code") or "unknown error")
                denied = code in DENIED_CODES
                msg = (
                    f"sync {self.sync_id}: S3 bucket {self.bucket!r} refused delete of "
                    f"{self.where(str(first.get('Key') or '?'), full=True)} "
                    f"({'access_denied' if denied else 'refused'}): {code}"
                    + (f"; {first['Message']}" if first.get("Message") else "")
                    + f" ({len(errors)} of {len(batch)} keys not deleted)"
                )
                kind = DestinationPermissionError if denied else DestinationError
                raise kind(
                    msg,
                    reason="access_denied" if denied else "refused",
                    sync_id=self.sync_id,
                    bucket=self.bucket,
                )

    def get_bytes(self, key: str) -> bytes:
        full = self.object_key(key)

        def get(attempt: int) -> bytes:
            return bytes(self.client.get_object(Bucket=self.bucket, Key=full)["Body"].read())

        return self.call("get", key, get, optional=True)

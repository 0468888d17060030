"""S3 multipart uploads: upload in parts with verified encryption, abort on any
failure, and clean up the unfinished uploads a killed run left behind.

An upload carries the x-amz-meta-eventsync-* tags of its object (sync, export) and
lives under the sync's deterministic keys, so a later run of the same day finds it
by prefix. Listing uploads needs s3:ListBucketMultipartUploads: write-only
credentials lack it, and then the bucket's lifecycle rule
(AbortIncompleteMultipartUpload, docs/destinations.md) is what removes them.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from eventsync.destinations.interface import DestinationError, ObjectWritten, StaleUploads
from eventsync.destinations.retry import call_with_retry, tries_of
from eventsync.destinations.s3.s3_errors import (
    BOTO_ERRORS,
    classify,
    error_code,
    is_denied,
    is_transient,
)

if TYPE_CHECKING:
    from eventsync.destinations.s3.bucket import S3Destination

log = logging.getLogger(__name__)

NOT_LISTABLE_NOTE = (
    "not permitted: the credentials may not list multipart uploads "
    "(s3:ListBucketMultipartUploads); the bucket's lifecycle rule "
    "AbortIncompleteMultipartUpload (docs/destinations.md) removes unfinished uploads"
)


def content_md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()  # noqa: S324 - S3 integrity header


def upload(
    dest: S3Destination, key: str, path: Path, size: int, extra: dict[str, Any]
) -> ObjectWritten:
    """Create, upload every part (Content-MD5 each), complete; abort on any failure."""
    full = dest.object_key(key)
    created_attempts = 0

    def create(attempt: int) -> Any:
        nonlocal created_attempts
        created_attempts = attempt
        return dest.client.create_multipart_upload(Bucket=dest.bucket, Key=full, **extra)

    created = dest.call("multipart upload start", key, create)
    upload_id = str((created or {}).get("UploadId") or "")
    if not upload_id:
        raise _answered_without(dest, key, "CreateMultipartUpload", "an UploadId")
    if created_attempts > 1:
        _abort_strays(dest, full, keep=upload_id)
    try:
        written = dest.verify("CreateMultipartUpload", full, created)
        parts = _upload_parts(dest, key, full, upload_id, path, size)
        completed = _complete(dest, key, full, upload_id, parts)
    except BaseException:
        abort(dest, full, upload_id)
        raise
    try:
        # Ceph reports the encryption on Create and on each part but not on Complete;
        # AWS and moto report it on all three. Nothing reported passes, a mismatch fails.
        dest.verify("CompleteMultipartUpload", full, completed, required=False)
    except DestinationError as err:
        raise dest.not_applied(err, full) from None
    return written


def _answered_without(dest: S3Destination, key: str, what: str, lacking: str) -> DestinationError:
    """A bucket's answer that lacks what the upload needs next: refused, not retried."""
    return DestinationError(
        f"sync {dest.sync_id}: S3 bucket {dest.bucket!r} answered {what} of "
        f"{dest.where(key)} without {lacking} (refused)",
        sync_id=dest.sync_id,
        bucket=dest.bucket,
        key=key,
    )


def _upload_parts(
    dest: S3Destination, key: str, full: str, upload_id: str, path: Path, size: int
) -> list[dict[str, Any]]:
    parts = []
    n_parts = max(1, -(-size // dest.part_size))
    with path.open("rb") as fh:
        for number in range(1, n_parts + 1):
            fh.seek((number - 1) * dest.part_size)
            data = fh.read(dest.part_size)
            expected = min(dest.part_size, size - (number - 1) * dest.part_size)
            if len(data) != expected:
                raise DestinationError(
                    f"sync {dest.sync_id}: {path} changed size during upload to "
                    f"{dest.describe(key)} (part {number}: read {len(data)} of "
                    f"{expected} bytes)",
                    sync_id=dest.sync_id,
                    bucket=dest.bucket,
                    key=key,
                )
            md5 = content_md5(data)

            def put_part(
                attempt: int, number: int = number, data: bytes = data, md5: str = md5
            ) -> Any:
                return dest.client.upload_part(
                    Bucket=dest.bucket,
                    Key=full,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=data,
                    ContentMD5=md5,
                )

            resp = dest.call(f"upload of part {number}", key, put_part) or {}
            dest.verify(f"UploadPart {number}", full, resp, required=False)
            etag = resp.get("ETag")
            if not etag:
                raise _answered_without(dest, key, f"part {number}", "an ETag")
            parts.append({"ETag": str(etag), "PartNumber": number})
    return parts


def _complete(
    dest: S3Destination, key: str, full: str, upload_id: str, parts: list[dict[str, Any]]
) -> Any:
    def complete(attempt: int) -> Any:
        try:
            return dest.client.complete_multipart_upload(
                Bucket=dest.bucket, Key=full, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except ClientError as exc:
            # A retry after a lost response: the upload was already completed.
            if attempt > 1 and error_code(exc) == "NoSuchUpload":
                return {}
            raise

    return dest.call("multipart upload completion", key, complete)


def abort(dest: S3Destination, full: str, upload_id: str) -> str | None:
    """AbortMultipartUpload with retries. Returns None when the upload is gone, else the
    error (logged, naming the upload so it can be cleaned up: the caller's own error is
    the one to raise)."""
    try:
        call_with_retry(
            lambda attempt: dest.client.abort_multipart_upload(
                Bucket=dest.bucket, Key=full, UploadId=upload_id
            ),
            dest.retry,
            is_transient,
            before_sleep=dest.retries.hook("multipart upload abort", dest.where(full, full=True)),
        )
        return None
    except BOTO_ERRORS as exc:
        if error_code(exc) == "NoSuchUpload":
            return None
        c = classify(exc, tries_of(exc))
        problem = f"{c.reason}: " + "; ".join(p for p in (c.code, c.hint, c.message) if p)
        log.error(
            "sync %s: could not abort multipart upload %s of %s: %s",
            dest.sync_id,
            upload_id,
            dest.where(full, full=True),
            problem,
        )
        return problem


def _list_uploads(dest: S3Destination, full_prefix: str) -> list[Mapping[str, Any]]:
    """Every unfinished upload under the prefix (paginated). Raises BOTO_ERRORS."""
    uploads: list[Mapping[str, Any]] = []
    markers: dict[str, str] = {}
    while True:
        resp = call_with_retry(
            lambda attempt, m=markers: dest.client.list_multipart_uploads(
                Bucket=dest.bucket, Prefix=full_prefix, **m
            ),
            dest.retry,
            is_transient,
            before_sleep=dest.retries.hook(
                "list of multipart uploads", dest.where(full_prefix, full=True)
            ),
        )
        uploads += [u for u in resp.get("Uploads") or [] if isinstance(u, Mapping)]
        key_marker, id_marker = resp.get("NextKeyMarker"), resp.get("NextUploadIdMarker")
        if not resp.get("IsTruncated") or not (key_marker or id_marker):
            return uploads
        markers = {"KeyMarker": str(key_marker or ""), "UploadIdMarker": str(id_marker or "")}


def _abort_strays(dest: S3Destination, full: str, keep: str) -> None:
    """CreateMultipartUpload was retried, so an earlier attempt may have started an
    upload whose id we never saw. Abort other uploads of this exact key when we may
    list them; write-only destinations rely on the lifecycle rule in the docs."""
    try:
        uploads = _list_uploads(dest, full)
    except BOTO_ERRORS:
        return
    for u in uploads:
        if u.get("Key") == full and u.get("UploadId") and u.get("UploadId") != keep:
            abort(dest, full, str(u["UploadId"]))


def abort_stale(
    dest: S3Destination, prefix: str, initiated_before: datetime | None
) -> StaleUploads:
    """List unfinished uploads under `prefix` and abort those started before
    `initiated_before` (all when None). Not permitted to list: say so, never raise."""
    full_prefix = dest.full_prefix(prefix)
    result = StaleUploads(prefix=prefix, permitted=True)
    try:
        uploads = _list_uploads(dest, full_prefix)
    except BOTO_ERRORS as exc:
        if is_denied(exc):
            result.permitted = False
            result.note = NOT_LISTABLE_NOTE
            return result
        raise dest.error("list of multipart uploads", full_prefix, exc, full=True) from exc
    cutoff = initiated_before.astimezone(UTC) if initiated_before else None
    for u in uploads:
        key, upload_id = u.get("Key"), u.get("UploadId")
        if not key or not upload_id:
            continue
        started = u.get("Initiated")
        if cutoff is not None:
            if not isinstance(started, datetime):
                result.kept += 1  # cannot tell when it started: leave it to the lifecycle rule
                continue
            if (started if started.tzinfo else started.replace(tzinfo=UTC)) >= cutoff:
                result.kept += 1
                continue
        problem = abort(dest, str(key), str(upload_id))
        if problem is None:
            result.aborted.append(str(key))
        else:
            result.failed.append(f"{key}: {problem}")
    if result.aborted or result.failed:
        log.warning(
            "sync %s: aborted %d unfinished multipart upload(s) under %s (%d could not be)",
            dest.sync_id,
            len(result.aborted),
            dest.where(full_prefix, full=True),
            len(result.failed),
        )
    return result

"""Encryption verified, not assumed: the server's answer to each write must report
the sync's server-side encryption (and KMS key). A server that accepts the header
and ignores it (Ceph radosgw without SSE-S3 does, for AES256) stores the object
unencrypted: the write fails with reason ``encryption_not_applied``, naming the
object, and the object is removed where the credentials may delete."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from eventsync.destinations.interface import DestinationError, ObjectWritten
from eventsync.destinations.s3.s3_errors import BOTO_ERRORS, error_code

if TYPE_CHECKING:
    from eventsync.destinations.s3.bucket import S3Destination


def same_kms_key(configured: str, reported: str) -> bool | None:
    """Whether the key the server reports is the configured one (ids, ARNs); None when
    the configured name is an alias, which the server resolves to a key id."""
    if "alias/" in configured:
        return None
    return (
        reported == configured
        or reported.endswith("/" + configured)
        or configured.endswith("/" + reported)
    )


def verify(
    dest: S3Destination, op: str, full: str, response: Any, *, required: bool = True
) -> ObjectWritten:
    """Check the encryption a write's response reports against the sync's setting.
    `required=False` (CompleteMultipartUpload, after CreateMultipartUpload was
    verified): a server that reports nothing passes, one that reports something
    else fails. Raises DestinationError(reason='encryption_not_applied')."""
    response = response if isinstance(response, Mapping) else {}
    reported = response.get("ServerSideEncryption") or None
    reported_key = response.get("SSEKMSKeyId") or None
    problem = ""
    if reported is None:
        if required:
            problem = f"asked for {dest.sse}, the server's answer to {op} reported none"
    elif reported != dest.sse:
        problem = f"asked for {dest.sse}, the server's answer to {op} reported {reported}"
    elif dest.sse == "aws:kms" and dest.kms_key_id:
        if reported_key is None and required:
            problem = f"asked for KMS key {dest.kms_key_id}, the answer to {op} named none"
        elif reported_key and same_kms_key(dest.kms_key_id, str(reported_key)) is False:
            problem = (
                f"asked for KMS key {dest.kms_key_id}, the answer to {op} named {reported_key}"
            )
    if problem:
        raise DestinationError(
            f"sync {dest.sync_id}: S3 bucket {dest.bucket!r} did not apply the configured "
            f"encryption to {dest.where(full, full=True)} (encryption_not_applied): {problem}",
            reason="encryption_not_applied",
            sync_id=dest.sync_id,
            bucket=dest.bucket,
            key=dest.relative_key(full),
        )
    return ObjectWritten(
        key=full,
        encryption=str(reported or dest.sse),
        kms_key=str(reported_key or dest.kms_key_id or "") or None,
        verified=True,
    )


def not_applied(dest: S3Destination, err: DestinationError, full: str) -> DestinationError:
    """The object was stored without encryption: remove it where we may, and say
    whether it stays (the data must not sit there unencrypted unnoticed)."""
    try:
        dest.client.delete_object(Bucket=dest.bucket, Key=full)
        tail = "the unencrypted object was removed"
    except BOTO_ERRORS as exc:
        tail = (
            f"the unencrypted object stays in the bucket ({error_code(exc)} on delete): remove it"
        )
    advice = (
        "the server accepted the write and ignored the encryption header (Ceph radosgw "
        "without SSE-S3 does this): enable SSE-S3 on the server, or use --sse aws:kms "
        "with a key it manages"
        if dest.sse == "AES256"
        else "check the KMS configuration of the server and the sync's key id"
    )
    return DestinationError(
        f"{err}; {tail}; {advice}",
        reason=err.reason,
        sync_id=dest.sync_id,
        bucket=dest.bucket,
        key=dest.relative_key(full),
    )

"""Amazon S3 (and S3-compatible) destination.

Every object is written with server-side encryption (AES256 by default, or
aws:kms with the sync's key id). Files above the multipart threshold go up in
parts; any failure aborts the upload so no orphan parts stay billed. Export
needs only s3:PutObject (+ s3:AbortMultipartUpload); list/get/delete are
optional and raise PermissionError when the credentials lack them.

Retries are ours (see retry.py): botocore is built with one attempt per call.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from botocore.exceptions import (
    ClientError,
    HTTPClientError,
    NoCredentialsError,
    ResponseStreamingError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from resources.destinations.base import Destination, DestinationError, DestinationURI
from resources.destinations.retry import RetryPolicy, call_with_retry

log = logging.getLogger(__name__)

MiB = 1024 * 1024
DEFAULT_MULTIPART_THRESHOLD = 64 * MiB
DEFAULT_PART_SIZE = 16 * MiB  # S3 needs >= 5 MiB for every part but the last

TRANSIENT_CODES = {
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestThrottled",
    "TooManyRequests",
    "RequestTimeout",
    "RequestTimeTooSkewed",
    "InternalError",
    "ServiceUnavailable",
    "BadGateway",
    "GatewayTimeout",
    "503",
    "500",
    "502",
    "504",
}
DENIED_CODES = {"AccessDenied", "Forbidden", "403", "AllAccessDisabled"}
KMS_HINT = "KMS"

_HINTS = {
    "NoSuchBucket": "the bucket does not exist (check the destination URI and region)",
    "AccessDenied": "access denied: the credentials lack the permission for this operation "
    "on the prefix (see docs/destinations.md for the minimal policy)",
    "InvalidAccessKeyId": "the AWS access key id is not known to the service",
    "SignatureDoesNotMatch": "the AWS secret key does not match the access key id",
    "ExpiredToken": "the credentials have expired",
    "InvalidToken": "the session token is invalid",
    "KMS.NotFoundException": "the KMS key does not exist",
    "KMS.DisabledException": "the KMS key is disabled",
    "KMS.KMSInvalidStateException": "the KMS key is not usable (pending deletion or disabled)",
    "KMS.AccessDeniedException": "the credentials may not use the KMS key (kms:GenerateDataKey)",
}


def is_transient(exc: BaseException) -> bool:
    """5xx, throttling (SlowDown / 429), dropped connections and timeouts."""
    if isinstance(exc, (HTTPClientError, BotoConnectionError, ResponseStreamingError)):
        return True  # connection refused/reset/closed, read or connect timeout
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        return code in TRANSIENT_CODES or status >= 500 or status == 429
    return False


def error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "")) or str(
            exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "")
        )
    return type(exc).__name__


def is_denied(exc: BaseException) -> bool:
    return isinstance(exc, ClientError) and error_code(exc) in DENIED_CODES


def _content_md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()  # noqa: S324 - S3 integrity header


class S3Destination(Destination):
    """Keys are relative to the URI's prefix. `client` is a botocore S3 client
    built with retries off (our RetryPolicy handles them)."""

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
        self.retry = retry or RetryPolicy()
        self.multipart_threshold = multipart_threshold
        self.part_size = part_size

    # --- helpers --------------------------------------------------------------------
    def _sse_args(self) -> dict[str, str]:
        args = {"ServerSideEncryption": self.sse}
        if self.sse == "aws:kms" and self.kms_key_id:
            args["SSEKMSKeyId"] = self.kms_key_id
        return args

    def _error(self, op: str, key: str, exc: BaseException) -> DestinationError:
        code = error_code(exc)
        message = (
            exc.response.get("Error", {}).get("Message", "")
            if isinstance(exc, ClientError)
            else str(exc)
        )
        hint = _HINTS.get(code, "")
        reason = "refused"
        if code.startswith(KMS_HINT) or "kms" in message.lower():
            reason = "kms_key_refused"
            hint = hint or (
                "the KMS key was refused (check the key id, its key policy and kms:GenerateDataKey)"
            )
        elif code == "NoSuchBucket":
            reason = "no_such_bucket"
        elif code in DENIED_CODES:
            reason = "access_denied"
        elif code in (
            "InvalidAccessKeyId",
            "SignatureDoesNotMatch",
            "ExpiredToken",
            "InvalidToken",
        ):
            reason = "bad_credentials"
        elif isinstance(exc, (HTTPClientError, BotoConnectionError)):
            reason = "endpoint_unreachable"
            hint = f"endpoint unreachable after {self.retry.max_attempts} attempts"
        elif is_transient(exc):
            reason = "unavailable"
            hint = f"still failing after {self.retry.max_attempts} attempts"
        if isinstance(exc, NoCredentialsError):
            reason, code = "bad_credentials", "NoCredentials"
            hint = "no AWS credentials found (set a role_arn or ambient credentials)"
        cause = "; ".join(p for p in (code, hint, message) if p)
        where = f"s3://{self.bucket}/{self.object_key(key)}" if key else f"s3://{self.bucket}"
        err = DestinationError(
            f"sync {self.sync_id}: S3 bucket {self.bucket!r} refused {op} of {where}: {cause}"
        )
        err.reason = reason  # type: ignore[attr-defined]  # read by check_destination
        return err

    def _call(self, op: str, key: str, fn: Callable[[int], Any], optional: bool = False) -> Any:
        """Run with retries; map permanent errors to DestinationError (PermissionError
        for denied optional capabilities)."""
        try:
            return call_with_retry(fn, self.retry, is_transient)
        except (
            ClientError,
            HTTPClientError,
            BotoConnectionError,
            ResponseStreamingError,
            NoCredentialsError,
        ) as exc:
            err = self._error(op, key, exc)
            if optional and is_denied(exc):
                raise PermissionError(str(err)) from exc
            if op == "get" and error_code(exc) in ("NoSuchKey", "404"):
                raise FileNotFoundError(str(err)) from exc
            raise err from exc

    # --- writes ---------------------------------------------------------------------
    def put_bytes(
        self, key: str, data: bytes, content_type: str | None = None, *, create_only: bool = False
    ) -> None:
        """`create_only` sends If-None-Match: * so an existing object is never clobbered
        (a retry that finds its own earlier write counts as success)."""
        full = self.object_key(key)
        extra: dict[str, Any] = {"ContentType": content_type} if content_type else {}
        if create_only:
            extra["IfNoneMatch"] = "*"
        md5 = _content_md5(data)

        def put(attempt: int) -> None:
            try:
                self.client.put_object(
                    Bucket=self.bucket,
                    Key=full,
                    Body=data,
                    ContentMD5=md5,
                    **self._sse_args(),
                    **extra,
                )
            except ClientError as exc:
                if create_only and error_code(exc) == "PreconditionFailed":
                    if attempt > 1:
                        return  # our earlier attempt landed; its response was lost
                    raise FileExistsError(
                        f"sync {self.sync_id}: {self.describe(key)} already exists"
                    ) from exc
                raise

        self._call("put", key, put)

    def put_file(self, key: str, path: Path, content_type: str | None = None) -> None:
        path = Path(path)
        size = path.stat().st_size
        if size < self.multipart_threshold:
            full = self.object_key(key)
            extra = {"ContentType": content_type} if content_type else {}

            def put(attempt: int) -> None:
                with path.open("rb") as fh:
                    self.client.put_object(
                        Bucket=self.bucket, Key=full, Body=fh, **self._sse_args(), **extra
                    )

            self._call("put", key, put)
        else:
            self._multipart(key, path, size, content_type)

    def _multipart(self, key: str, path: Path, size: int, content_type: str | None) -> None:
        full = self.object_key(key)
        extra = {"ContentType": content_type} if content_type else {}
        created_attempts = 0

        def create(attempt: int) -> str:
            nonlocal created_attempts
            created_attempts = attempt
            resp = self.client.create_multipart_upload(
                Bucket=self.bucket, Key=full, **self._sse_args(), **extra
            )
            return str(resp["UploadId"])

        upload_id: str = self._call("multipart upload start", key, create)
        if created_attempts > 1:
            self._abort_strays(full, keep=upload_id)
        try:
            parts = []
            n_parts = max(1, -(-size // self.part_size))
            with path.open("rb") as fh:
                for number in range(1, n_parts + 1):
                    fh.seek((number - 1) * self.part_size)
                    data = fh.read(self.part_size)
                    expected = min(self.part_size, size - (number - 1) * self.part_size)
                    if len(data) != expected:
                        raise DestinationError(
                            f"sync {self.sync_id}: {path} changed size during upload to "
                            f"{self.describe(key)} (part {number}: read {len(data)} of "
                            f"{expected} bytes)"
                        )
                    md5 = _content_md5(data)

                    def upload(
                        attempt: int, number: int = number, data: bytes = data, md5: str = md5
                    ) -> str:
                        resp = self.client.upload_part(
                            Bucket=self.bucket,
                            Key=full,
                            UploadId=upload_id,
                            PartNumber=number,
                            Body=data,
                            ContentMD5=md5,
                        )
                        return str(resp["ETag"])

                    etag = self._call(f"upload of part {number}", key, upload)
                    parts.append({"ETag": etag, "PartNumber": number})

            def complete(attempt: int) -> None:
                try:
                    self.client.complete_multipart_upload(
                        Bucket=self.bucket,
                        Key=full,
                        UploadId=upload_id,
                        MultipartUpload={"Parts": parts},
                    )
                except ClientError as exc:
                    # A retry after a lost response: the upload was already completed.
                    if attempt > 1 and error_code(exc) == "NoSuchUpload":
                        return
                    raise

            self._call("multipart upload completion", key, complete)
        except BaseException:
            self._abort(full, upload_id)
            raise

    def _abort(self, full: str, upload_id: str) -> None:
        """AbortMultipartUpload with retries; a failure to abort is logged (the original
        error is the one the caller needs), naming the upload so it can be cleaned up."""
        try:
            call_with_retry(
                lambda attempt: self.client.abort_multipart_upload(
                    Bucket=self.bucket, Key=full, UploadId=upload_id
                ),
                self.retry,
                is_transient,
            )
        except ClientError as exc:
            if error_code(exc) != "NoSuchUpload":
                log.error(
                    "sync %s: could not abort multipart upload %s of s3://%s/%s: %s",
                    self.sync_id,
                    upload_id,
                    self.bucket,
                    full,
                    exc,
                )
        except Exception as exc:
            log.error(
                "sync %s: could not abort multipart upload %s of s3://%s/%s: %s",
                self.sync_id,
                upload_id,
                self.bucket,
                full,
                exc,
            )

    def _abort_strays(self, full: str, keep: str) -> None:
        """CreateMultipartUpload was retried, so an earlier attempt may have started an
        upload whose id we never saw. Abort other uploads of this exact key when we may
        list them; write-only destinations rely on the lifecycle rule in the docs."""
        try:
            resp = call_with_retry(
                lambda attempt: self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=full),
                self.retry,
                is_transient,
            )
        except (ClientError, HTTPClientError, BotoConnectionError):
            return
        for upload in resp.get("Uploads", []):
            if upload.get("Key") == full and upload.get("UploadId") != keep:
                self._abort(full, upload["UploadId"])

    # --- optional capabilities ----------------------------------------------------
    def list(self, prefix: str) -> list[str]:
        base = self.uri.prefix
        full_prefix = "/".join(p for p in (base, prefix.lstrip("/")) if p)
        if prefix.endswith("/") and not full_prefix.endswith("/"):
            full_prefix += "/"
        keys: list[str] = []
        token: str | None = None
        while True:
            args: dict[str, Any] = {"Bucket": self.bucket, "Prefix": full_prefix}
            if token:
                args["ContinuationToken"] = token
            resp = self._call(
                "list",
                prefix,
                lambda attempt, a=args: self.client.list_objects_v2(**a),
                optional=True,
            )
            for obj in resp.get("Contents", []):
                k = obj["Key"]
                keys.append(k[len(base) + 1 :] if base else k)
            if not resp.get("IsTruncated"):
                return sorted(keys)
            token = resp["NextContinuationToken"]

    def delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):
            batch = [{"Key": self.object_key(k)} for k in keys[start : start + 1000]]
            resp = self._call(
                "delete",
                keys[start],
                lambda attempt, b=batch: self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": b, "Quiet": True}
                ),
                optional=True,
            )
            errors = resp.get("Errors", [])
            if errors:
                first = errors[0]
                msg = (
                    f"sync {self.sync_id}: S3 bucket {self.bucket!r} refused delete of "
                    f"s3://{self.bucket}/{first.get('Key')}: {first.get('Code')}; "
                    f"{first.get('Message', '')}"
                    f" ({len(errors)} of {len(batch)} keys not deleted)"
                )
                if first.get("Code") in DENIED_CODES:
                    raise PermissionError(msg)
                raise DestinationError(msg)

    def get_bytes(self, key: str) -> bytes:
        full = self.object_key(key)

        def get(attempt: int) -> bytes:
            return bytes(self.client.get_object(Bucket=self.bucket, Key=full)["Body"].read())

        return self._call("get", key, get, optional=True)

"""The S3 destination contract, run on moto_server (IAM enforced) AND Ceph radosgw
(tests/fixtures/s3_servers.py): write-only and read-write users, multipart,
SSE-KMS, SSE-S3 where the server applies it (verified from its answers), classified
errors, and no unfinished upload left behind."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from eventsync.destinations import (
    DestinationError,
    DestinationExistsError,
    DestinationNotFoundError,
    DestinationPermissionError,
)
from tests.fixtures.s3_servers import SMALL_MULTIPART, S3Target

MiB = 1024 * 1024
DAY = "sync_c/events/date=2024-05-01"


def random_file(path: Path, size: int) -> bytes:
    data = os.urandom(size)
    path.write_bytes(data)
    return data


def kms(server: S3Target) -> dict[str, str]:
    return {"sse": "aws:kms", "kms_key_id": server.kms_key_id}


def test_write_only_user_exports_small_and_multipart_files(
    s3_server: S3Target, s3_target_bucket: str, tmp_path: Path
) -> None:
    dest = s3_server.destination(
        s3_server.writer, s3_target_bucket, options=kms(s3_server), **SMALL_MULTIPART
    )
    dest.put_bytes(f"{DAY}/_manifest.json", b'{"files": []}', "application/json")
    data = random_file(tmp_path / "big", 11 * MiB)
    written = dest.put_file(f"{DAY}/part-00000.parquet", tmp_path / "big")

    assert written.verified and written.encryption == "aws:kms"
    admin = s3_server.client()
    got = admin.get_object(Bucket=s3_target_bucket, Key=f"exports/{DAY}/part-00000.parquet")
    assert got["Body"].read() == data
    assert got["Metadata"]["eventsync-sync"] == "sync_c"  # every object is tagged
    assert not s3_server.uploads(s3_target_bucket)


def test_write_only_user_may_not_list_read_or_delete(
    s3_server: S3Target, s3_target_bucket: str
) -> None:
    dest = s3_server.destination(s3_server.writer, s3_target_bucket, options=kms(s3_server))
    dest.put_bytes(f"{DAY}/_manifest.json", b"{}")
    for attempt in (
        lambda: dest.list("sync_c/"),
        lambda: dest.get_bytes(f"{DAY}/_manifest.json"),
        lambda: dest.delete([f"{DAY}/_manifest.json"]),
    ):
        with pytest.raises(DestinationPermissionError) as info:
            attempt()
        assert isinstance(info.value, PermissionError)
        assert info.value.reason == "access_denied"
        assert "sync sync_c" in str(info.value) and s3_target_bucket in str(info.value)
    head = s3_server.client().head_object(
        Bucket=s3_target_bucket, Key=f"exports/{DAY}/_manifest.json"
    )
    assert head["ContentLength"] == 2  # still there: the delete was refused


def test_access_denied_is_classified_whatever_the_server_leaves_out(
    s3_server: S3Target, s3_target_bucket: str
) -> None:
    """Ceph's AccessDenied has an empty <Message> (botocore: None); the error still
    names sync, bucket, object and the cause, and says nothing about 'None'."""
    outside = s3_server.destination(
        s3_server.writer, s3_target_bucket, prefix="elsewhere", options=kms(s3_server)
    )
    with pytest.raises(DestinationError) as info:
        outside.put_bytes("k.json", b"v")
    err = info.value
    msg = str(err)
    assert err.reason == "access_denied" and not isinstance(err, PermissionError)
    assert f"s3://{s3_target_bucket}/elsewhere/k.json" in msg
    assert "sync sync_c" in msg and "AccessDenied" in msg and "None" not in msg
    assert (err.sync_id, err.bucket, err.key) == ("sync_c", s3_target_bucket, "k.json")


def test_read_write_user_round_trip(
    s3_server: S3Target, s3_target_bucket: str, tmp_path: Path
) -> None:
    dest = s3_server.destination(s3_server.rw, s3_target_bucket, options=kms(s3_server))
    dest.put_bytes(f"{DAY}/_manifest.json", b'{"files": []}', "application/json")
    payload = random_file(tmp_path / "part", 1000)
    dest.put_file(f"{DAY}/part-00000.parquet", tmp_path / "part")
    dest.put_bytes("sync_c/events/date=2024-05-02/part-00000.parquet", b"other day")

    assert dest.list(f"{DAY}/") == [f"{DAY}/_manifest.json", f"{DAY}/part-00000.parquet"]
    assert len(dest.list("sync_c/")) == 3
    assert dest.get_bytes(f"{DAY}/part-00000.parquet") == payload
    head = s3_server.client().head_object(
        Bucket=s3_target_bucket, Key=f"exports/{DAY}/_manifest.json"
    )
    assert head["ContentType"] == "application/json"

    dest.delete([f"{DAY}/part-00000.parquet"])
    assert dest.list(f"{DAY}/") == [f"{DAY}/_manifest.json"]
    with pytest.raises(DestinationNotFoundError, match="sync_c") as info:
        dest.get_bytes(f"{DAY}/part-00000.parquet")
    assert info.value.reason == "not_found"


def test_multipart_goes_in_parts_and_reads_back_identical(
    s3_server: S3Target, s3_target_bucket: str, tmp_path: Path
) -> None:
    dest = s3_server.destination(
        s3_server.rw, s3_target_bucket, options=kms(s3_server), **SMALL_MULTIPART
    )
    data = random_file(tmp_path / "big", 12 * MiB + 123)
    dest.put_file("mp/big.bin", tmp_path / "big")
    admin = s3_server.client()
    head = admin.head_object(Bucket=s3_target_bucket, Key="exports/mp/big.bin")
    assert head["ETag"].strip('"').endswith("-3")  # 5 + 5 + 2 MiB parts
    assert head["ContentLength"] == len(data)
    body = admin.get_object(Bucket=s3_target_bucket, Key="exports/mp/big.bin")["Body"].read()
    assert hashlib.sha256(body).digest() == hashlib.sha256(data).digest()
    assert not s3_server.uploads(s3_target_bucket)


def test_sse_kms_is_applied_and_verified_on_every_object(
    s3_server: S3Target, s3_target_bucket: str, tmp_path: Path
) -> None:
    dest = s3_server.destination(
        s3_server.writer, s3_target_bucket, options=kms(s3_server), **SMALL_MULTIPART
    )
    random_file(tmp_path / "big", 7 * MiB)
    receipts = [
        dest.put_bytes("kms/a.json", b"{}"),
        dest.put_bytes("kms/once.json", b"{}", create_only=True),
        dest.put_file("kms/big.bin", tmp_path / "big"),
    ]
    for r in receipts:
        assert (r.verified, r.encryption) == (True, "aws:kms"), r
        assert s3_server.kms_key_id in (r.kms_key or ""), r
    admin = s3_server.client()
    for key in ("exports/kms/a.json", "exports/kms/once.json", "exports/kms/big.bin"):
        head = admin.head_object(Bucket=s3_target_bucket, Key=key)
        assert head["ServerSideEncryption"] == "aws:kms", key
        assert s3_server.kms_key_id in head["SSEKMSKeyId"], key


def test_sse_s3_is_verified_where_applied_and_refused_where_ignored(
    s3_server: S3Target, s3_target_bucket: str, tmp_path: Path
) -> None:
    """moto applies AES256 and says so. Ceph 16 accepts the header and stores the object
    unencrypted: the write fails naming the object, and says whether it was removed."""
    random_file(tmp_path / "big", 7 * MiB)
    admin = s3_server.client()
    for keys, can_delete in ((s3_server.rw, True), (s3_server.writer, False)):
        dest = s3_server.destination(
            keys, s3_target_bucket, options={"sse": "AES256"}, **SMALL_MULTIPART
        )
        if s3_server.applies_sse_s3:
            assert dest.put_bytes("sse/a.json", b"{}").encryption == "AES256"
            assert dest.put_file("sse/big.bin", tmp_path / "big").verified
            head = admin.head_object(Bucket=s3_target_bucket, Key="exports/sse/big.bin")
            assert head["ServerSideEncryption"] == "AES256"
            continue
        with pytest.raises(DestinationError) as info:
            dest.put_bytes("sse/a.json", b"{}")
        err = info.value
        assert err.reason == "encryption_not_applied"
        assert f"s3://{s3_target_bucket}/exports/sse/a.json" in str(err)
        assert "asked for AES256" in str(err)
        listed = admin.list_objects_v2(Bucket=s3_target_bucket, Prefix="exports/sse/")
        present = [o["Key"] for o in listed.get("Contents", [])]
        if can_delete:
            assert "was removed" in str(err) and present == []
        else:
            assert "stays in the bucket" in str(err) and present == ["exports/sse/a.json"]
            admin.delete_object(Bucket=s3_target_bucket, Key="exports/sse/a.json")
        with pytest.raises(DestinationError, match="CreateMultipartUpload reported none") as info:
            dest.put_file("sse/big.bin", tmp_path / "big")
        assert info.value.reason == "encryption_not_applied"
        assert not s3_server.uploads(s3_target_bucket)  # aborted before any part went up


def test_create_only_never_clobbers(s3_server: S3Target, s3_target_bucket: str) -> None:
    dest = s3_server.destination(s3_server.writer, s3_target_bucket, options=kms(s3_server))
    dest.put_bytes("_deletions/r1.json", b"first", create_only=True)
    with pytest.raises(DestinationExistsError, match="already exists") as info:
        dest.put_bytes("_deletions/r1.json", b"second", create_only=True)
    assert isinstance(info.value, FileExistsError) and info.value.reason == "exists"
    got = s3_server.client().get_object(Bucket=s3_target_bucket, Key="exports/_deletions/r1.json")
    assert got["Body"].read() == b"first"


def test_missing_bucket_fails_at_once_naming_sync_bucket_and_cause(s3_server: S3Target) -> None:
    dest = s3_server.destination(
        s3_server.rw,
        "no-such-bucket-here",
        options=kms(s3_server),
        backoff_base_seconds=5,
        backoff_max_seconds=5,
    )
    started = time.monotonic()
    with pytest.raises(DestinationError) as info:
        dest.put_bytes("k", b"v")
    assert time.monotonic() - started < 3  # permanent: not retried
    msg = str(info.value)
    assert info.value.reason == "no_such_bucket"
    assert "sync sync_c" in msg and "no-such-bucket-here" in msg and "NoSuchBucket" in msg
    assert "does not exist" in msg


def test_unknown_access_key_is_bad_credentials(s3_server: S3Target, s3_target_bucket: str) -> None:
    keys = {"aws_access_key_id": "AKIAUNKNOWN000000000", "aws_secret_access_key": "nope"}
    dest = s3_server.destination(keys, s3_target_bucket)
    with pytest.raises(DestinationError, match=r"sync sync_c.*InvalidAccessKeyId") as info:
        dest.put_bytes("k", b"v")
    assert info.value.reason == "bad_credentials"

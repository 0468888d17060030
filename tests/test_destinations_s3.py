"""S3 destination against a real moto_server over HTTP (tests/fixtures/s3.py)."""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

import dagster as dg
import pytest
from dagster_aws.s3 import S3Resource

from pipeline.syncs.config import Sync
from resources.destinations import (
    DestinationError,
    DestinationSettings,
    DestinationsResource,
    open_destination,
)
from resources.destinations.s3 import S3Destination

MiB = 1024 * 1024


def small_multipart(settings: DestinationSettings) -> DestinationSettings:
    """Multipart from 6 MiB in 5 MiB parts (S3's minimum part size)."""
    return dataclasses.replace(settings, multipart_threshold=6 * MiB, part_size=5 * MiB)


def random_file(path: Path, size: int) -> bytes:
    data = os.urandom(size)
    path.write_bytes(data)
    return data


def no_uploads(client, bucket: str) -> bool:  # type: ignore[no-untyped-def]
    return not client.list_multipart_uploads(Bucket=bucket).get("Uploads")


def test_round_trip_put_list_get_delete(moto_server, s3_bucket, s3_settings, tmp_path):
    dest = open_destination(
        f"s3://{s3_bucket}/exports", {}, sync_id="sync_rt", settings=s3_settings
    )
    assert isinstance(dest, S3Destination)
    day = "sync_rt/events/date=2024-05-01"
    dest.put_bytes(f"{day}/_manifest.json", b'{"files": []}', "application/json")
    payload = random_file(tmp_path / "part.parquet", 1000)
    dest.put_file(f"{day}/part-00000.parquet", tmp_path / "part.parquet")
    dest.put_bytes("sync_rt/events/date=2024-05-02/part-00000.parquet", b"other day")

    assert dest.list(f"{day}/") == [f"{day}/_manifest.json", f"{day}/part-00000.parquet"]
    assert len(dest.list("sync_rt/")) == 3
    assert dest.get_bytes(f"{day}/part-00000.parquet") == payload
    # keys live under the URI's prefix in the bucket
    admin = moto_server.client()
    head = admin.head_object(Bucket=s3_bucket, Key=f"exports/{day}/_manifest.json")
    assert head["ContentType"] == "application/json"

    dest.delete([f"{day}/part-00000.parquet"])
    assert dest.list(f"{day}/") == [f"{day}/_manifest.json"]
    with pytest.raises(FileNotFoundError, match="sync_rt"):
        dest.get_bytes(f"{day}/part-00000.parquet")
    assert dest.describe("a/b") == f"s3://{s3_bucket}/exports/a/b"


def test_aes256_on_every_object_by_default(moto_server, s3_bucket, s3_settings, tmp_path):
    dest = open_destination(
        f"s3://{s3_bucket}/p", {}, sync_id="sync_sse", settings=small_multipart(s3_settings)
    )
    dest.put_bytes("a.json", b"{}")
    random_file(tmp_path / "small", 10)
    dest.put_file("small.bin", tmp_path / "small")
    random_file(tmp_path / "big", 7 * MiB)
    dest.put_file("big.bin", tmp_path / "big")
    admin = moto_server.client()
    for key in ("p/a.json", "p/small.bin", "p/big.bin"):
        assert admin.head_object(Bucket=s3_bucket, Key=key)["ServerSideEncryption"] == "AES256", key


def test_kms_key_id_on_every_object(moto_server, s3_bucket, s3_settings, tmp_path):
    key_id = moto_server.client("kms").create_key(Description="eventsync test")["KeyMetadata"][
        "KeyId"
    ]
    dest = open_destination(
        f"s3://{s3_bucket}/kms",
        {"sse": "aws:kms", "kms_key_id": key_id},
        sync_id="sync_kms",
        settings=small_multipart(s3_settings),
    )
    dest.put_bytes("a.json", b"{}")
    random_file(tmp_path / "big", 7 * MiB)
    dest.put_file("big.bin", tmp_path / "big")
    admin = moto_server.client()
    for key in ("kms/a.json", "kms/big.bin"):
        head = admin.head_object(Bucket=s3_bucket, Key=key)
        assert head["ServerSideEncryption"] == "aws:kms", key
        assert key_id in head["SSEKMSKeyId"], key


def test_multipart_upload_goes_in_parts_and_reads_back_identical(
    moto_server, s3_bucket, s3_settings, tmp_path
):
    dest = open_destination(
        f"s3://{s3_bucket}/mp", {}, sync_id="sync_mp", settings=small_multipart(s3_settings)
    )
    data = random_file(tmp_path / "big", 12 * MiB + 123)
    dest.put_file("big.bin", tmp_path / "big")
    admin = moto_server.client()
    head = admin.head_object(Bucket=s3_bucket, Key="mp/big.bin")
    assert head["ETag"].strip('"').endswith("-3")  # 5 + 5 + 2 MiB parts
    assert head["ContentLength"] == len(data)
    assert admin.get_object(Bucket=s3_bucket, Key="mp/big.bin")["Body"].read() == data
    assert no_uploads(admin, s3_bucket)


def test_permanent_errors_fail_at_once_naming_sync_bucket_and_cause(moto_server, s3_settings):
    slow = dataclasses.replace(s3_settings, backoff_base_seconds=5, backoff_max_seconds=5)
    dest = open_destination("s3://no-such-bucket-here/x", {}, sync_id="sync_nb", settings=slow)
    started = time.monotonic()
    with pytest.raises(DestinationError) as info:
        dest.put_bytes("k", b"v")
    assert time.monotonic() - started < 3  # not retried
    msg = str(info.value)
    assert "sync sync_nb" in msg and "no-such-bucket-here" in msg and "NoSuchBucket" in msg
    assert "does not exist" in msg


def test_endpoint_unreachable_is_retried_then_reported(s3_settings, tmp_path):
    from tests.fixtures.s3 import free_port

    settings = dataclasses.replace(
        s3_settings, s3_endpoint_url=f"http://127.0.0.1:{free_port()}", max_attempts=3
    )
    dest = open_destination("s3://bucket/x", {}, sync_id="sync_down", settings=settings)
    with pytest.raises(
        DestinationError, match=r"sync sync_down.*'bucket'.*endpoint unreachable after 3"
    ):
        dest.put_bytes("k", b"v")


def test_write_only_credentials_export_and_refuse_list_delete(moto_iam, tmp_path):
    """moto's IAM enforcement (identity policy): the user may only s3:PutObject and
    s3:AbortMultipartUpload on <bucket>/exports/*."""
    settings = DestinationSettings(
        s3_endpoint_url=moto_iam.server.url,
        region="us-east-1",
        backoff_base_seconds=0.01,
        multipart_threshold=6 * MiB,
        part_size=5 * MiB,
        **moto_iam.writer,
    )
    dest = open_destination(
        f"s3://{moto_iam.bucket}/exports", {}, sync_id="sync_wo", settings=settings
    )
    dest.put_bytes("sync_wo/events/date=2024-05-01/_manifest.json", b"{}")
    data = random_file(tmp_path / "big", 11 * MiB)
    dest.put_file("sync_wo/events/date=2024-05-01/part-00000.parquet", tmp_path / "big")

    admin = moto_iam.admin_client()
    got = admin.get_object(
        Bucket=moto_iam.bucket, Key="exports/sync_wo/events/date=2024-05-01/part-00000.parquet"
    )
    assert got["Body"].read() == data
    with pytest.raises(PermissionError, match="sync_wo"):
        dest.list("sync_wo/")
    with pytest.raises(PermissionError, match="sync_wo"):
        dest.delete(["sync_wo/events/date=2024-05-01/_manifest.json"])
    with pytest.raises(PermissionError):
        dest.get_bytes("sync_wo/events/date=2024-05-01/_manifest.json")
    # outside the granted prefix: a permanent, named error
    outside = open_destination(
        f"s3://{moto_iam.bucket}/elsewhere", {}, sync_id="sync_wo", settings=settings
    )
    with pytest.raises(DestinationError) as info:
        outside.put_bytes("k", b"v")
    msg = str(info.value)
    assert "sync sync_wo" in msg and moto_iam.bucket in msg and "AccessDenied" in msg


def test_invalid_access_key_fails_with_named_cause(moto_iam):
    settings = DestinationSettings(
        s3_endpoint_url=moto_iam.server.url,
        region="us-east-1",
        aws_access_key_id="AKIAUNKNOWN000000000",
        aws_secret_access_key="nope",
    )
    dest = open_destination(
        f"s3://{moto_iam.bucket}/exports", {}, sync_id="sync_key", settings=settings
    )
    with pytest.raises(DestinationError, match=r"sync sync_key.*InvalidAccessKeyId"):
        dest.put_bytes("k", b"v")


def test_role_is_assumed_with_external_id(moto_iam):
    """Per-sync role: STS AssumeRole (as the admin identity, with the external id);
    the role's write-only policy then applies — list is refused, put allowed."""
    settings = DestinationSettings(
        s3_endpoint_url=moto_iam.server.url,
        region="us-east-1",
        **moto_iam.admin,
    )
    dest = open_destination(
        f"s3://{moto_iam.bucket}/exports",
        {"role_arn": moto_iam.role_arn, "external_id": "ws_test"},
        sync_id="sync_role",
        settings=settings,
    )
    dest.put_bytes("sync_role/x.json", b"{}")
    with pytest.raises(PermissionError):
        dest.list("sync_role/")
    head = moto_iam.admin_client().head_object(
        Bucket=moto_iam.bucket, Key="exports/sync_role/x.json"
    )
    assert head["ServerSideEncryption"] == "AES256"
    with pytest.raises(DestinationError, match=r"sync sync_role: cannot assume role .*ExternalId"):
        open_destination(
            f"s3://{moto_iam.bucket}/exports",
            {"role_arn": moto_iam.role_arn, "external_id": "another-workspace"},
            sync_id="sync_role",
            settings=settings,
        )


def test_settings_never_show_secrets():
    settings = DestinationSettings(aws_access_key_id="AKIA1", aws_secret_access_key="s3cr3t")
    assert "s3cr3t" not in repr(settings) and "AKIA1" not in repr(settings)


def test_open_destination_reads_the_environment(s3_env, s3_bucket):
    dest = open_destination(f"s3://{s3_bucket}/env", {"sse": "AES256"}, sync_id="sync_env")
    dest.put_bytes("hello.txt", b"hi")
    assert s3_env.client().get_object(Bucket=s3_bucket, Key="env/hello.txt")["Body"].read() == b"hi"


def test_dagster_resource_opens_the_sync(s3_env, s3_bucket):
    sync = Sync(
        id="sync_dg",
        workspace_id="ws",
        title="t",
        destination=f"s3://{s3_bucket}/dg",
        formats=["parquet"],
        compression="zstd",
        event_types=None,
        backfill_days=1,
        enabled=True,
        options={"sse": "AES256"},
    )

    @dg.asset
    def probe(destinations: DestinationsResource) -> None:
        destinations.open(sync).put_bytes("from-dagster.txt", b"ok")

    resource = DestinationsResource(
        s3=S3Resource(endpoint_url=s3_env.url, region_name="us-east-1", max_attempts=3),
    )
    result = dg.materialize([probe], resources={"destinations": resource})
    assert result.success
    head = s3_env.client().head_object(Bucket=s3_bucket, Key="dg/from-dagster.txt")
    assert head["ServerSideEncryption"] == "AES256"
    assert resource.settings().max_attempts == 3

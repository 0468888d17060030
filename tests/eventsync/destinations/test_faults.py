"""Faults between eventsync and real servers: a proxy on 127.0.0.1 (tests/faultproxy.py)
in front of moto_server, Ceph radosgw or fake-gcs-server answers 503 SlowDown, resets
connections before forwarding, or forwards and then drops the response. Every fault
injected is one retry the destination counts (``dest.retries``)."""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path

import pytest

from eventsync.destinations import DestinationError, DestinationSettings, open_destination
from tests.faultproxy import (
    RESET_AFTER,
    RESET_BEFORE,
    SLOWDOWN,
    FaultProxy,
    Request,
    Respond,
    random_faults,
)
from tests.fixtures.s3_servers import SMALL_MULTIPART, S3Target

MiB = 1024 * 1024


def via(settings: DestinationSettings, proxy: FaultProxy, **changes) -> DestinationSettings:  # type: ignore[no-untyped-def]
    return dataclasses.replace(
        settings,
        s3_endpoint_url=proxy.url,
        multipart_threshold=6 * MiB,
        part_size=5 * MiB,
        **changes,
    )


def is_upload_part(req: Request) -> bool:
    return req.method == "PUT" and "partNumber" in req.query


def test_s3_faults_still_end_in_one_intact_copy(
    s3_server: S3Target, s3_target_bucket: str, tmp_path: Path
) -> None:
    expected: dict[str, bytes] = {}
    big = os.urandom(12 * MiB + 5)
    (tmp_path / "big").write_bytes(big)
    with FaultProxy(s3_server.url, plan=random_faults(0.3, seed=11)) as proxy:
        dest = s3_server.destination(
            s3_server.rw,
            s3_target_bucket,
            prefix="f",
            sync_id="sync_f",
            options={"sse": "aws:kms", "kms_key_id": s3_server.kms_key_id},
            s3_endpoint_url=proxy.url,
            max_attempts=12,
            **SMALL_MULTIPART,
        )
        for i in range(30):
            body = f"object {i} ".encode() * (i + 1)
            assert dest.put_bytes(f"day/part-{i:05d}.jsonl", body).encryption == "aws:kms"
            expected[f"f/day/part-{i:05d}.jsonl"] = body
        dest.put_file("day/big.parquet", tmp_path / "big")
        expected["f/day/big.parquet"] = big
        dest.put_bytes("day/_manifest.json", b'{"ok": true}', create_only=True)
        expected["f/day/_manifest.json"] = b'{"ok": true}'

    # every kind of fault happened, and each one cost exactly one retry
    faults = {action: proxy.count(action) for action in (SLOWDOWN, RESET_BEFORE, RESET_AFTER)}
    assert all(faults.values()), faults
    assert dest.retries.total == sum(faults.values()), (dest.retries.by_code, faults)
    assert dest.retries.by_code["SlowDown"] == faults[SLOWDOWN]
    admin = s3_server.client()
    listed = admin.list_objects_v2(Bucket=s3_target_bucket, Prefix="f/")
    assert sorted(o["Key"] for o in listed["Contents"]) == sorted(expected)  # exactly these, once
    for key, body in expected.items():
        got = admin.get_object(Bucket=s3_target_bucket, Key=key)
        assert hashlib.sha256(got["Body"].read()).digest() == hashlib.sha256(body).digest(), key
        assert got["ServerSideEncryption"] == "aws:kms"
    assert not s3_server.uploads(s3_target_bucket)
    print(
        f"{s3_server.name}: {len(proxy.records)} requests, faults {faults}, "
        f"retries {dict(dest.retries.by_code)}"
    )


def test_s3_file_shrinking_during_upload_aborts(moto_server, s3_bucket, s3_settings, tmp_path):
    path: Path = tmp_path / "big"
    path.write_bytes(os.urandom(16 * MiB))

    def plan(req: Request) -> None:
        if is_upload_part(req) and req.query["partNumber"] == ["1"]:
            with path.open("r+b") as fh:
                fh.truncate(6 * MiB)  # another process rewrote the staged file
        return None

    with FaultProxy(moto_server.url, plan=plan) as proxy:
        dest = open_destination(
            f"s3://{s3_bucket}/s", {}, sync_id="sync_shrink", settings=via(s3_settings, proxy)
        )
        with pytest.raises(DestinationError, match="changed size during upload"):
            dest.put_file("big.parquet", path)
    admin = moto_server.client()
    assert not admin.list_multipart_uploads(Bucket=s3_bucket).get("Uploads")
    assert "Contents" not in admin.list_objects_v2(Bucket=s3_bucket, Prefix="s/")


def test_s3_kms_refusal_fails_at_once_with_named_cause(moto_server, s3_bucket, s3_settings):
    """moto does not check KMS key ids on S3 writes, so the proxy answers PutObject the
    way S3 does for an unknown key (400 KMS.NotFoundException)."""
    refusal = Respond(
        400,
        b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>KMS.NotFoundException</Code>'
        b"<Message>Invalid keyId alias/missing</Message></Error>",
    )
    with FaultProxy(
        moto_server.url, plan=lambda req: refusal if req.method == "PUT" else None
    ) as proxy:
        dest = open_destination(
            f"s3://{s3_bucket}/k",
            {"sse": "aws:kms", "kms_key_id": "alias/missing"},
            sync_id="sync_kms",
            settings=via(s3_settings, proxy),
        )
        with pytest.raises(DestinationError) as info:
            dest.put_bytes("x", b"v")
    msg = str(info.value)
    assert info.value.reason == "kms_key_refused"
    assert "sync sync_kms" in msg and s3_bucket in msg and "the KMS key does not exist" in msg
    assert len([r for r in proxy.records if r.method == "PUT"]) == 1  # permanent: not retried


def test_s3_throttling_is_retried_with_bounded_attempts(moto_server, s3_bucket, s3_settings):
    with FaultProxy(moto_server.url, plan=lambda req: SLOWDOWN) as proxy:
        dest = open_destination(
            f"s3://{s3_bucket}/t",
            {},
            sync_id="sync_thr",
            settings=via(s3_settings, proxy, max_attempts=4),
        )
        with pytest.raises(DestinationError, match=r"sync sync_thr.*SlowDown") as info:
            dest.put_bytes("x", b"v")
    assert info.value.reason == "throttled"
    assert len(proxy.records) == 4 and dest.retries.by_code == {"SlowDown": 3}


# --- GCS ------------------------------------------------------------------------------
GCS_503 = Respond(503, b'{"error": {"code": 503, "message": "Backend Error"}}', "application/json")
GCS_403 = Respond(
    403,
    b'{"error": {"code": 403, "message": "writer@p.iam.gserviceaccount.com does not have '
    b'storage.objects.list access to the Google Cloud Storage bucket."}}',
    "application/json",
)


def gcs_settings_via(fake_gcs, proxy: FaultProxy, **changes) -> DestinationSettings:  # type: ignore[no-untyped-def]
    return DestinationSettings(
        gcs_client_factory=fake_gcs.factory(proxy.url),
        backoff_base_seconds=0.01,
        backoff_max_seconds=0.1,
        gcs_resumable_threshold=1 * MiB,
        gcs_chunk_size=256 * 1024,
        **changes,
    )


def test_gcs_faults_still_end_in_one_intact_copy(fake_gcs, gcs_bucket, tmp_path):
    rng_plan = random_faults(0.2, seed=5, actions=(SLOWDOWN, RESET_BEFORE, RESET_AFTER))

    def plan(req: Request):  # type: ignore[no-untyped-def]
        action = rng_plan(req)
        return GCS_503 if action == SLOWDOWN else action

    big = os.urandom(2 * MiB + 3)
    (tmp_path / "big").write_bytes(big)
    expected = {}
    with FaultProxy(fake_gcs.url, plan=plan) as proxy:
        dest = open_destination(
            f"gs://{gcs_bucket}/f",
            {},
            sync_id="sync_gf",
            settings=gcs_settings_via(fake_gcs, proxy, max_attempts=15),
        )
        for i in range(20):
            body = f"object {i}".encode() * (i + 1)
            dest.put_bytes(f"day/part-{i:05d}.jsonl", body)
            expected[f"f/day/part-{i:05d}.jsonl"] = body
        dest.put_file("day/big.parquet", tmp_path / "big")
        expected["f/day/big.parquet"] = big
        dest.put_bytes("_deletions/req-1.json", b"{}", create_only=True)
        expected["f/_deletions/req-1.json"] = b"{}"
    faults = {action: proxy.count(action) for action in ("503", RESET_BEFORE, RESET_AFTER)}
    assert all(faults.values()), faults
    assert dest.retries.total == sum(faults.values()), (dest.retries.by_code, faults)
    print(
        f"gcs: {len(proxy.records)} requests, faults {faults}, retries {dict(dest.retries.by_code)}"
    )
    client = fake_gcs.client()
    names = sorted(b.name for b in client.list_blobs(gcs_bucket, prefix="f/"))
    assert names == sorted(expected)
    for name, body in expected.items():
        assert client.bucket(gcs_bucket).blob(name).download_as_bytes() == body, name


def test_gcs_denied_list_and_delete_are_permission_errors(fake_gcs, gcs_bucket):
    """fake-gcs-server has no IAM; the proxy answers list/delete as GCS does for a role
    with only storage.objects.create (403)."""

    def plan(req: Request):  # type: ignore[no-untyped-def]
        if req.method in ("DELETE", "GET"):
            return GCS_403
        return None

    with FaultProxy(fake_gcs.url, plan=plan) as proxy:
        dest = open_destination(
            f"gs://{gcs_bucket}/w",
            {},
            sync_id="sync_gw",
            settings=gcs_settings_via(fake_gcs, proxy),
        )
        dest.put_bytes("day/_manifest.json", b"{}")
        with pytest.raises(PermissionError, match=r"sync sync_gw.*access denied"):
            dest.list("day/")
        with pytest.raises(PermissionError, match="sync_gw"):
            dest.delete(["day/_manifest.json"])
    assert fake_gcs.client().bucket(gcs_bucket).blob("w/day/_manifest.json").exists()

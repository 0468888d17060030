"""What only Ceph radosgw shows (moto does not check these), and the Ceph fixture
itself: it starts, it stops every daemon, and a machine without Ceph fails saying
what to install."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from eventsync.destinations import DestinationError
from tests.fixtures.ceph import PACKAGES, CephS3, CephStartError, start_ceph, start_ceph_in_temp


def test_unknown_kms_key_is_refused_at_once(ceph_s3: CephS3, ceph_bucket: str) -> None:
    """Ceph answers 403 InvalidAccessKeyId "Failed to retrieve the actual key, kms-keyid"
    for a key its KMS does not know: that is a key refusal, not bad credentials."""
    dest = ceph_s3.destination(
        ceph_s3.writer,
        ceph_bucket,
        options={"sse": "aws:kms", "kms_key_id": "no-such-key"},
        sync_id="sync_kms",
    )
    with pytest.raises(DestinationError) as info:
        dest.put_bytes("x.json", b"{}")
    assert info.value.reason == "kms_key_refused"
    assert "sync sync_kms" in str(info.value) and "no-such-key" in str(info.value)
    assert dest.retries.total == 0  # permanent: not retried


def test_ceph_16_cannot_apply_sse_s3(ceph_s3: CephS3, ceph_bucket: str) -> None:
    """Why the contract expects SSE-S3 to be refused on Ceph: the AES256 header is
    accepted and ignored, and bucket default encryption is not supported at all."""
    admin = ceph_s3.client()
    put = admin.put_object(
        Bucket=ceph_bucket, Key="exports/plain", Body=b"x", ServerSideEncryption="AES256"
    )
    assert "ServerSideEncryption" not in put
    assert "ServerSideEncryption" not in admin.head_object(Bucket=ceph_bucket, Key="exports/plain")
    with pytest.raises(ClientError) as info:
        admin.put_bucket_encryption(
            Bucket=ceph_bucket,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
            },
        )
    assert info.value.response["Error"]["Code"] == "InvalidArgument"


@pytest.mark.slow
def test_the_fixture_stops_every_daemon_it_started() -> None:
    # As the session fixture does: once more on new ports if another cluster of the
    # machine took one of them (its mon then refuses ours: "EPERM ... from mon").
    cluster = start_ceph_in_temp()
    root = cluster.root
    pids = [p.pid for p in cluster.procs.values()]
    assert set(cluster.procs) == {"mon.a", "osd.0", "client.rgw.a"}
    assert all(code is None for code in cluster.alive().values())
    cluster.stop()
    assert all(code is not None for code in cluster.alive().values())
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert not root.exists()


def test_a_machine_without_ceph_fails_naming_the_packages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(CephStartError, match=f"install the Debian packages `{PACKAGES}`"):
        start_ceph(tmp_path / "c")

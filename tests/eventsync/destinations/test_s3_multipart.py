"""No orphan multipart uploads: an export process SIGKILLed in the middle of a
multipart upload leaves it unfinished; `abort_stale_uploads` removes it where the
credentials may list uploads, and says "not permitted" where they may not (then the
bucket's lifecycle rule does). On moto_server and Ceph (tests/fixtures/s3_servers.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.faultproxy import RESET_BEFORE, FaultProxy, Request
from tests.fixtures.ceph import CephS3
from tests.fixtures.s3_servers import SMALL_MULTIPART, S3Target

MiB = 1024 * 1024
DAY = "sync_k/events/date=2024-05-01/"

# The export side of the kill: a separate process uploading one big file.
CHILD = """
import json, sys
from pathlib import Path
from eventsync.destinations import DestinationSettings, open_destination
a = json.loads(sys.argv[1])
settings = DestinationSettings(s3_endpoint_url=a["url"], region="us-east-1", max_attempts=1,
                               multipart_threshold=a["threshold"], part_size=a["part"], **a["keys"])
dest = open_destination(a["uri"], a["options"], sync_id="sync_k", settings=settings)
dest.put_file(a["key"], Path(a["path"]), metadata={"eventsync-export": "export-1"})
"""


def kill_during_multipart(server: S3Target, bucket: str, keys: dict[str, str], tmp: Path) -> str:
    """Start an upload of 3 parts in a child process, SIGKILL it while part 2 is on the
    wire (held by the proxy), and return the object key left with an unfinished upload."""
    (tmp / "big").write_bytes(os.urandom(11 * MiB))
    reached, release = threading.Event(), threading.Event()

    def plan(req: Request) -> str | None:
        if req.method == "PUT" and req.query.get("partNumber") == ["2"]:
            reached.set()
            release.wait(60)
            return RESET_BEFORE  # the part never arrives
        return None

    with FaultProxy(server.url, plan=plan) as proxy:
        args = {
            "url": proxy.url,
            "keys": keys,
            "uri": f"s3://{bucket}/exports",
            "options": {"sse": "aws:kms", "kms_key_id": server.kms_key_id},
            "key": f"{DAY}part-00000.parquet",
            "path": str(tmp / "big"),
            "threshold": SMALL_MULTIPART["multipart_threshold"],
            "part": SMALL_MULTIPART["part_size"],
        }
        child = subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(args)])
        try:
            assert reached.wait(60), "the child never reached part 2"
            os.kill(child.pid, signal.SIGKILL)
            assert child.wait(30) == -signal.SIGKILL
        finally:
            release.set()
            if child.poll() is None:
                child.kill()
                child.wait()
    return f"exports/{DAY}part-00000.parquet"


@pytest.mark.slow  # SIGKILLs an exporting child process
def test_read_write_user_aborts_the_upload_a_killed_run_left(
    s3_server: S3Target, s3_target_bucket: str, tmp_path: Path
) -> None:
    key = kill_during_multipart(s3_server, s3_target_bucket, s3_server.writer, tmp_path)
    assert [u["Key"] for u in s3_server.uploads(s3_target_bucket)] == [key]

    dest = s3_server.destination(s3_server.rw, s3_target_bucket, sync_id="sync_k")
    result = dest.abort_stale_uploads(
        DAY, initiated_before=datetime.now(UTC) + timedelta(seconds=5)
    )
    assert result.permitted and result.aborted == [key] and not result.failed
    assert s3_server.uploads(s3_target_bucket) == []
    listed = s3_server.client().list_objects_v2(Bucket=s3_target_bucket, Prefix="exports/")
    assert "Contents" not in listed  # the killed run's object never appeared


@pytest.mark.slow  # SIGKILLs an exporting child process
def test_write_only_user_reports_not_permitted(
    s3_server: S3Target, s3_target_bucket: str, tmp_path: Path
) -> None:
    key = kill_during_multipart(s3_server, s3_target_bucket, s3_server.writer, tmp_path)
    dest = s3_server.destination(s3_server.writer, s3_target_bucket, sync_id="sync_k")
    result = dest.abort_stale_uploads(DAY)
    assert not result.permitted and result.aborted == []
    assert "not permitted" in result.note and "AbortIncompleteMultipartUpload" in result.note
    uploads = s3_server.uploads(s3_target_bucket)
    assert [u["Key"] for u in uploads] == [key]  # left to the bucket's lifecycle rule
    s3_server.client().abort_multipart_upload(
        Bucket=s3_target_bucket, Key=key, UploadId=uploads[0]["UploadId"]
    )


def test_only_uploads_under_the_prefix_are_aborted(
    s3_server: S3Target, s3_target_bucket: str
) -> None:
    admin = s3_server.client()
    other = admin.create_multipart_upload(
        Bucket=s3_target_bucket, Key="exports/sync_k/events/date=2024-05-02/part-00000.parquet"
    )
    mine = admin.create_multipart_upload(Bucket=s3_target_bucket, Key=f"exports/{DAY}x.parquet")
    dest = s3_server.destination(s3_server.rw, s3_target_bucket, sync_id="sync_k")
    result = dest.abort_stale_uploads(DAY)
    assert result.aborted == [mine["Key"]]
    assert [u["UploadId"] for u in s3_server.uploads(s3_target_bucket)] == [other["UploadId"]]


def test_uploads_started_after_the_cutoff_are_kept(ceph_s3: CephS3, ceph_bucket: str) -> None:
    """A run passes its own start time: an upload another live run started later stays.
    (On Ceph: moto reports one fixed Initiated date for every upload.)"""
    before = datetime.now(UTC) - timedelta(minutes=1)
    admin = ceph_s3.client()
    started = admin.create_multipart_upload(Bucket=ceph_bucket, Key=f"exports/{DAY}y.parquet")
    dest = ceph_s3.destination(ceph_s3.rw, ceph_bucket, sync_id="sync_k")
    result = dest.abort_stale_uploads(DAY, initiated_before=before)
    assert (result.permitted, result.aborted, result.kept) == (True, [], 1)
    result = dest.abort_stale_uploads(
        DAY, initiated_before=datetime.now(UTC) + timedelta(minutes=1)
    )
    assert result.aborted == [started["Key"]]


@pytest.mark.parametrize("user", ["rw", "writer"])
def test_a_failed_part_aborts_the_upload_at_once(
    s3_server: S3Target, s3_target_bucket: str, tmp_path: Path, user: str
) -> None:
    """Abort needs only s3:AbortMultipartUpload, which the write-only user has."""
    (tmp_path / "big").write_bytes(os.urandom(11 * MiB))

    def plan(req: Request) -> str | None:
        return RESET_BEFORE if req.query.get("partNumber") == ["2"] else None

    with FaultProxy(s3_server.url, plan=plan) as proxy:
        dest = s3_server.destination(
            getattr(s3_server, user),
            s3_target_bucket,
            options={"sse": "aws:kms", "kms_key_id": s3_server.kms_key_id},
            s3_endpoint_url=proxy.url,
            max_attempts=2,
            **SMALL_MULTIPART,
        )
        with pytest.raises(Exception, match=r"sync sync_c.*part 2") as info:
            dest.put_file("day/big.parquet", tmp_path / "big")
    assert getattr(info.value, "reason", None) == "unavailable"
    assert any(r.method == "DELETE" and "uploadId" in r.query for r in proxy.records)
    assert s3_server.uploads(s3_target_bucket) == []
    listed = s3_server.client().list_objects_v2(Bucket=s3_target_bucket, Prefix="exports/")
    assert "Contents" not in listed

"""Opening a sync's destination from its URI: a local folder, or an S3/GCS client built
from non-secret settings read from the environment (credentials stay in the SDKs' own
chains); S3 objects are encrypted (SSE-S3) unless the sync says otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from eventsync.destinations import DestinationSettings, LocalDestination, open_destination
from eventsync.destinations.s3.bucket import S3Destination

MiB = 1024 * 1024


def test_a_path_opens_the_local_folder(tmp_path: Path) -> None:
    dest = open_destination(str(tmp_path / "exports"), sync_id="sync_a")
    assert isinstance(dest, LocalDestination)
    dest.put_bytes("sync_a/_schema.json", b"{}")
    assert (tmp_path / "exports" / "sync_a" / "_schema.json").read_bytes() == b"{}"


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "EVENTSYNC_S3_ENDPOINT_URL": "http://127.0.0.1:9000",
        "AWS_REGION": "eu-central-1",
        "EVENTSYNC_DEST_MAX_ATTEMPTS": "3",
        "EVENTSYNC_MULTIPART_THRESHOLD_MB": "8",
        "EVENTSYNC_MULTIPART_PART_MB": "5",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("EVENTSYNC_STS_ENDPOINT_URL", raising=False)
    settings = DestinationSettings.from_env()
    assert (settings.s3_endpoint_url, settings.sts_endpoint_url) == ("http://127.0.0.1:9000",) * 2
    assert (settings.region, settings.max_attempts) == ("eu-central-1", 3)
    assert (settings.multipart_threshold, settings.part_size) == (8 * MiB, 5 * MiB)


def test_an_s3_sync_is_encrypted_with_sse_s3_unless_it_names_a_kms_key() -> None:
    settings = DestinationSettings(
        s3_endpoint_url="http://127.0.0.1:9",
        region="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    plain = open_destination("s3://bucket/exports", {}, sync_id="sync_a", settings=settings)
    assert isinstance(plain, S3Destination) and (plain.sse, plain.kms_key_id) == ("AES256", None)
    kms = {"sse": "aws:kms", "kms_key_id": "key-1"}
    keyed = open_destination("s3://bucket/exports", kms, sync_id="sync_a", settings=settings)
    assert (keyed.sse, keyed.kms_key_id) == ("aws:kms", "key-1")

"""GCS destination against the real fake-gcs-server over HTTP (tests/fixtures/gcs.py)."""

from __future__ import annotations

import dataclasses
import json
import os
from urllib.parse import parse_qs, urlsplit

import pytest

from eventsync.destinations import (
    DestinationError,
    DestinationExistsError,
    DestinationSettings,
    open_destination,
)
from eventsync.destinations.gcs import GCSDestination
from tests.faultproxy import FaultProxy, Headers, Request, Rewrite

MiB = 1024 * 1024
KMS = "projects/p/locations/us/keyRings/r/cryptoKeys/eventsync"


@pytest.fixture
def gcs_settings(fake_gcs) -> DestinationSettings:
    return DestinationSettings(
        gcs_client_factory=fake_gcs.factory(),
        backoff_base_seconds=0.01,
        backoff_max_seconds=0.1,
        gcs_resumable_threshold=1 * MiB,
        gcs_chunk_size=256 * 1024,
    )


def test_round_trip_put_list_get_delete(fake_gcs, gcs_bucket, gcs_settings, tmp_path):
    dest = open_destination(
        f"gs://{gcs_bucket}/exports", {}, sync_id="sync_g", settings=gcs_settings
    )
    assert isinstance(dest, GCSDestination)
    day = "sync_g/events/date=2024-05-01"
    dest.put_bytes(f"{day}/_manifest.json", b'{"files": []}', "application/json")
    (tmp_path / "part").write_bytes(b"parquet bytes")
    dest.put_file(f"{day}/part-00000.parquet", tmp_path / "part")
    dest.put_bytes("sync_g/events/date=2024-05-02/part-00000.parquet", b"x")
    assert dest.list(f"{day}/") == [f"{day}/_manifest.json", f"{day}/part-00000.parquet"]
    assert dest.get_bytes(f"{day}/part-00000.parquet") == b"parquet bytes"
    blob = fake_gcs.client().bucket(gcs_bucket).get_blob(f"exports/{day}/_manifest.json")
    assert blob.content_type == "application/json"
    dest.delete([f"{day}/part-00000.parquet", f"{day}/never-existed"])
    assert dest.list(f"{day}/") == [f"{day}/_manifest.json"]
    with pytest.raises(FileNotFoundError, match="sync_g"):
        dest.get_bytes(f"{day}/part-00000.parquet")


def reports_kms_key() -> Rewrite:
    """What GCS answers for an upload with ?kmsKeyName=K: the object resource names the
    key version (a resumable upload: the answer to its last chunk, for the key its
    session was opened with). fake-gcs-server accepts kmsKeyName but neither stores nor
    reports it."""
    sessions: dict[str, str] = {}

    def rewrite(req: Request, status: int, headers: Headers, body: bytes) -> tuple[Headers, bytes]:
        key = (req.query.get("kmsKeyName") or [None])[0]
        location = dict((k.lower(), v) for k, v in headers).get("location", "")
        if key and "upload_id=" in location:
            sessions[parse_qs(urlsplit(location).query)["upload_id"][0]] = key
        key = key or sessions.get((req.query.get("upload_id") or [""])[0])
        if key and status == 200 and body.startswith(b"{"):
            resource = json.loads(body)
            if resource.get("kind") == "storage#object":
                resource["kmsKeyName"] = f"{key}/cryptoKeyVersions/1"
                return headers, json.dumps(resource).encode()
        return headers, body

    return rewrite


def test_cmek_key_name_sent_with_every_upload_and_verified(
    fake_gcs, gcs_bucket, gcs_settings, tmp_path
):
    """Every upload, multipart and resumable, names the CMEK key on the wire as the GCS
    JSON API expects (?kmsKeyName=...), and the key the answer reports is checked."""
    (tmp_path / "big").write_bytes(os.urandom(2 * MiB))
    with FaultProxy(fake_gcs.url, rewrite=reports_kms_key()) as proxy:
        settings = dataclasses.replace(gcs_settings, gcs_client_factory=fake_gcs.factory(proxy.url))
        dest = open_destination(
            f"gs://{gcs_bucket}/cmek",
            {"gcs_kms_key_name": KMS},
            sync_id="sync_cmek",
            settings=settings,
        )
        receipts = [dest.put_bytes("a.json", b"{}"), dest.put_file("big.bin", tmp_path / "big")]
    uploads = [r for r in proxy.records if r.method == "POST" and r.path.startswith("/upload/")]
    assert {r.query["uploadType"][0] for r in uploads} == {"multipart", "resumable"}
    assert all(r.query.get("kmsKeyName") == [KMS] for r in uploads), uploads
    for r in receipts:
        assert r.verified and r.kms_key == f"{KMS}/cryptoKeyVersions/1", r
    bucket = fake_gcs.client().bucket(gcs_bucket)
    assert bucket.blob("cmek/big.bin").download_as_bytes() == (tmp_path / "big").read_bytes()
    assert bucket.get_blob("cmek/a.json").metadata == {"eventsync-sync": "sync_cmek"}


def test_cmek_not_reported_fails_naming_the_object(fake_gcs, gcs_bucket, gcs_settings, tmp_path):
    """fake-gcs-server answered without the key: exactly what a bucket that ignored it
    would say. The write fails (encryption_not_applied) and the object is removed."""
    dest = open_destination(
        f"gs://{gcs_bucket}/cmek",
        {"gcs_kms_key_name": KMS},
        sync_id="sync_nk",
        settings=gcs_settings,
    )
    with pytest.raises(DestinationError) as info:
        dest.put_bytes("a.json", b"{}")
    assert info.value.reason == "encryption_not_applied"
    msg = str(info.value)
    assert f"gs://{gcs_bucket}/cmek/a.json" in msg and KMS in msg and "was removed" in msg
    assert not fake_gcs.client().bucket(gcs_bucket).blob("cmek/a.json").exists()


def test_gcs_without_credentials_is_one_classified_error(monkeypatch, tmp_path):
    from google.auth.compute_engine import _metadata

    monkeypatch.setattr(_metadata, "_NO_GCE_CHECK", True)  # never ask a metadata server
    for name in ("GOOGLE_APPLICATION_CREDENTIALS", "STORAGE_EMULATOR_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))
    with pytest.raises(DestinationError, match=r"sync s_g: cannot open gs://b/x") as info:
        open_destination("gs://b/x", {}, sync_id="s_g", settings=DestinationSettings())
    assert info.value.reason == "bad_credentials"
    assert "DefaultCredentialsError" in str(info.value)


def test_large_file_goes_up_resumable_in_chunks(fake_gcs, gcs_bucket, gcs_settings, tmp_path):
    data = os.urandom(3 * MiB + 17)
    (tmp_path / "big").write_bytes(data)
    with FaultProxy(fake_gcs.url) as proxy:
        settings = dataclasses.replace(gcs_settings, gcs_client_factory=fake_gcs.factory(proxy.url))
        dest = open_destination(f"gs://{gcs_bucket}/r", {}, sync_id="sync_r", settings=settings)
        dest.put_file("big.bin", tmp_path / "big")
    starts = [
        r
        for r in proxy.records
        if r.method == "POST" and r.query.get("uploadType") == ["resumable"]
    ]
    chunks = [r for r in proxy.records if r.method == "PUT"]
    assert len(starts) == 1
    assert len(chunks) == -(-len(data) // (256 * 1024))  # one PUT per 256 KiB chunk
    assert fake_gcs.client().bucket(gcs_bucket).blob("r/big.bin").download_as_bytes() == data


def test_create_only_never_clobbers(fake_gcs, gcs_bucket, gcs_settings):
    dest = open_destination(f"gs://{gcs_bucket}/t", {}, sync_id="sync_t", settings=gcs_settings)
    dest.put_bytes("_deletions/r1.json", b"first", create_only=True)
    with pytest.raises(DestinationExistsError, match="sync_t") as info:
        dest.put_bytes("_deletions/r1.json", b"second", create_only=True)
    assert isinstance(info.value, FileExistsError) and info.value.reason == "exists"
    assert dest.get_bytes("_deletions/r1.json") == b"first"


def test_missing_bucket_names_sync_bucket_and_cause(gcs_settings):
    dest = open_destination(
        "gs://no-such-gcs-bucket/x", {}, sync_id="sync_nb", settings=gcs_settings
    )
    with pytest.raises(DestinationError) as info:
        dest.put_bytes("k", b"v")
    msg = str(info.value)
    assert info.value.reason == "no_such_bucket"
    assert "sync sync_nb" in msg and "no-such-gcs-bucket" in msg and "does not exist" in msg


def test_environment_path_uses_storage_emulator_host(fake_gcs, gcs_bucket, monkeypatch):
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", fake_gcs.url)
    monkeypatch.setenv("EVENTSYNC_GCS_PROJECT", "eventsync-test")
    dest = open_destination(f"gs://{gcs_bucket}/env", {}, sync_id="sync_env")
    dest.put_bytes("hello.txt", b"hi")
    assert fake_gcs.client().bucket(gcs_bucket).blob("env/hello.txt").download_as_bytes() == b"hi"

"""GCS destination against the real fake-gcs-server over HTTP (tests/fixtures/gcs.py)."""

from __future__ import annotations

import dataclasses
import os

import dagster as dg
import pytest
from dagster_gcp import GCSResource

from pipeline.syncs.config import Sync
from resources.destinations import (
    DestinationError,
    DestinationSettings,
    DestinationsResource,
    open_destination,
)
from resources.destinations.gcs import GCSDestination
from tests.faultproxy import FaultProxy

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


def test_cmek_key_name_sent_with_every_upload(fake_gcs, gcs_bucket, gcs_settings, tmp_path):
    """fake-gcs-server accepts but does not store kmsKeyName, so the test reads the
    requests on the wire (a pass-through proxy): every upload, multipart and
    resumable, names the CMEK key as the GCS JSON API expects (?kmsKeyName=...)."""
    (tmp_path / "big").write_bytes(os.urandom(2 * MiB))
    with FaultProxy(fake_gcs.url) as proxy:
        settings = dataclasses.replace(gcs_settings, gcs_client_factory=fake_gcs.factory(proxy.url))
        dest = open_destination(
            f"gs://{gcs_bucket}/cmek",
            {"gcs_kms_key_name": KMS},
            sync_id="sync_cmek",
            settings=settings,
        )
        dest.put_bytes("a.json", b"{}")
        dest.put_file("big.bin", tmp_path / "big")
    uploads = [r for r in proxy.records if r.method == "POST" and r.path.startswith("/upload/")]
    assert {r.query["uploadType"][0] for r in uploads} == {"multipart", "resumable"}
    assert all(r.query.get("kmsKeyName") == [KMS] for r in uploads), uploads
    bucket = fake_gcs.client().bucket(gcs_bucket)
    assert bucket.blob("cmek/big.bin").download_as_bytes() == (tmp_path / "big").read_bytes()


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
    with pytest.raises(FileExistsError, match="sync_t"):
        dest.put_bytes("_deletions/r1.json", b"second", create_only=True)
    assert dest.get_bytes("_deletions/r1.json") == b"first"


def test_missing_bucket_names_sync_bucket_and_cause(gcs_settings):
    dest = open_destination(
        "gs://no-such-gcs-bucket/x", {}, sync_id="sync_nb", settings=gcs_settings
    )
    with pytest.raises(DestinationError) as info:
        dest.put_bytes("k", b"v")
    msg = str(info.value)
    assert "sync sync_nb" in msg and "no-such-gcs-bucket" in msg and "does not exist" in msg


def test_environment_path_uses_storage_emulator_host(fake_gcs, gcs_bucket, monkeypatch):
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", fake_gcs.url)
    monkeypatch.setenv("EVENTSYNC_GCS_PROJECT", "eventsync-test")
    dest = open_destination(f"gs://{gcs_bucket}/env", {}, sync_id="sync_env")
    dest.put_bytes("hello.txt", b"hi")
    assert fake_gcs.client().bucket(gcs_bucket).blob("env/hello.txt").download_as_bytes() == b"hi"


def test_dagster_resource_opens_a_gcs_sync(fake_gcs, gcs_bucket, monkeypatch):
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", fake_gcs.url)
    sync = Sync(
        id="sync_dgg",
        workspace_id="ws",
        title="t",
        destination=f"gs://{gcs_bucket}/dg",
        formats=["parquet"],
        compression="zstd",
        event_types=None,
        backfill_days=1,
        enabled=True,
        options={},
    )

    @dg.asset
    def probe(destinations: DestinationsResource) -> None:
        destinations.open(sync).put_bytes("from-dagster.txt", b"ok")

    resource = DestinationsResource(gcs=GCSResource(project="eventsync-test"))
    assert dg.materialize([probe], resources={"destinations": resource}).success
    blob = fake_gcs.client().bucket(gcs_bucket).get_blob("dg/from-dagster.txt")
    assert blob.download_as_bytes() == b"ok"

"""DestinationsResource (resources/destination_resources.py) opens a sync's destination inside
Dagster, against moto_server and fake-gcs-server."""

from __future__ import annotations

import dagster as dg
from dagster_aws.s3 import S3Resource
from dagster_gcp import GCSResource

from eventsync.destinations import DestinationSettings
from eventsync.settings import defaults
from eventsync.syncs.config import Sync
from resources import DestinationsResource


def sync_to(destination: str, sync_id: str, options: dict[str, str]) -> Sync:
    return Sync(
        id=sync_id,
        workspace_id="ws",
        title="t",
        destination=destination,
        formats=["parquet"],
        compression="zstd",
        event_types=None,
        backfill_days=1,
        enabled=True,
        options=options,
    )


def test_dagster_resource_opens_an_s3_sync(s3_env, s3_bucket):
    sync = sync_to(f"s3://{s3_bucket}/dg", "sync_dg", {"sse": "AES256"})

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


def test_the_resource_s_defaults_are_the_settings_model_s(monkeypatch) -> None:
    """A dagster-aws resource brings only the fields it was given (not its default of 5
    attempts); from_env() takes the environment's values."""
    model = defaults()
    settings = DestinationsResource(s3=S3Resource(endpoint_url="http://127.0.0.1:9")).settings()
    assert settings == DestinationSettings(
        s3_endpoint_url="http://127.0.0.1:9",
        sts_endpoint_url="http://127.0.0.1:9",
        gcs_client_factory=settings.gcs_client_factory,
    )
    assert settings.max_attempts == model.dest_max_attempts is None
    assert settings.retry_seconds == model.dest_retry_seconds >= 90
    monkeypatch.setenv("EVENTSYNC_DEST_RETRY_SECONDS", "300")
    monkeypatch.setenv("EVENTSYNC_DEST_MAX_ATTEMPTS", "40")
    monkeypatch.setenv("EVENTSYNC_MULTIPART_PART_MB", "8")
    env = DestinationsResource.from_env().settings()
    assert (env.retry_seconds, env.max_attempts, env.part_size) == (300, 40, 8 * 1024 * 1024)


def test_dagster_resource_opens_a_gcs_sync(fake_gcs, gcs_bucket, monkeypatch):
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", fake_gcs.url)
    sync = sync_to(f"gs://{gcs_bucket}/dg", "sync_dgg", {})

    @dg.asset
    def probe(destinations: DestinationsResource) -> None:
        destinations.open(sync).put_bytes("from-dagster.txt", b"ok")

    resource = DestinationsResource(gcs=GCSResource(project="eventsync-test"))
    assert dg.materialize([probe], resources={"destinations": resource}).success
    blob = fake_gcs.client().bucket(gcs_bucket).get_blob("dg/from-dagster.txt")
    assert blob.download_as_bytes() == b"ok"

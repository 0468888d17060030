"""A day exported through Dagster (events_daily -> events_export) to S3 (moto_server)
and GCS (fake-gcs-server) reads back — with pyarrow's S3FileSystem and the
google-cloud-storage client, not our reader — with the same rows as the local export."""

from __future__ import annotations

import hashlib
import io
import json
from urllib.parse import urlsplit

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from pyarrow import fs

from eventsync.engine import layout
from eventsync.ingest import insert_event_rows
from eventsync.syncs.config import create_sync, update_sync
from eventsync.workspaces import create_workspace
from resources import build_resources
from tests.factories import event_row, insert_day
from tests.fixtures.dagster_env import materialize_day

DAY = "2026-11-20"


@pytest.fixture
def cloud_env(s3_env, fake_gcs, monkeypatch):
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", fake_gcs.url)
    monkeypatch.setenv("EVENTSYNC_GCS_PROJECT", "eventsync-test")
    return s3_env, fake_gcs


def export(instance, sync_id: str, day: str = DAY) -> None:
    assert materialize_day(instance, build_resources(), day, sync_id).success


def rows(table) -> list[dict]:  # type: ignore[no-untyped-def]
    return sorted(table.to_pylist(), key=lambda r: r["event_id"])


def s3fs(moto) -> fs.S3FileSystem:  # type: ignore[no-untyped-def]
    return fs.S3FileSystem(
        access_key="testing",
        secret_key="testing",
        region="us-east-1",
        endpoint_override=urlsplit(moto.url).netloc,
        scheme="http",
    )


def test_day_on_s3_and_gcs_matches_the_local_export(
    engine, instance, cloud_env, s3_bucket, gcs_bucket, tmp_path
):
    moto, gcs = cloud_env
    ws = create_workspace(engine, "acme").workspace_id
    insert_day(engine, ws, DAY, 300, i7={"properties": "{broken"})
    kms_key = moto.client("kms").create_key()["KeyMetadata"]["KeyId"]
    local = create_sync(engine, ws, str(tmp_path / "local"), formats=["parquet", "jsonl"])
    s3 = create_sync(
        engine,
        ws,
        f"s3://{s3_bucket}/eventsync",
        formats=["parquet", "jsonl"],
        options={"sse": "aws:kms", "kms_key_id": kms_key},
    )
    gs = create_sync(engine, ws, f"gs://{gcs_bucket}/eventsync", formats=["parquet", "jsonl"])
    for sync in (local, s3, gs):
        export(instance, sync.id)

    expected = rows(
        pq.read_table(tmp_path / "local" / layout.part_key(local.id, "parquet", DAY, "zstd"))
    )
    assert len(expected) == 299  # the broken row is quarantined

    # S3, read with pyarrow's own S3 filesystem
    # the sync's Parquet folder, read as a hive-partitioned dataset
    got = ds.dataset(
        f"{s3_bucket}/eventsync/{layout.data_folder(s3.id, 'parquet')}",
        filesystem=s3fs(moto),
        format="parquet",
        partitioning="hive",
    ).to_table()
    assert rows(got.drop_columns(["date"])) == expected
    assert set(got.column("date").to_pylist()) == {DAY}
    admin = moto.client()
    listed = admin.list_objects_v2(Bucket=s3_bucket, Prefix=f"eventsync/{s3.id}/")["Contents"]
    assert listed
    for obj in listed:  # every object, manifest and schema doc included
        head = admin.head_object(Bucket=s3_bucket, Key=obj["Key"])
        assert head["ServerSideEncryption"] == "aws:kms" and kms_key in head["SSEKMSKeyId"], obj[
            "Key"
        ]
    manifest = json.loads(
        admin.get_object(Bucket=s3_bucket, Key=f"eventsync/{layout.manifest_key(s3.id, DAY)}")[
            "Body"
        ].read()
    )
    for f in manifest["files"]:
        body = admin.get_object(Bucket=s3_bucket, Key=f"eventsync/{f['key']}")["Body"].read()
        assert hashlib.sha256(body).hexdigest() == f["sha256"]

    # GCS, read with the google-cloud-storage client
    bucket = gcs.client().bucket(gcs_bucket)
    data = bucket.blob(
        f"eventsync/{layout.part_key(gs.id, 'parquet', DAY, 'zstd')}"
    ).download_as_bytes()
    assert rows(pq.read_table(io.BytesIO(data))) == expected
    names = {b.name for b in gcs.client().list_blobs(gcs_bucket, prefix=f"eventsync/{gs.id}/")}
    assert f"eventsync/{layout.manifest_key(gs.id, DAY)}" in names


def test_reexport_after_rows_changed_leaves_only_new_files_and_no_duplicates(
    engine, instance, cloud_env, s3_bucket
):
    moto, _ = cloud_env
    ws = create_workspace(engine, "acme").workspace_id
    insert_day(engine, ws, DAY, 100)
    sync = create_sync(engine, ws, f"s3://{s3_bucket}/x", formats=["parquet", "csv"])
    export(instance, sync.id)
    with engine.begin() as conn:  # late events for the same day
        insert_event_rows(conn, [event_row(ws, DAY, i) for i in range(100, 140)])
    update_sync(engine, sync.id, formats=["parquet"])  # and the csv part becomes stale
    export(instance, sync.id)

    admin = moto.client()
    part = layout.part_key(sync.id, "parquet", DAY, "zstd")
    keys = sorted(
        o["Key"]
        for o in admin.list_objects_v2(Bucket=s3_bucket, Prefix=f"x/{sync.id}/")["Contents"]
        if "/_schema." not in o["Key"]
    )
    assert keys == [f"x/{layout.manifest_key(sync.id, DAY)}", f"x/{part}"]
    manifest = json.loads(
        admin.get_object(Bucket=s3_bucket, Key=f"x/{layout.manifest_key(sync.id, DAY)}")[
            "Body"
        ].read()
    )
    assert manifest["rows"] == 140 and [f["key"] for f in manifest["files"]] == [part]
    # every file under the day, read by pyarrow: 140 distinct events, no duplicates
    folder = f"{s3_bucket}/x/{layout.day_folder(sync.id, 'parquet', DAY)}"
    table = ds.dataset(folder, filesystem=s3fs(moto), format="parquet").to_table()
    ids = table.column("event_id").to_pylist()
    assert len(ids) == len(set(ids)) == 140


def test_write_only_s3_export_keeps_manifest_consistent(engine, instance, moto_iam, monkeypatch):
    """moto IAM enforcement: the exporter may only PutObject/AbortMultipartUpload."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", moto_iam.writer["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", moto_iam.writer["aws_secret_access_key"])
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("EVENTSYNC_S3_ENDPOINT_URL", moto_iam.server.url)
    ws = create_workspace(engine, "acme").workspace_id
    insert_day(engine, ws, DAY, 50)
    sync = create_sync(engine, ws, f"s3://{moto_iam.bucket}/exports", formats=["parquet", "jsonl"])
    export(instance, sync.id)
    update_sync(engine, sync.id, formats=["parquet"])
    export(instance, sync.id)  # cannot delete the old jsonl part: it stays, unreferenced

    admin = moto_iam.admin_client()
    listed = admin.list_objects_v2(Bucket=moto_iam.bucket, Prefix=f"exports/{sync.id}/")
    keys = {o["Key"] for o in listed["Contents"]}
    stale = f"exports/{layout.part_key(sync.id, 'jsonl', DAY, 'gzip')}"
    assert stale in keys  # stale, kept (no delete permission)
    manifest = json.loads(
        admin.get_object(
            Bucket=moto_iam.bucket, Key=f"exports/{layout.manifest_key(sync.id, DAY)}"
        )["Body"].read()
    )
    assert [f["key"] for f in manifest["files"]] == [
        layout.part_key(sync.id, "parquet", DAY, "zstd")
    ]

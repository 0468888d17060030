"""`check_destination` / `eventsync sync test S` against real servers: moto_server and
Ceph radosgw (tests/fixtures/s3_servers.py), fake-gcs-server, a local folder."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from eventsync.cli import main
from eventsync.destinations import DestinationSettings, open_destination
from eventsync.destinations.probe import PROBE_PREFIX, check_destination
from eventsync.engine import layout
from eventsync.syncs.config import create_sync
from eventsync.workspaces import create_workspace
from tests.faultproxy import FaultProxy, Respond
from tests.fixtures.ceph import CephS3
from tests.fixtures.ports import free_port
from tests.fixtures.s3_servers import S3Target


def test_s3_full_access_ok_encryption_confirmed_and_probe_removed(
    s3_server: S3Target, s3_target_bucket: str
) -> None:
    options = {"sse": "aws:kms", "kms_key_id": s3_server.kms_key_id}
    result = check_destination(
        s3_server.destination(s3_server.rw, s3_target_bucket, options=options)
    )
    assert result["ok"] and result["can_write"] and result["encryption_applied"] is True
    assert (result["can_list"], result["can_read"], result["can_delete"]) == (True, True, True)
    assert result["can_abort_stale_uploads"] is True
    assert result["encryption"] == {"sse": "aws:kms", "kms_key_id": s3_server.kms_key_id}
    assert any("confirmed the encryption" in n for n in result["notes"])
    assert result["probe_key"].startswith(PROBE_PREFIX)
    listed = s3_server.client().list_objects_v2(Bucket=s3_target_bucket, Prefix="exports/")
    assert "Contents" not in listed


def test_s3_write_only_is_ok_with_notes(s3_server: S3Target, s3_target_bucket: str) -> None:
    options = {"sse": "aws:kms", "kms_key_id": s3_server.kms_key_id}
    destination = s3_server.destination(s3_server.writer, s3_target_bucket, options=options)
    manifests = layout.manifest_key("sync_ab12", "YYYY-MM-DD")
    result = check_destination(destination, manifests)
    assert result["ok"] and result["encryption_applied"] is True
    assert (result["can_list"], result["can_read"], result["can_delete"]) == (False, False, False)
    assert result["can_abort_stale_uploads"] is False
    # Readers are told where the export writes a day's manifest (the layout's key).
    assert any(destination.describe(manifests) in n for n in result["notes"])
    assert not any("_manifest.json" in n for n in result["notes"])
    assert any("AbortIncompleteMultipartUpload" in n for n in result["notes"])
    head = s3_server.client().head_object(
        Bucket=s3_target_bucket, Key=f"exports/{result['probe_key']}"
    )
    assert head["ServerSideEncryption"] == "aws:kms"


def test_s3_aes256_is_confirmed_or_reported_not_applied(
    s3_server: S3Target, s3_target_bucket: str
) -> None:
    result = check_destination(
        s3_server.destination(s3_server.writer, s3_target_bucket, options={"sse": "AES256"})
    )
    if s3_server.applies_sse_s3:
        assert result["ok"] and result["encryption_applied"] is True
        return
    assert (result["ok"], result["problem"], result["encryption_applied"]) == (
        False,
        "encryption_not_applied",
        False,
    )
    assert "asked for AES256" in result["error"] and "enable SSE-S3" in result["advice"]


def test_s3_access_denied_outside_prefix(s3_server: S3Target, s3_target_bucket: str) -> None:
    result = check_destination(
        s3_server.destination(
            s3_server.writer,
            s3_target_bucket,
            prefix="other",
            options={"sse": "aws:kms", "kms_key_id": s3_server.kms_key_id},
            sync_id="s3",
        )
    )
    assert not result["ok"] and result["problem"] == "access_denied"
    assert "s3:PutObject" in result["advice"] and "sync s3" in result["error"]


def test_s3_no_such_bucket_and_unreachable(s3_settings):
    result = check_destination(
        open_destination("s3://missing-bkt/x", {}, sync_id="s4", settings=s3_settings)
    )
    assert (result["ok"], result["problem"]) == (False, "no_such_bucket")
    assert "missing-bkt" in result["error"] and "create the bucket" in result["advice"]
    down = dataclasses.replace(
        s3_settings, s3_endpoint_url=f"http://127.0.0.1:{free_port()}", max_attempts=2
    )
    result = check_destination(open_destination("s3://b/x", {}, sync_id="s4", settings=down))
    assert (result["ok"], result["problem"]) == (False, "endpoint_unreachable")


def test_s3_kms_refused(moto_server, s3_bucket, s3_settings):
    refusal = Respond(
        403,
        b"<Error><Code>AccessDenied</Code><Message>User is not authorized to perform: "
        b"kms:GenerateDataKey on resource arn:aws:kms:us-east-1:1:key/k</Message></Error>",
    )
    with FaultProxy(
        moto_server.url, plan=lambda r: refusal if r.method == "PUT" else None
    ) as proxy:
        settings = dataclasses.replace(s3_settings, s3_endpoint_url=proxy.url)
        dest = open_destination(
            f"s3://{s3_bucket}/k",
            {"sse": "aws:kms", "kms_key_id": "k"},
            sync_id="s5",
            settings=settings,
        )
        result = check_destination(dest)
    assert (result["ok"], result["problem"]) == (False, "kms_key_refused")
    assert "kms:GenerateDataKey" in result["advice"]


def test_gcs_and_local(fake_gcs, gcs_bucket, tmp_path):
    settings = DestinationSettings(gcs_client_factory=fake_gcs.factory())
    result = check_destination(
        open_destination(f"gs://{gcs_bucket}/g", {}, sync_id="s6", settings=settings)
    )
    assert result["ok"] and result["can_delete"]
    assert result["encryption"] == {"google_managed": True} and result["encryption_applied"] is None
    assert any("Google-managed" in n for n in result["notes"])
    result = check_destination(open_destination(str(tmp_path / "out"), {}, sync_id="s7"))
    assert result["ok"] and result["can_list"] and not list((tmp_path / "out").rglob("*.json"))
    # Nothing left behind, not even the probe's empty folders.
    assert list((tmp_path / "out").iterdir()) == []


def test_cli_sync_test(engine, s3_env, s3_bucket):
    ws = create_workspace(engine, "acme").workspace_id
    good = create_sync(engine, ws, f"s3://{s3_bucket}/exports", options={"sse": "AES256"})
    bad = create_sync(engine, ws, "s3://no-such-bucket-cli/exports")
    runner = CliRunner()
    out = runner.invoke(main, ["sync", "test", good.id, "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["ok"] and data["sync_id"] == good.id and data["encryption"]["sse"] == "AES256"
    assert data["encryption_applied"] is True
    out = runner.invoke(main, ["sync", "test", bad.id])
    assert out.exit_code == 1
    assert "no_such_bucket" in out.output and "no-such-bucket-cli" in out.output
    out = runner.invoke(main, ["sync", "test", "sync_nope"])
    assert out.exit_code == 2


def test_eventsync_cli_has_sync_test(engine, s3_env, s3_bucket):
    ws = create_workspace(engine, "acme").workspace_id
    good = create_sync(engine, ws, f"s3://{s3_bucket}/exports")
    out = CliRunner().invoke(main, ["sync", "test", good.id])
    assert out.exit_code == 0, out.output
    assert f"ok: s3://{s3_bucket}/exports accepts writes" in out.output
    # What it checked, step by step (not "n/a" or "unknown").
    assert "checked:\n  - wrote _eventsync/test/" in out.output
    assert "the server's answer confirmed the encryption" in out.output
    assert "  - listed: yes\n  - read it back: yes\n  - deleted it: yes" in out.output
    assert "unknown" not in out.output and "n/a" not in out.output


def test_local_sync_test_says_what_it_checked(engine, tmp_path: Path) -> None:
    ws = create_workspace(engine, "acme").workspace_id
    sync = create_sync(engine, ws, str(tmp_path / "out"))
    out = CliRunner().invoke(main, ["sync", "test", sync.id])
    assert out.exit_code == 0, out.output
    assert "a local folder: no server-side encryption" in out.output
    assert "(applied by the server: unknown)" not in out.output
    assert list((tmp_path / "out").iterdir()) == []


def test_an_unreachable_s3_endpoint_is_worded_as_such_with_the_s3_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from eventsync.syncs.destination_check import probe_destination

    for name, value in {
        "EVENTSYNC_S3_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",
        "AWS_ACCESS_KEY_ID": "k",
        "AWS_SECRET_ACCESS_KEY": "s",
        "AWS_DEFAULT_REGION": "us-east-1",
        "EVENTSYNC_DEST_CHECK_RETRY_SECONDS": "1",
    }.items():
        monkeypatch.setenv(name, value)
    result = probe_destination("s3://bkt/exports", {}, "sync_u")
    assert result["problem"] == "endpoint_unreachable"
    assert "could not reach the S3 endpoint to put s3://bkt/exports/" in result["error"]
    assert "refused" not in result["error"]
    assert "EVENTSYNC_S3_ENDPOINT_URL" in result["advice"]
    assert "STORAGE_EMULATOR_HOST" not in result["advice"] and "GCS" not in result["advice"]


def test_the_fix_is_for_the_provider_at_hand() -> None:
    from eventsync.destinations.interface import what_happened
    from eventsync.destinations.probe import advice

    for reason in ("access_denied", "no_such_bucket", "bad_credentials", "kms_key_refused",
                   "endpoint_unreachable"):  # fmt: skip
        s3, gcs = advice(reason, "s3"), advice(reason, "gcs")
        assert s3 and gcs and s3 != gcs, reason
        assert "storage." not in s3 and "GOOGLE" not in s3 and "gcloud" not in s3
        assert "s3:" not in gcs and "AWS" not in gcs and "kms:" not in gcs
    assert "storage.objects.create" in advice("access_denied", "gcs")
    assert what_happened("gcs", "b", "put", "gs://b/k", "no_such_bucket") == (
        "GCS bucket 'b' does not exist (put of gs://b/k)"
    )
    assert what_happened("s3", "b", "put", "s3://b/k", "access_denied") == (
        "S3 denied put of s3://b/k (missing permission)"
    )


def test_cli_sync_test_on_a_bucket_that_ignores_aes256_says_so(
    engine, ceph_s3: CephS3, ceph_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's case: Ceph accepts `--sse AES256` and stores the probe unencrypted."""
    for name, value in ceph_s3.env(ceph_s3.writer).items():
        monkeypatch.setenv(name, value)
    ws = create_workspace(engine, "acme").workspace_id
    sync = create_sync(engine, ws, f"s3://{ceph_bucket}/exports", options={"sse": "AES256"})
    out = CliRunner().invoke(main, ["sync", "test", sync.id])
    assert out.exit_code == 1, out.output
    lines = out.output.strip().splitlines()
    assert lines[0] == f"FAILED: s3://{ceph_bucket}/exports: encryption_not_applied"
    assert "did not apply the configured encryption" in lines[1]
    assert "the unencrypted object stays in the bucket" in lines[1]  # write-only: no delete
    assert "Traceback" not in out.output


def test_cli_sync_test_gcs_without_credentials_is_one_classified_line(
    engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No ADC anywhere: google-auth's DefaultCredentialsError becomes bad_credentials.
    (The GCE metadata check is switched off: no traffic leaves 127.0.0.1.)"""
    from google.auth.compute_engine import _metadata

    monkeypatch.setattr(_metadata, "_NO_GCE_CHECK", True)
    for name in ("GOOGLE_APPLICATION_CREDENTIALS", "STORAGE_EMULATOR_HOST", "GOOGLE_CLOUD_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    ws = create_workspace(engine, "acme").workspace_id
    sync = create_sync(engine, ws, "gs://some-bucket/exports")
    out = CliRunner().invoke(main, ["sync", "test", sync.id])
    assert out.exit_code == 1, out.output
    assert "Traceback" not in out.output and isinstance(out.exception, SystemExit)
    assert out.output.startswith("FAILED: gs://some-bucket/exports: bad_credentials")
    assert (
        "DefaultCredentialsError" in out.output and "GOOGLE_APPLICATION_CREDENTIALS" in out.output
    )

"""`check_destination` / `eventsync sync test S` against real moto_server and fake-gcs-server."""

from __future__ import annotations

import dataclasses
import json

from click.testing import CliRunner

from pipeline.cli import main
from pipeline.syncs.config import create_sync
from pipeline.workspaces import create_workspace
from resources.destinations import DestinationSettings, open_destination
from resources.destinations.probe import PROBE_PREFIX, check_destination
from tests.faultproxy import FaultProxy, Respond
from tests.fixtures.s3 import free_port


def test_s3_full_access_ok_and_probe_removed(moto_server, s3_bucket, s3_settings):
    key_id = moto_server.client("kms").create_key()["KeyMetadata"]["KeyId"]
    dest = open_destination(
        f"s3://{s3_bucket}/p",
        {"sse": "aws:kms", "kms_key_id": key_id},
        sync_id="s1",
        settings=s3_settings,
    )
    result = check_destination(dest)
    assert result["ok"] and result["can_write"]
    assert (result["can_list"], result["can_read"], result["can_delete"]) == (True, True, True)
    assert result["encryption"] == {"sse": "aws:kms", "kms_key_id": key_id}
    assert result["probe_key"].startswith(PROBE_PREFIX)
    assert "Contents" not in moto_server.client().list_objects_v2(Bucket=s3_bucket, Prefix="p/")


def test_s3_write_only_is_ok_with_notes(moto_iam):
    settings = DestinationSettings(
        s3_endpoint_url=moto_iam.server.url, region="us-east-1", **moto_iam.writer
    )
    result = check_destination(
        open_destination(f"s3://{moto_iam.bucket}/exports", {}, sync_id="s2", settings=settings)
    )
    assert result["ok"]
    assert (result["can_list"], result["can_read"], result["can_delete"]) == (False, False, False)
    assert any("_manifest.json" in n for n in result["notes"])
    head = moto_iam.admin_client().head_object(
        Bucket=moto_iam.bucket, Key=f"exports/{result['probe_key']}"
    )
    assert head["ServerSideEncryption"] == "AES256"


def test_s3_access_denied_outside_prefix(moto_iam):
    settings = DestinationSettings(
        s3_endpoint_url=moto_iam.server.url, region="us-east-1", **moto_iam.writer
    )
    result = check_destination(
        open_destination(f"s3://{moto_iam.bucket}/other", {}, sync_id="s3", settings=settings)
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
    assert (
        result["ok"] and result["can_delete"] and result["encryption"] == {"google_managed": True}
    )
    result = check_destination(open_destination(str(tmp_path / "out"), {}, sync_id="s7"))
    assert result["ok"] and result["can_list"] and not list((tmp_path / "out").rglob("*.json"))


def test_cli_sync_test(engine, s3_env, s3_bucket):
    ws = create_workspace(engine, "acme").workspace_id
    good = create_sync(engine, ws, f"s3://{s3_bucket}/exports", options={"sse": "AES256"})
    bad = create_sync(engine, ws, "s3://no-such-bucket-cli/exports")
    runner = CliRunner()
    out = runner.invoke(main, ["sync", "test", good.id, "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["ok"] and data["sync_id"] == good.id and data["encryption"]["sse"] == "AES256"
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
    assert "list: yes, read: yes, delete: yes" in out.output

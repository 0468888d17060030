"""S3 destination: what the contract (test_s3_contract.py) does not cover — role
assumption through STS, the environment path, an unreachable endpoint, no secrets in
reprs — against a real moto_server over HTTP (tests/fixtures/s3.py)."""

from __future__ import annotations

import dataclasses

import pytest

from eventsync.destinations import DestinationError, DestinationSettings, open_destination
from eventsync.destinations.s3.bucket import S3Destination
from eventsync.destinations.s3.encryption import same_kms_key
from tests.fixtures.ports import free_port


def test_endpoint_unreachable_is_retried_then_reported(s3_settings):
    settings = dataclasses.replace(
        s3_settings, s3_endpoint_url=f"http://127.0.0.1:{free_port()}", max_attempts=3
    )
    dest = open_destination("s3://bucket/x", {}, sync_id="sync_down", settings=settings)
    assert isinstance(dest, S3Destination)
    with pytest.raises(
        DestinationError,
        match=r"sync sync_down: could not reach the S3 endpoint to put s3://bucket/"
        r".*endpoint unreachable after 3",
    ) as info:
        dest.put_bytes("k", b"v")
    assert info.value.reason == "endpoint_unreachable"
    assert dest.retries.by_code == {"EndpointConnectionError": 2}  # 3 attempts: 2 retries


def test_role_is_assumed_with_external_id(moto_iam):
    """Per-sync role: STS AssumeRole (as the admin identity, with the external id);
    the role's write-only policy then applies — list is refused, put allowed."""
    settings = DestinationSettings(
        s3_endpoint_url=moto_iam.server.url,
        region="us-east-1",
        **moto_iam.admin,
    )
    dest = open_destination(
        f"s3://{moto_iam.bucket}/exports",
        {"role_arn": moto_iam.role_arn, "external_id": "ws_test"},
        sync_id="sync_role",
        settings=settings,
    )
    assert dest.put_bytes("sync_role/x.json", b"{}").encryption == "AES256"
    with pytest.raises(PermissionError):
        dest.list("sync_role/")
    head = moto_iam.admin_client().head_object(
        Bucket=moto_iam.bucket, Key="exports/sync_role/x.json"
    )
    assert head["ServerSideEncryption"] == "AES256"
    with pytest.raises(
        DestinationError, match=r"sync sync_role: cannot assume role .*ExternalId"
    ) as info:
        open_destination(
            f"s3://{moto_iam.bucket}/exports",
            {"role_arn": moto_iam.role_arn, "external_id": "another-workspace"},
            sync_id="sync_role",
            settings=settings,
        )
    assert info.value.reason == "bad_credentials"


def test_unknown_aws_profile_is_one_classified_error():
    settings = DestinationSettings(aws_profile="no-such-profile-anywhere")
    with pytest.raises(
        DestinationError, match=r"sync s_p: cannot open s3://b.*ProfileNotFound"
    ) as info:
        open_destination("s3://b/x", {}, sync_id="s_p", settings=settings)
    assert info.value.reason == "bad_credentials"


def test_settings_never_show_secrets():
    settings = DestinationSettings(aws_access_key_id="AKIA1", aws_secret_access_key="s3cr3t")
    assert "s3cr3t" not in repr(settings) and "AKIA1" not in repr(settings)


def test_open_destination_reads_the_environment(s3_env, s3_bucket):
    dest = open_destination(f"s3://{s3_bucket}/env", {"sse": "AES256"}, sync_id="sync_env")
    dest.put_bytes("hello.txt", b"hi")
    assert s3_env.client().get_object(Bucket=s3_bucket, Key="env/hello.txt")["Body"].read() == b"hi"


def test_kms_key_ids_arns_and_aliases_compare():
    arn = "arn:aws:kms:us-east-1:123456789012:key/1234abcd"
    assert (
        same_kms_key("1234abcd", arn) and same_kms_key(arn, "1234abcd") and same_kms_key(arn, arn)
    )
    assert same_kms_key("1234abcd", "arn:aws:kms:us-east-1:1:key/other") is False
    assert same_kms_key("alias/exports", arn) is None  # the server resolves aliases


def test_clients_share_the_service_models_but_not_their_keys(moto_server, s3_bucket, s3_settings):
    """Opening a destination does not parse botocore's S3 model again (a shared loader,
    ~15 ms a client instead of ~135 ms), while each client keeps its own credentials,
    and the loader's search path does not grow with every client."""
    other = dataclasses.replace(
        s3_settings, aws_access_key_id="other-key", aws_secret_access_key="other-secret"
    )
    first = open_destination(f"s3://{s3_bucket}/a", {}, sync_id="sync_a", settings=s3_settings)
    second = open_destination(f"s3://{s3_bucket}/b", {}, sync_id="sync_b", settings=other)
    assert isinstance(first, S3Destination) and isinstance(second, S3Destination)
    assert first.client._loader is second.client._loader
    paths = list(first.client._loader.search_paths)
    open_destination(f"s3://{s3_bucket}/c", {}, sync_id="sync_c", settings=s3_settings)
    assert first.client._loader.search_paths == paths
    keys = {d.client._request_signer._credentials.access_key for d in (first, second)}
    assert keys == {s3_settings.aws_access_key_id, "other-key"}
    first.put_bytes("day/x.json", b"{}")  # each still writes with its own keys

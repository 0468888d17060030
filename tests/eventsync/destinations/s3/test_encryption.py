"""Encryption is read from the server's answer to each write, never assumed: against
moto_server (which applies SSE-S3 and SSE-KMS and reports them)."""

from __future__ import annotations

from eventsync.destinations import DestinationSettings, open_destination
from eventsync.destinations.s3.encryption import same_kms_key
from tests.fixtures.s3 import MotoServer


def test_sse_s3_is_confirmed_by_the_answer(
    moto_server: MotoServer, s3_bucket: str, s3_settings: DestinationSettings
) -> None:
    dest = open_destination(f"s3://{s3_bucket}/exports", {}, sync_id="sync_a", settings=s3_settings)
    written = dest.put_bytes("sync_a/_schema.json", b"{}")
    assert (written.key, written.encryption, written.verified) == (
        "exports/sync_a/_schema.json",
        "AES256",
        True,
    )
    head = moto_server.client().head_object(Bucket=s3_bucket, Key="exports/sync_a/_schema.json")
    assert head["ServerSideEncryption"] == "AES256"


def test_the_kms_key_named_in_the_answer_is_the_syncs(
    moto_server: MotoServer, s3_bucket: str, s3_settings: DestinationSettings
) -> None:
    key_id = moto_server.client("kms").create_key()["KeyMetadata"]["KeyId"]
    options = {"sse": "aws:kms", "kms_key_id": key_id}
    dest = open_destination(
        f"s3://{s3_bucket}/exports", options, sync_id="sync_a", settings=s3_settings
    )
    written = dest.put_bytes("sync_a/_schema.json", b"{}")
    assert (written.encryption, written.verified) == ("aws:kms", True)
    assert same_kms_key(key_id, written.kms_key)

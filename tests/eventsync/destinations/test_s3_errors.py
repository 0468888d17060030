"""Every S3 and GCS failure becomes a DestinationError with a reason, naming sync,
bucket and object, whatever the answer leaves out (no body, no <Code>, no
<Message>). A proxy in front of moto_server / fake-gcs-server answers the PUT as a
misbehaving server would (s3_errors.py, gcs_errors.py)."""

from __future__ import annotations

import dataclasses

import pytest

from eventsync.destinations import DestinationError, DestinationSettings, open_destination
from eventsync.destinations.interface import what_happened
from tests.faultproxy import FaultProxy, Request, Respond

S3_CASES = [
    # (status, body, reason, retried)
    (403, b"", "access_denied", False),
    (403, b"<Error><Code>AccessDenied</Code><Message></Message></Error>", "access_denied", False),
    (403, b"<Error><Code>AccessDenied</Code></Error>", "access_denied", False),
    (404, b"<Error><Code>NoSuchBucket</Code></Error>", "no_such_bucket", False),
    (403, b"<Error><Code>SignatureDoesNotMatch</Code></Error>", "bad_credentials", False),
    (400, b"<Error><Code>KMS.DisabledException</Code></Error>", "kms_key_refused", False),
    (400, b"<Error><Code>InvalidArgument</Code><Message/></Error>", "refused", False),
    (400, b"", "refused", False),
    (429, b"", "throttled", True),
    (503, b"<Error><Code>SlowDown</Code></Error>", "throttled", True),
    (500, b"", "unavailable", True),
    (502, b"<html>bad gateway</html>", "unavailable", True),
]


@pytest.mark.parametrize(("status", "body", "reason", "retried"), S3_CASES)
def test_s3_answers_map_to_a_reason(
    moto_server, s3_bucket, s3_settings, status, body, reason, retried
):
    refusal = Respond(status, body)

    def plan(req: Request) -> Respond | None:
        return refusal if req.method == "PUT" else None

    with FaultProxy(moto_server.url, plan=plan) as proxy:
        settings = dataclasses.replace(s3_settings, s3_endpoint_url=proxy.url, max_attempts=3)
        dest = open_destination(f"s3://{s3_bucket}/e", {}, sync_id="sync_e", settings=settings)
        with pytest.raises(DestinationError) as info:
            dest.put_bytes("day/x.json", b"{}")
    err = info.value
    assert err.reason == reason, str(err)
    assert (err.sync_id, err.bucket, err.key) == ("sync_e", s3_bucket, "day/x.json")
    msg = str(err)
    # Worded by what happened (eventsync.destinations.interface.what_happened).
    where = f"s3://{s3_bucket}/e/day/x.json"
    assert msg.startswith(f"sync sync_e: {what_happened('s3', s3_bucket, 'put', where, reason)}")
    assert f"({reason})" in msg and "None" not in msg
    assert len(proxy.records) == (3 if retried else 1)
    assert dest.retries.total == (2 if retried else 0)


GCS_CASES = [
    (403, b"", "access_denied"),
    (403, b'{"error": {"code": 403, "message": ""}}', "access_denied"),
    (401, b'{"error": {"code": 401}}', "bad_credentials"),
    (404, b"", "no_such_bucket"),
    (400, b'{"error": {"code": 400, "message": "Cloud KMS key is disabled"}}', "kms_key_refused"),
    (400, b"", "refused"),
    (429, b"", "throttled"),
    (503, b"", "unavailable"),
]


@pytest.mark.parametrize(("status", "body", "reason"), GCS_CASES)
def test_gcs_answers_map_to_a_reason(fake_gcs, gcs_bucket, status, body, reason):
    refusal = Respond(status, body, "application/json")

    def plan(req: Request) -> Respond | None:
        return refusal if req.method == "POST" and req.path.startswith("/upload/") else None

    with FaultProxy(fake_gcs.url, plan=plan) as proxy:
        settings = DestinationSettings(
            gcs_client_factory=fake_gcs.factory(proxy.url),
            backoff_base_seconds=0.01,
            backoff_max_seconds=0.02,
            max_attempts=2,
        )
        dest = open_destination(f"gs://{gcs_bucket}/e", {}, sync_id="sync_g", settings=settings)
        with pytest.raises(DestinationError) as info:
            dest.put_bytes("day/x.json", b"{}")
    err = info.value
    assert err.reason == reason, str(err)
    msg = str(err)
    where = f"gs://{gcs_bucket}/e/day/x.json"
    assert msg.startswith(f"sync sync_g: {what_happened('gcs', gcs_bucket, 'put', where, reason)}")
    assert f"({reason})" in msg

"""Destination URIs and keys: a path, file://, s3:// or gs:// parses into one kind;
anything else is a ConfigError naming it; keys stay under the destination's prefix."""

from __future__ import annotations

from pathlib import Path

import pytest

from eventsync.destinations.interface import (
    REASONS,
    DestinationError,
    DestinationURI,
    parse_destination,
)
from eventsync.destinations.local import LocalDestination
from eventsync.errors import ConfigError


def test_each_scheme_parses_to_its_kind_and_prints_back(tmp_path: Path) -> None:
    assert parse_destination("s3://bucket/exports/") == DestinationURI("s3", "bucket", "exports")
    assert str(parse_destination("gs://bucket/a/b")) == "gs://bucket/a/b"
    assert parse_destination(f"file://{tmp_path}") == DestinationURI("local", "", str(tmp_path))
    assert parse_destination(str(tmp_path / "x" / ".." / "y")).prefix == str(tmp_path / "y")


@pytest.mark.parametrize(
    ("uri", "problem"),
    [
        ("", "must not be empty"),
        ("s3:///exports", "has no bucket name"),
        ("file://example.com/x", "file URI must be local"),
        ("ftp://host/x", "unsupported scheme 'ftp'"),
    ],
)
def test_a_bad_destination_is_a_config_error_naming_it(uri: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem) as info:
        parse_destination(uri)
    assert info.value.field == "destination"


def test_keys_resolve_under_the_prefix_and_back(tmp_path: Path) -> None:
    dest = LocalDestination(DestinationURI("s3", "bucket", "exports"))
    assert dest.object_key("/sync_a/_manifests/x.json") == "exports/sync_a/_manifests/x.json"
    assert dest.relative_key("exports/sync_a/x") == "sync_a/x"
    assert dest.full_prefix("") == "exports/" and dest.full_prefix("sync_a/") == "exports/sync_a/"
    with pytest.raises(ValueError, match="invalid destination key"):
        dest.object_key("sync_a/../../etc/passwd")


def test_an_unknown_reason_becomes_refused() -> None:
    assert DestinationError("boom", reason="gremlins").reason == "refused"
    assert DestinationError("boom", reason="throttled").reason == "throttled" in REASONS


def test_a_failure_is_the_kind_a_caller_acts_on_and_names_sync_bucket_and_cause(
    tmp_path: Path,
) -> None:
    from eventsync.destinations.interface import (
        DestinationNotFoundError,
        DestinationPermissionError,
    )
    from eventsync.destinations.s3.bucket import S3Destination

    dest = S3Destination(parse_destination("s3://bkt/p"), client=None, sync_id="s_1")
    where = "s3://bkt/p/k"
    plain = dest.failure("put", "k", where, "throttled", "SlowDown")
    assert type(plain) is DestinationError and plain.reason == "throttled"
    assert str(plain) == "sync s_1: S3 kept throttling put of s3://bkt/p/k (throttled): SlowDown"
    denied = dest.failure(
        "list", "", where, "access_denied", "AccessDenied", refused_capability=True
    )
    assert isinstance(denied, DestinationPermissionError) and denied.key is None
    missing = dest.failure("get", "k", where, "no_such_bucket", "NoSuchBucket", missing_object=True)
    assert isinstance(missing, DestinationNotFoundError) and missing.reason == "not_found"
    assert "bucket 'bkt' does not exist" in str(missing)  # the words still say what happened
    exists = dest.already_exists("k")
    assert exists.reason == "exists" and (exists.sync_id, exists.bucket, exists.key) == (
        "s_1",
        "bkt",
        "k",
    )

"""What loading the code location costs every run process (issue 15 item 1): no storage
client, dataframe or validation library is imported until a run uses it, and the
lightweight S3/GCS settings keep the semantics of the dagster-aws/dagster-gcp resources
they stand in for (same fields, an EnvVar read at run time, never in run config)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import dagster as dg
import pytest
from dagster_aws.s3 import S3Resource
from dagster_gcp import GCSResource

from eventsync.settings import defaults
from resources import DestinationsResource, GCSConfig, S3Config

HEAVY = (
    "dagster_aws",
    "dagster_gcp",
    "boto3",
    "botocore",
    "google.cloud.storage",
    "pandas",
    "pandera",
)


@pytest.mark.slow
def test_loading_the_code_location_imports_no_client_and_no_pandas() -> None:
    code = (
        "import json, sys; import pipeline.definitions; "
        f"print(json.dumps([m for m in {list(HEAVY)!r} if m in sys.modules]))"
    )
    out = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "EVENTSYNC_EXECUTOR": "in_process"},
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_the_settings_have_the_fields_of_the_dagster_aws_and_gcp_resources() -> None:
    """Same fields and defaults, but `max_attempts`: eventsync bounds its retries by time
    (eventsync/settings.py), where dagster-aws's 5 attempts would last seconds."""
    assert set(S3Config.model_fields) == set(S3Resource.model_fields)
    assert set(GCSConfig.model_fields) == set(GCSResource.model_fields)
    for name, field in S3Resource.model_fields.items():
        if name != "max_attempts":
            assert S3Config.model_fields[name].default == field.default, name
    assert S3Config.model_fields["max_attempts"].default == defaults().dest_max_attempts


def test_dagster_aws_and_gcp_resources_are_accepted_and_env_vars_resolve_at_run_time(
    monkeypatch,
) -> None:
    monkeypatch.setenv("EVENTSYNC_TEST_SECRET", "s3cr3t-value")
    resource = DestinationsResource(
        s3=S3Resource(
            endpoint_url="http://127.0.0.1:9",
            max_attempts=3,
            aws_secret_access_key=dg.EnvVar("EVENTSYNC_TEST_SECRET"),
        ),
        gcs=GCSResource(project="eventsync-test"),
    )
    assert isinstance(resource.s3, S3Config) and isinstance(resource.gcs, GCSConfig)
    seen: dict = {}

    @dg.asset
    def probe(destinations: DestinationsResource) -> None:
        s = destinations.settings()
        seen.update(
            key=s.aws_secret_access_key,
            endpoint=s.s3_endpoint_url,
            attempts=s.max_attempts,
            project=s.gcs_project,
        )

    result = dg.materialize([probe], resources={"destinations": resource})
    assert result.success
    assert seen == {
        "key": "s3cr3t-value",
        "endpoint": "http://127.0.0.1:9",
        "attempts": 3,
        "project": "eventsync-test",
    }
    assert "s3cr3t-value" not in json.dumps(result.dagster_run.run_config)
    assert "s3cr3t-value" not in repr(resource)

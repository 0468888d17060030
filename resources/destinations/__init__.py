"""Opening a sync's destination: the Dagster resource and a plain factory.

``DestinationsResource.open(sync)`` (Dagster) and ``open_destination(uri,
options, sync_id=...)`` (CLI, API) return a :class:`Destination`:
LocalDestination, S3Destination or GCSDestination.

Credentials never pass through run config, the event store, logs or
metadata: S3 uses the ambient AWS chain (env, profile, instance role) or,
per sync, an IAM role assumed through STS with the sync's external id; GCS
uses Application Default Credentials. Only non-secret settings (endpoint,
region, project, sizes) are configuration.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from resources import settings as env
from resources.destinations.base import (
    REASONS,
    Destination,
    DestinationError,
    DestinationExistsError,
    DestinationNotFoundError,
    DestinationPermissionError,
    DestinationURI,
    ObjectWritten,
    StaleUploads,
    parse_destination,
)
from resources.destinations.local import LocalDestination
from resources.destinations.retry import RetryPolicy

__all__ = [
    "REASONS",
    "Destination",
    "DestinationError",
    "DestinationExistsError",
    "DestinationNotFoundError",
    "DestinationPermissionError",
    "DestinationSettings",
    "DestinationURI",
    "LocalDestination",
    "ObjectWritten",
    "StaleUploads",
    "open_destination",
    "parse_destination",
]

MiB = 1024 * 1024


@dataclass(frozen=True)
class DestinationSettings:
    """Non-secret connection settings shared by every sync (plus optional explicit
    credentials, which only ever come from the environment and are never printed)."""

    s3_endpoint_url: str | None = None
    sts_endpoint_url: str | None = None
    region: str | None = None
    aws_profile: str | None = None
    aws_access_key_id: str | None = field(default=None, repr=False)
    aws_secret_access_key: str | None = field(default=None, repr=False)
    aws_session_token: str | None = field(default=None, repr=False)
    gcs_project: str | None = None
    max_attempts: int = 6
    backoff_base_seconds: float = 0.5
    backoff_max_seconds: float = 20.0
    multipart_threshold: int = 64 * MiB
    part_size: int = 16 * MiB
    gcs_resumable_threshold: int = 8 * MiB
    gcs_chunk_size: int = 16 * MiB
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    # Injection points (tests, custom stores): build the storage client yourself.
    gcs_client_factory: Callable[[str | None], Any] | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls) -> DestinationSettings:
        """Endpoint, region, project, attempts and multipart sizes from the environment
        (resources/settings.py). AWS keys stay in boto's own env chain;
        STORAGE_EMULATOR_HOST is read by the google client itself."""
        return cls(
            s3_endpoint_url=env.s3_endpoint_url(),
            sts_endpoint_url=env.sts_endpoint_url(),
            region=env.aws_region(),
            gcs_project=env.gcs_project(),
            max_attempts=env.dest_max_attempts(),
            multipart_threshold=int(env.multipart_threshold_mb() * MiB),
            part_size=int(env.multipart_part_mb() * MiB),
        )

    @property
    def retry(self) -> RetryPolicy:
        return RetryPolicy(self.max_attempts, self.backoff_base_seconds, self.backoff_max_seconds)


def _boto_session(settings: DestinationSettings) -> Any:
    import boto3

    return boto3.session.Session(
        profile_name=settings.aws_profile,
        aws_access_key_id=settings.aws_access_key_id,
        aws_secret_access_key=settings.aws_secret_access_key,
        aws_session_token=settings.aws_session_token,
        region_name=settings.region,
    )


def assumed_role_session(
    settings: DestinationSettings, role_arn: str, external_id: str | None, sync_id: str
) -> Any:
    """A boto3 session whose credentials come from STS AssumeRole (with the sync's
    external id) and refresh themselves before they expire."""
    import boto3
    import botocore.session
    from botocore.config import Config
    from botocore.credentials import RefreshableCredentials
    from botocore.exceptions import BotoCoreError, ClientError

    sts = _boto_session(settings).client(
        "sts",
        endpoint_url=settings.sts_endpoint_url or settings.s3_endpoint_url,
        region_name=settings.region,
        config=Config(retries={"max_attempts": settings.max_attempts, "mode": "standard"}),
    )

    def fetch() -> dict[str, str]:
        args: dict[str, Any] = {
            "RoleArn": role_arn,
            "RoleSessionName": f"eventsync-{sync_id}"[:64],
            "DurationSeconds": 3600,
        }
        if external_id:
            args["ExternalId"] = external_id
        try:
            creds = sts.assume_role(**args)["Credentials"]
        except (ClientError, BotoCoreError, KeyError, TypeError) as exc:
            raise DestinationError(
                f"sync {sync_id}: cannot assume role {role_arn} (bad_credentials): {exc!r} "
                "(check the role's trust policy and its sts:ExternalId condition)",
                reason="bad_credentials",
                sync_id=sync_id,
            ) from exc
        return {
            "access_key": creds["AccessKeyId"],
            "secret_key": creds["SecretAccessKey"],
            "token": creds["SessionToken"],
            "expiry_time": creds["Expiration"].isoformat(),
        }

    credentials = RefreshableCredentials.create_from_metadata(
        metadata=fetch(), refresh_using=fetch, method="sts-assume-role"
    )
    core = botocore.session.get_session()
    core._credentials = credentials  # the documented way boto3 has no public setter for
    return boto3.session.Session(botocore_session=core, region_name=settings.region)


def s3_client(settings: DestinationSettings, options: dict[str, Any], sync_id: str) -> Any:
    """A botocore S3 client with retries off (S3Destination retries), path-style
    addressing for custom endpoints, and the sync's role when it names one."""
    from botocore.config import Config

    role_arn = options.get("role_arn")
    session = (
        assumed_role_session(settings, role_arn, options.get("external_id"), sync_id)
        if role_arn
        else _boto_session(settings)
    )
    config = Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        s3={"addressing_style": "path"} if settings.s3_endpoint_url else None,
    )
    return session.client(
        "s3", endpoint_url=settings.s3_endpoint_url, region_name=settings.region, config=config
    )


def gcs_client(settings: DestinationSettings) -> Any:
    if settings.gcs_client_factory is not None:
        return settings.gcs_client_factory(settings.gcs_project)
    from google.cloud import storage  # what dagster_gcp.GCSResource.get_client() builds

    return storage.Client(project=settings.gcs_project)


def _client_error(uri: DestinationURI, sync_id: str, exc: Exception) -> DestinationError:
    """Building the storage client failed (no credentials, unknown profile, bad
    endpoint): one classified line instead of the SDK's traceback."""
    if uri.kind == "gcs":
        what = (
            "no Google credentials found: set GOOGLE_APPLICATION_CREDENTIALS to a service "
            "account key file, or run with an attached service account (Application Default "
            "Credentials); STORAGE_EMULATOR_HOST for an emulator"
        )
    else:
        what = "the AWS client could not be built (check the profile, region and endpoint)"
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    return DestinationError(
        f"sync {sync_id}: cannot open {uri} (bad_credentials): {what}: "
        f"{type(exc).__name__}: {first}",
        reason="bad_credentials",
        sync_id=sync_id,
        bucket=uri.bucket,
    )


def open_destination(
    uri: str,
    options: dict[str, Any] | None = None,
    *,
    sync_id: str = "-",
    settings: DestinationSettings | None = None,
) -> Destination:
    """The destination for a sync's URI and options (see pipeline.syncs.config.OPTION_KEYS)."""
    from resources.destinations.gcs import GCSDestination
    from resources.destinations.s3 import S3Destination

    options = options or {}
    settings = settings or DestinationSettings.from_env()
    parsed = parse_destination(uri)
    if parsed.kind == "local":
        return LocalDestination(parsed)
    from botocore.exceptions import BotoCoreError
    from google.auth.exceptions import GoogleAuthError

    try:
        client = (
            s3_client(settings, options, sync_id) if parsed.kind == "s3" else gcs_client(settings)
        )
    except (BotoCoreError, GoogleAuthError, ValueError, OSError) as exc:
        raise _client_error(parsed, sync_id, exc) from exc
    if parsed.kind == "s3":
        return S3Destination(
            parsed,
            client,
            sync_id=sync_id,
            sse=options.get("sse") or "AES256",
            kms_key_id=options.get("kms_key_id"),
            retry=settings.retry,
            multipart_threshold=settings.multipart_threshold,
            part_size=settings.part_size,
        )
    return GCSDestination(
        parsed,
        client,
        sync_id=sync_id,
        kms_key_name=options.get("gcs_kms_key_name"),
        retry=settings.retry,
        resumable_threshold=settings.gcs_resumable_threshold,
        chunk_size=settings.gcs_chunk_size,
    )

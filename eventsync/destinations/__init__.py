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

import functools
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from eventsync.destinations.interface import (
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
from eventsync.destinations.local import LocalDestination
from eventsync.destinations.retry import RetryPolicy, call_with_retry
from eventsync.settings import MiB, Settings, defaults, load

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

_DEFAULTS = defaults()


def mib(value: float) -> int:
    return int(value * MiB)


def _setting(name: str, *, in_mib: bool = False) -> Any:
    """A field that takes the model's variable `name` (its default, and its value in
    ``from_settings``); `in_mib`: the variable is in MiB, the field in bytes."""
    value = getattr(_DEFAULTS, name)
    return field(default=mib(value) if in_mib else value, metadata={"setting": (name, in_mib)})


@dataclass(frozen=True)
class DestinationSettings:
    """Non-secret connection settings shared by every sync (plus optional explicit
    credentials, which only ever come from the environment and are never printed).
    Each field named by ``_setting`` is that variable of eventsync/settings.py."""

    s3_endpoint_url: str | None = _setting("s3_endpoint_url")
    sts_endpoint_url: str | None = _setting("sts_endpoint")
    region: str | None = _setting("aws_region")
    aws_profile: str | None = None
    aws_access_key_id: str | None = field(default=None, repr=False)
    aws_secret_access_key: str | None = field(default=None, repr=False)
    aws_session_token: str | None = field(default=None, repr=False)
    gcs_project: str | None = _setting("gcs_project")
    retry_seconds: float = _setting("dest_retry_seconds")
    max_attempts: int | None = _setting("dest_max_attempts")
    backoff_base_seconds: float = _setting("dest_backoff_base_seconds")
    backoff_max_seconds: float = _setting("dest_backoff_max_seconds")
    multipart_threshold: int = _setting("multipart_threshold_mb", in_mib=True)
    part_size: int = _setting("multipart_part_mb", in_mib=True)
    gcs_resumable_threshold: int = _setting("gcs_resumable_threshold_mb", in_mib=True)
    gcs_chunk_size: int = _setting("gcs_chunk_mb", in_mib=True)
    connect_timeout: float = _setting("dest_connect_timeout_seconds")
    read_timeout: float = _setting("dest_read_timeout_seconds")
    # Injection points (tests, custom stores): build the storage client yourself.
    gcs_client_factory: Callable[[str | None], Any] | None = field(default=None, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> DestinationSettings:
        """Endpoint, region, project, retries, timeouts and upload sizes of the model.
        AWS keys stay in boto's own env chain; STORAGE_EMULATOR_HOST is read by the
        google client itself."""
        values = {}
        for f in fields(cls):
            if "setting" in f.metadata:
                name, in_mib = f.metadata["setting"]
                value = getattr(settings, name)
                values[f.name] = mib(value) if in_mib else value
        return cls(**values)

    @classmethod
    def from_env(cls) -> DestinationSettings:
        """The settings of the environment (and .env) now."""
        return cls.from_settings(load())

    @property
    def retry(self) -> RetryPolicy:
        return RetryPolicy(
            max_seconds=self.retry_seconds,
            max_attempts=self.max_attempts,
            base_delay=self.backoff_base_seconds,
            max_delay=self.backoff_max_seconds,
        )


@functools.cache
def _service_models() -> Any:
    """botocore's loader of the service models, shared by every session: a new session
    would parse the S3 model again, ~0.1 s of CPU for each client opened (0.135 s against
    0.015 s per client measured on the 2-core machine). It only reads botocore's data
    files; each session keeps its own credentials and configuration."""
    import botocore.loaders

    return botocore.loaders.create_loader()


def _core_session(region: str | None, profile: str | None = None) -> Any:
    """A botocore session (boto3's `Session` would append to the shared loader's search
    path each time: only low-level clients are used, so none is needed)."""
    import botocore.session

    core = botocore.session.Session()
    core.register_component("data_loader", _service_models())
    if profile is not None:
        core.set_config_variable("profile", profile)
    if region is not None:
        core.set_config_variable("region", region)
    return core


def _boto_session(settings: DestinationSettings) -> Any:
    core = _core_session(settings.region, settings.aws_profile)
    if settings.aws_access_key_id or settings.aws_secret_access_key or settings.aws_session_token:
        core.set_credentials(
            settings.aws_access_key_id,
            settings.aws_secret_access_key,
            settings.aws_session_token,
        )
    return core


def assumed_role_session(
    settings: DestinationSettings, role_arn: str, external_id: str | None, sync_id: str
) -> Any:
    """A botocore session whose credentials come from STS AssumeRole (with the sync's
    external id) and refresh themselves before they expire."""
    from botocore.config import Config
    from botocore.credentials import RefreshableCredentials
    from botocore.exceptions import BotoCoreError, ClientError

    from eventsync.destinations.s3.s3_errors import is_transient

    sts = _boto_session(settings).create_client(
        "sts",
        endpoint_url=settings.sts_endpoint_url or settings.s3_endpoint_url,
        region_name=settings.region,
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
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
            creds = call_with_retry(
                lambda attempt: sts.assume_role(**args), settings.retry, is_transient
            )["Credentials"]
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
    core = _core_session(settings.region)
    core._credentials = credentials  # the documented way boto3 has no public setter for
    return core


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
    return session.create_client(
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
    """The destination for a sync's URI and options (see eventsync.syncs.config.OPTION_KEYS)."""
    from eventsync.destinations.gcs import GCSDestination
    from eventsync.destinations.s3.bucket import S3Destination

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

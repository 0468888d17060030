"""The destinations resource: opens each sync's destination (local folder, S3, GCS)
through the plain adapters of `eventsync.destinations`, which import no Dagster.

Every run process imports this module (it loads the code location), so nothing heavy is
imported here: the S3 and GCS settings are our own models with the fields of
dagster-aws ``S3Resource`` and dagster-gcp ``GCSResource`` (importing those packages
costs ~0.5 s: dagster_gcp pulls in BigQuery and Dataproc), and the storage clients
(boto3, google-cloud-storage) are imported when a destination of that kind is opened."""

from __future__ import annotations

from typing import Any

import dagster as dg
from pydantic import Field

from eventsync.destinations import DestinationSettings, mib, open_destination
from eventsync.destinations.interface import Destination
from eventsync.settings import MiB, Settings, defaults

_DEFAULTS = defaults()


def _setting(name: str) -> Any:
    """A field that overrides the setting `name`: its default and its meaning (with the
    variable) are the settings model's."""
    return Field(default=getattr(_DEFAULTS, name), description=Settings.described(name))


class S3Config(dg.ConfigurableResource):
    """The fields of dagster-aws ``S3Resource`` (same names, defaults and meaning), without
    importing dagster_aws. eventsync builds its own boto3 client from them
    (eventsync/destinations); ``use_unsigned_session``, ``use_ssl`` and ``verify`` are
    kept so that a configuration written for dagster-aws stays valid. Keys only as
    ``dg.EnvVar``, if at all: they are read from the environment at run time.

    One difference: ``max_attempts`` is unset by default (dagster-aws: 5), because the
    retries are bounded by time (``DestinationsResource.retry_seconds``) so that an
    outage of a minute is ridden out; 5 attempts of capped, jittered backoff last ~8 s."""

    use_unsigned_session: bool = Field(
        default=False, description="Specifies whether to use an unsigned S3 session."
    )
    region_name: str | None = Field(
        default=None, description="Specifies a custom region for the S3 session."
    )
    endpoint_url: str | None = Field(
        default=None, description="Specifies a custom endpoint for the S3 session."
    )
    max_attempts: int | None = Field(
        default=_DEFAULTS.dest_max_attempts,
        description="Attempts per operation, the first included, on top of the time bound "
        "(eventsync retries with backoff and jitter; botocore makes one attempt per call). "
        "Unset: only the time bound.",
    )
    profile_name: str | None = Field(
        default=None, description="Specifies a profile to connect that session."
    )
    use_ssl: bool = Field(
        default=True, description="Whether or not to use SSL. By default, SSL is used."
    )
    verify: bool | None = Field(
        default=None, description="Whether or not to verify SSL certificates (default: yes)."
    )
    aws_access_key_id: str | None = Field(
        default=None, description="AWS access key ID to use when creating the boto3 session."
    )
    aws_secret_access_key: str | None = Field(
        default=None, description="AWS secret access key to use when creating the boto3 session."
    )
    aws_session_token: str | None = Field(
        default=None, description="AWS session token to use when creating the boto3 session."
    )


class GCSConfig(dg.ConfigurableResource):
    """The field of dagster-gcp ``GCSResource``, without importing dagster_gcp; the client
    is the one that resource builds, ``google.cloud.storage.Client(project=...)``."""

    project: str | None = Field(default=None, description="Project name")

    def get_client(self) -> Any:
        from google.cloud import storage

        return storage.Client(project=self.project)


def _same_fields(cls: type[dg.ConfigurableResource], value: Any) -> Any:
    """`value` as a `cls`: a dagster-aws/dagster-gcp resource (or any object with the same
    fields) is copied field by field, an ``EnvVar`` value stays an ``EnvVar``. Of a
    pydantic model only the fields it was given are copied: dagster-aws's own default
    of ``max_attempts`` (5) would otherwise cut the retries to seconds."""
    if value is None or isinstance(value, cls | dict):
        return value
    given = getattr(value, "model_fields_set", None)
    return cls(
        **{
            name: getattr(value, name)
            for name in cls.model_fields
            if hasattr(value, name) and (given is None or name in given)
        }
    )


class DestinationsResource(dg.ConfigurableResource):
    """Opens each sync's destination. Takes the settings of dagster-aws ``S3Resource``
    (endpoint_url, region_name, max_attempts, profile; keys only via ``dg.EnvVar`` if at
    all) and dagster-gcp ``GCSResource`` (project): ``s3=`` / ``gcs=`` accept those
    resources or ``S3Config`` / ``GCSConfig`` (the same fields). Retries are done by
    eventsync with backoff and jitter for ``retry_seconds`` (and at most
    ``s3.max_attempts`` when set), so botocore runs one attempt per call. The defaults
    are eventsync/settings.py's; ``from_env()`` takes every value from the environment."""

    s3: S3Config = Field(default_factory=lambda: S3Config())
    gcs: GCSConfig = Field(default_factory=lambda: GCSConfig())
    sts_endpoint_url: str | None = Field(
        default=None, description="STS endpoint for role assumption (default: the S3 endpoint_url)."
    )
    retry_seconds: float = _setting("dest_retry_seconds")
    backoff_base_seconds: float = _setting("dest_backoff_base_seconds")
    backoff_max_seconds: float = _setting("dest_backoff_max_seconds")
    connect_timeout_seconds: float = _setting("dest_connect_timeout_seconds")
    read_timeout_seconds: float = _setting("dest_read_timeout_seconds")
    multipart_threshold_mb: float = _setting("multipart_threshold_mb")
    part_size_mb: float = _setting("multipart_part_mb")
    gcs_resumable_threshold_mb: float = _setting("gcs_resumable_threshold_mb")
    gcs_chunk_size_mb: float = _setting("gcs_chunk_mb")

    def __init__(self, **data: Any) -> None:
        for name, cls in (("s3", S3Config), ("gcs", GCSConfig)):
            if name in data:
                data[name] = _same_fields(cls, data[name])
        super().__init__(**data)

    def settings(self) -> DestinationSettings:
        s3 = self.s3
        return DestinationSettings(
            s3_endpoint_url=s3.endpoint_url,
            sts_endpoint_url=self.sts_endpoint_url or s3.endpoint_url,
            region=s3.region_name,
            aws_profile=s3.profile_name,
            aws_access_key_id=s3.aws_access_key_id,
            aws_secret_access_key=s3.aws_secret_access_key,
            aws_session_token=s3.aws_session_token,
            gcs_project=self.gcs.project,
            retry_seconds=self.retry_seconds,
            max_attempts=s3.max_attempts,
            backoff_base_seconds=self.backoff_base_seconds,
            backoff_max_seconds=self.backoff_max_seconds,
            connect_timeout=self.connect_timeout_seconds,
            read_timeout=self.read_timeout_seconds,
            multipart_threshold=mib(self.multipart_threshold_mb),
            part_size=mib(self.part_size_mb),
            gcs_resumable_threshold=mib(self.gcs_resumable_threshold_mb),
            gcs_chunk_size=mib(self.gcs_chunk_size_mb),
            gcs_client_factory=lambda project: self.gcs.get_client(),
        )

    def open(self, sync: Any) -> Destination:
        """`sync` is a eventsync.syncs.config.Sync (destination URI, options, id)."""
        return open_destination(
            sync.destination, sync.options, sync_id=sync.id, settings=self.settings()
        )

    @classmethod
    def from_env(cls) -> DestinationsResource:
        """The resource the Definitions use: every value from the environment (and .env)."""
        env = DestinationSettings.from_env()
        return cls(
            s3=S3Config(
                endpoint_url=env.s3_endpoint_url,
                region_name=env.region,
                max_attempts=env.max_attempts,
            ),
            gcs=GCSConfig(project=env.gcs_project),
            sts_endpoint_url=env.sts_endpoint_url,
            retry_seconds=env.retry_seconds,
            backoff_base_seconds=env.backoff_base_seconds,
            backoff_max_seconds=env.backoff_max_seconds,
            connect_timeout_seconds=env.connect_timeout,
            read_timeout_seconds=env.read_timeout,
            multipart_threshold_mb=env.multipart_threshold / MiB,
            part_size_mb=env.part_size / MiB,
            gcs_resumable_threshold_mb=env.gcs_resumable_threshold / MiB,
            gcs_chunk_size_mb=env.gcs_chunk_size / MiB,
        )

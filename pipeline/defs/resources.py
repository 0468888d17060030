"""The Dagster resources of the code location, defined and built in one place: the event
store and the destinations. They wrap the plain adapters in `resources/` (which import
no Dagster), so the CLI, the API and tests use the same code without Dagster.

Every run process imports this module (it loads the code location), so nothing heavy is
imported here: the S3 and GCS settings are our own models with the fields of
dagster-aws ``S3Resource`` and dagster-gcp ``GCSResource`` (importing those packages
costs ~0.5 s: dagster_gcp pulls in BigQuery and Dataproc), and the storage clients
(boto3, google-cloud-storage) are imported when a destination of that kind is opened."""

from __future__ import annotations

from typing import Any

import dagster as dg
from pydantic import Field
from sqlalchemy import Engine

from resources.destinations import DestinationSettings, open_destination
from resources.destinations.base import Destination
from resources.settings import database_url, is_set
from resources.store import engine_for


class EventStoreResource(dg.ConfigurableResource):
    """The platform's event store. The URL may carry a password: configure it with
    ``dg.EnvVar("EVENTSYNC_DATABASE_URL")`` so it never lands in run config."""

    database_url: str = ""

    def url(self) -> str:
        return self.database_url or database_url()

    def engine(self) -> Engine:
        return engine_for(self.url())


MiB = 1024 * 1024


class S3Config(dg.ConfigurableResource):
    """The fields of dagster-aws ``S3Resource`` (same names, defaults and meaning), without
    importing dagster_aws. eventsync builds its own boto3 client from them
    (resources/destinations); ``use_unsigned_session``, ``use_ssl`` and ``verify`` are
    kept so that a configuration written for dagster-aws stays valid. Keys only as
    ``dg.EnvVar``, if at all: they are read from the environment at run time."""

    use_unsigned_session: bool = Field(
        default=False, description="Specifies whether to use an unsigned S3 session."
    )
    region_name: str | None = Field(
        default=None, description="Specifies a custom region for the S3 session."
    )
    endpoint_url: str | None = Field(
        default=None, description="Specifies a custom endpoint for the S3 session."
    )
    max_attempts: int = Field(
        default=5,
        description="Attempts per operation, the first included (eventsync retries with "
        "backoff and jitter; botocore makes one attempt per call).",
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
    fields) is copied field by field, an ``EnvVar`` value stays an ``EnvVar``."""
    if value is None or isinstance(value, cls | dict):
        return value
    return cls(**{name: getattr(value, name) for name in cls.model_fields if hasattr(value, name)})


class DestinationsResource(dg.ConfigurableResource):
    """Opens each sync's destination. Takes the settings of dagster-aws ``S3Resource``
    (endpoint_url, region_name, max_attempts, profile; keys only via ``dg.EnvVar`` if at
    all) and dagster-gcp ``GCSResource`` (project): ``s3=`` / ``gcs=`` accept those
    resources or ``S3Config`` / ``GCSConfig`` (the same fields). Retries are done by
    eventsync with backoff and jitter, bounded by ``s3.max_attempts``, so botocore runs
    one attempt per call."""

    s3: S3Config = Field(default_factory=lambda: S3Config())
    gcs: GCSConfig = Field(default_factory=lambda: GCSConfig())
    sts_endpoint_url: str | None = Field(
        default=None, description="STS endpoint for role assumption (default: the S3 endpoint_url)."
    )
    backoff_base_seconds: float = Field(
        default=0.5, description="First retry waits up to this long."
    )
    backoff_max_seconds: float = Field(default=20.0, description="Cap on one retry wait.")
    multipart_threshold_mb: float = Field(
        default=64, description="Files from this size go multipart."
    )
    part_size_mb: float = Field(default=16, description="S3 part size (>= 5 MiB on AWS).")
    gcs_chunk_size_mb: float = Field(
        default=16, description="GCS resumable chunk (multiple of 0.25)."
    )

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
            max_attempts=s3.max_attempts,
            backoff_base_seconds=self.backoff_base_seconds,
            backoff_max_seconds=self.backoff_max_seconds,
            multipart_threshold=int(self.multipart_threshold_mb * MiB),
            part_size=int(self.part_size_mb * MiB),
            gcs_chunk_size=int(self.gcs_chunk_size_mb * MiB),
            gcs_client_factory=lambda project: self.gcs.get_client(),
        )

    def open(self, sync: Any) -> Destination:
        """`sync` is a pipeline.syncs.config.Sync (destination URI, options, id)."""
        return open_destination(
            sync.destination, sync.options, sync_id=sync.id, settings=self.settings()
        )

    @classmethod
    def from_env(cls) -> DestinationsResource:
        """The resource the demo's Definitions use: endpoint/region/project from env."""
        env = DestinationSettings.from_env()
        return cls(
            s3=S3Config(
                endpoint_url=env.s3_endpoint_url,
                region_name=env.region,
                max_attempts=env.max_attempts,
            ),
            gcs=GCSConfig(project=env.gcs_project),
            sts_endpoint_url=env.sts_endpoint_url,
            multipart_threshold_mb=env.multipart_threshold / MiB,
            part_size_mb=env.part_size / MiB,
        )


def store_resource() -> EventStoreResource:
    """The event store. Its URL may hold a password: when set, it is read from the
    environment at run time (EnvVar), never copied into run config."""
    if is_set("EVENTSYNC_DATABASE_URL"):
        return EventStoreResource(database_url=dg.EnvVar("EVENTSYNC_DATABASE_URL"))
    return EventStoreResource()


def build_resources() -> dict[str, Any]:
    return {"store": store_resource(), "destinations": DestinationsResource.from_env()}

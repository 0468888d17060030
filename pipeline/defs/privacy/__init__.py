"""Dagster wiring of the privacy domain: erasure, access-export and retention jobs, the
request and failure sensors, and the retention schedule."""

import dagster as dg

from pipeline.defs.privacy.jobs import (
    access_export_job,
    erasure_job,
    retention_job,
    retention_schedule,
)
from pipeline.defs.privacy.sensors import privacy_failure_sensor, privacy_request_sensor

defs = dg.Definitions(
    jobs=[erasure_job, access_export_job, retention_job],
    schedules=[retention_schedule],
    sensors=[privacy_request_sensor, privacy_failure_sensor],
)

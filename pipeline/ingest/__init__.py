"""Strict ingestion into the event store: validate every event (`rules`), keep the
valid ones of a batch (`batch`), write them (`store`), read files (`files`)."""

from pipeline.ingest.batch import IngestResult, Rejection, ingest_events
from pipeline.ingest.files import ingest_file
from pipeline.ingest.rules import check_subject_id, validate_event
from pipeline.ingest.store import insert_event_rows, upsert_profiles

__all__ = [
    "IngestResult",
    "Rejection",
    "check_subject_id",
    "ingest_events",
    "ingest_file",
    "insert_event_rows",
    "upsert_profiles",
    "validate_event",
]

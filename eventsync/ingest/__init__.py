"""Strict ingestion into the event store: validate every event (`rules`), keep the
valid ones of a batch (`batch`), write them (`store`), read files (`files`)."""

from eventsync.ingest.batches import IngestResult, Rejection, ingest_events
from eventsync.ingest.event_writes import insert_event_rows, upsert_profiles
from eventsync.ingest.files import ingest_file
from eventsync.ingest.rules import check_subject_id, validate_event

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

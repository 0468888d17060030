"""Adapters: settings, errors, the event store, destinations (local, S3, GCS), keys, locks,
clock. Plain Python: nothing of ours above, and no Dagster (docs/architecture.md)."""

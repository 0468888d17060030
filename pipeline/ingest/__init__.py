"""Strict ingestion into the event store."""

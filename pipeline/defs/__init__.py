"""Dagster wiring, one module per domain; `pipeline.definitions` merges them."""

"""The domain (workspaces, syncs, ingestion, privacy), its Dagster wiring (defs/) and the
entry points (api/, cli/, demo/, definitions.py): docs/architecture.md."""

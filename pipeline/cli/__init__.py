"""The `eventsync` command line (console script `pipeline.cli:main`). Every command
prints JSON with `--json`; commands call the same plain functions as the Dagster code
and the HTTP API. One module per command group; importing them registers the commands."""

from pipeline.cli import admin, data, privacy, sync_ops, syncs  # noqa: F401  (registers commands)
from pipeline.cli.common import main

__all__ = ["main"]

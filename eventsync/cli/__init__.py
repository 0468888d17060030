"""The `eventsync` command line (console script `eventsync.cli:main`). Every command
prints JSON with `--json`; commands call the same plain functions as the Dagster code
and the HTTP API. One module per command group; importing them registers the commands."""

from eventsync.cli import (  # noqa: F401  (registers the commands)
    admin,
    dagster_commands,
    data,
    ops_commands,
    privacy_commands,
    sync_commands,
    sync_ops,
)
from eventsync.cli.common import main

__all__ = ["main"]

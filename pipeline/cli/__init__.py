"""The `eventsync` command line (console script `pipeline.cli:main`)."""

from pipeline.cli.main import main

__all__ = ["main"]

"""The `eventsync` group and what every command shares: `--json`, errors that name the
problem (exit status 2, one line), the engine, the actor written to the audit log."""

from __future__ import annotations

import functools
import getpass
import json
import sys
from collections.abc import Callable
from typing import Any

import click
from sqlalchemy import Engine

from resources.errors import EventsyncError
from resources.store import default_engine


def open_store() -> Engine:
    return default_engine()


def emit(data: Any, as_json: bool, human: Callable[[Any], str] | None = None) -> None:
    if as_json or human is None:
        click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
    else:
        click.echo(human(data))


def command(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Adds --json and turns EventsyncError into a clear message and exit status 2."""

    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except EventsyncError as exc:
            if kwargs.get("as_json"):
                click.echo(json.dumps({"error": str(exc)}), err=True)
            else:
                click.echo(f"error: {exc}", err=True)
            sys.exit(2)

    return wrapper


@click.group()
def main() -> None:
    """eventsync: daily, validated exports of product-analytics events."""


def cli_actor() -> str:
    """Who acted, for the audit log: the OS user running the CLI."""
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no user name in some containers
        return "cli"

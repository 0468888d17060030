"""The `eventsync` group and what every command shares: `--json`, errors that name the
problem (exit status 2, one line, never a traceback), the event store, the actor
written to the audit log.

Configuration resolves as for every entry point (eventsync/settings.py): the
environment, else the project's `.env`, else the project's `dagster_home/`. A store
that is not there is reported, never silently created empty somewhere else."""

from __future__ import annotations

import functools
import getpass
import json
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from sqlalchemy import Engine, make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from eventsync import settings
from eventsync.errors import ConfigError, EventsyncError
from eventsync.store.connection import default_engine

# Dagster's beta/preview notices about the code's own definitions are for its authors,
# not for someone running `eventsync sync backfill`.
warnings.filterwarnings("ignore", message=r".* is currently in (beta|preview)")


def store_label(url: str | None = None) -> str:
    """The store URL without its password, and where it was configured."""
    url = url or settings.database_url()
    shown = make_url(url).render_as_string(hide_password=True)
    if settings.load().database_url:
        return f"{shown} ({settings.source('EVENTSYNC_DATABASE_URL')})"
    return f"{shown} (under DAGSTER_HOME={settings.dagster_home()})"


def open_store() -> Engine:
    """The configured event store, which must exist (`eventsync db upgrade` creates it)."""
    if not settings.load().database_url:
        settings.checked_dagster_home()  # the default store lives there
    url = settings.database_url()
    if url.startswith("sqlite"):
        path = make_url(url).database
        if path and path != ":memory:" and not Path(path).exists():
            default = settings.PROJECT_ROOT / "dagster_home" / "eventsync.db"
            other = (
                f", or unset DAGSTER_HOME / EVENTSYNC_DATABASE_URL to use the project's {default}"
                if Path(path).resolve() != default
                else " (or `make demo`, which also seeds demo data)"
            )
            raise ConfigError(
                "EVENTSYNC_DATABASE_URL",
                f"no event store at {store_label(url)}: run `eventsync db upgrade` to create "
                f"it there{other}",
            )
    engine = default_engine()
    # A process with another subject key than the store's stops here (`eventsync api`
    # refuses to start), instead of matching no erased subject.
    from eventsync.store.subject_key import check

    check(engine)
    return engine


def _store_error(exc: SQLAlchemyError) -> str:
    first = " ".join(str(getattr(exc, "orig", None) or exc).split())[:300]
    if "no such table" in first or ("relation" in first and "does not exist" in first):
        return (
            f"EVENTSYNC_DATABASE_URL: the event store {store_label()} has no eventsync "
            f"tables ({first}): run `eventsync db upgrade`"
        )
    return f"EVENTSYNC_DATABASE_URL: the event store {store_label()} failed: {first}"


def emit(data: Any, as_json: bool, human: Callable[[Any], str] | None = None) -> None:
    if as_json or human is None:
        click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
    else:
        click.echo(human(data))


def fail(message: str, as_json: bool, status: int = 2) -> None:
    """One line on stderr (JSON with --json) and the exit status."""
    if as_json:
        click.echo(json.dumps({"error": message}), err=True)
    else:
        click.echo(f"error: {message}", err=True)
    sys.exit(status)


def command(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Adds --json; any error becomes one line and exit status 2 (EVENTSYNC_DEBUG=1
    shows the traceback of an unexpected one)."""

    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        as_json = bool(kwargs.get("as_json"))
        try:
            return fn(*args, **kwargs)
        except EventsyncError as exc:
            fail(str(exc), as_json)
        except (DBAPIError, SQLAlchemyError) as exc:
            if settings.debug():
                raise
            fail(_store_error(exc), as_json)
        except (click.ClickException, click.exceptions.Exit, SystemExit, KeyboardInterrupt):
            raise
        except Exception as exc:
            if settings.debug():
                raise
            detail = " ".join(str(exc).split())[:500]
            fail(f"{type(exc).__name__}: {detail} (EVENTSYNC_DEBUG=1 shows where)", as_json)

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

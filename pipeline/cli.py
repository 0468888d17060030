"""The `eventsync` command line. Every command prints JSON with `--json`.

Commands call the same plain functions as the Dagster code and the HTTP API.
Errors that name the problem exit with status 2 and a one-line message.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any

import click

from pipeline.errors import EventsyncError
from resources.store import database_url, engine_for, upgrade


def _engine():  # type: ignore[no-untyped-def]
    return engine_for(database_url())


def _emit(data: Any, as_json: bool, human: Callable[[Any], str] | None = None) -> None:
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


# --- db -------------------------------------------------------------------------------
@main.group()
def db() -> None:
    """Event store schema."""


@db.command("upgrade")
@command
def db_upgrade(as_json: bool) -> None:
    """Create or migrate the event store (Alembic)."""
    url = upgrade()
    safe = url.split("@", 1)[-1] if "@" in url else url
    _emit(
        {"database": safe, "revision": "head"},
        as_json,
        lambda d: f"event store at head: {d['database']}",
    )


# --- workspaces and keys --------------------------------------------------------------
@main.group()
def workspace() -> None:
    """Workspaces (one per customer)."""


@workspace.command("create")
@click.option("--name", required=True)
@click.option("--retention-days", type=int, default=None)
@command
def workspace_create(name: str, retention_days: int | None, as_json: bool) -> None:
    """Create a workspace; prints its id and a new API key (shown once)."""
    from pipeline.workspaces import create_workspace

    ws = create_workspace(_engine(), name, retention_days)
    data = {
        "workspace_id": ws.workspace_id,
        "name": ws.name,
        "retention_days": ws.retention_days,
        "api_key": ws.api_key,
    }
    _emit(
        data,
        as_json,
        lambda d: (
            f"workspace {d['workspace_id']} created\n"
            f"API key (shown once, store it now): {d['api_key']}"
        ),
    )


@main.group()
def key() -> None:
    """API keys."""


@key.command("create")
@click.option("--workspace", "workspace_id", required=True)
@command
def key_create(workspace_id: str, as_json: bool) -> None:
    """Create an API key for a workspace (shown once, stored hashed)."""
    from pipeline.workspaces import create_key

    plaintext = create_key(_engine(), workspace_id)
    _emit(
        {"workspace_id": workspace_id, "api_key": plaintext},
        as_json,
        lambda d: f"API key (shown once, store it now): {d['api_key']}",
    )


@key.command("revoke")
@click.argument("key")
@command
def key_revoke(key: str, as_json: bool) -> None:
    """Revoke a key (by key id or the full key)."""
    from pipeline.workspaces import revoke_key

    key_id = revoke_key(_engine(), key)
    _emit({"revoked": key_id}, as_json, lambda d: f"revoked key {d['revoked']}")


# --- ingestion, demo data, HTTP API ---------------------------------------------------
@main.command("ingest")
@click.option("--workspace", "workspace_id", required=True)
@click.option(
    "--rejects",
    "rejects_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Where rejected lines go (JSON lines). Default: FILE.rejects.jsonl",
)
@click.argument("file", type=click.Path(dir_okay=False))
@command
def ingest_cmd(workspace_id: str, rejects_path: str | None, file: str, as_json: bool) -> None:
    """Load events from a JSON-lines (.jsonl/.ndjson/.json) or CSV file, optionally .gz.
    Valid events are stored; each rejected line goes to the rejects file with its reason."""
    from pipeline.ingest import ingest_file

    result = ingest_file(_engine(), workspace_id, file, rejects_path=rejects_path)
    data = {
        "file": file,
        "workspace_id": workspace_id,
        "accepted": result.accepted,
        "rejected": result.rejected,
        "rejects_path": result.rejects_path,
    }
    _emit(
        data,
        as_json,
        lambda d: (
            f"{d['accepted']} events accepted, {d['rejected']} rejected"
            + (f"; rejected lines with reasons: {d['rejects_path']}" if d["rejects_path"] else "")
        ),
    )


@main.group()
def demo() -> None:
    """Demo data."""


@demo.command("seed")
@click.option("--days", type=int, default=14, show_default=True)
@click.option("--events-per-day", type=int, default=2000, show_default=True)
@click.option("--seed", "seed_value", type=int, default=7, show_default=True)
@command
def demo_seed(days: int, events_per_day: int, seed_value: int, as_json: bool) -> None:
    """Create the demo workspace and local sync and write deterministic events for the
    last D UTC days (with some late and some invalid rows). Safe to re-run."""
    from pipeline.demo import seed_demo

    upgrade()
    result = seed_demo(_engine(), days=days, events_per_day=events_per_day, seed=seed_value)

    def human(d: dict[str, Any]) -> str:
        lines = [
            f"demo workspace {d['workspace_id']}, sync {d['sync_id']} -> {d['destination']}",
            f"{d['inserted']} events written ({d['skipped_existing']} already there) for "
            f"{d['first_day']} .. {d['last_day']}: {d['invalid']} invalid, {d['late']} late",
        ]
        if d.get("api_key"):
            lines.append(f"API key (shown once, store it now): {d['api_key']}")
        return "\n".join(lines)

    _emit(result, as_json, human)


@main.command("api")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8000, show_default=True)
def api_cmd(host: str, port: int) -> None:
    """Serve the HTTP API (OpenAPI at /openapi.json, docs at /docs)."""
    import uvicorn

    from pipeline.api import create_app

    uvicorn.run(create_app(), host=host, port=port, log_level="info")

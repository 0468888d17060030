"""`eventsync db`, `workspace` and `key`: the event store schema, workspaces, API keys."""

from __future__ import annotations

import click

from pipeline.cli.common import command, emit, main, open_store
from resources.store import upgrade


# --- db -------------------------------------------------------------------------------
@main.group()
def db() -> None:
    """Event store schema."""


@db.command("upgrade")
@command
def db_upgrade(as_json: bool) -> None:
    """Create or migrate the event store (Alembic)."""
    from resources.settings import checked_dagster_home, raw

    if not raw("EVENTSYNC_DATABASE_URL"):
        checked_dagster_home()  # the default store goes there: it must be the right place
    url = upgrade()
    safe = url.split("@", 1)[-1] if "@" in url else url
    emit(
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

    ws = create_workspace(open_store(), name, retention_days)
    data = {
        "workspace_id": ws.workspace_id,
        "name": ws.name,
        "retention_days": ws.retention_days,
        "api_key": ws.api_key,
    }
    emit(
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
@click.option(
    "--quiet", "-q", is_flag=True, help="Print the key alone: KEY=$(eventsync key create ... -q)"
)
@command
def key_create(workspace_id: str, quiet: bool, as_json: bool) -> None:
    """Create an API key for a workspace (shown once, stored hashed)."""
    from pipeline.workspaces import create_key

    plaintext = create_key(open_store(), workspace_id)
    emit(
        {"workspace_id": workspace_id, "api_key": plaintext},
        as_json,
        lambda d: d["api_key"] if quiet else f"API key (shown once, store it now): {d['api_key']}",
    )


@key.command("revoke")
@click.argument("key")
@command
def key_revoke(key: str, as_json: bool) -> None:
    """Revoke a key (by key id or the full key)."""
    from pipeline.workspaces import revoke_key

    key_id = revoke_key(open_store(), key)
    emit({"revoked": key_id}, as_json, lambda d: f"revoked key {d['revoked']}")

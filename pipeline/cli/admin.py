"""`eventsync db`, `workspace` and `key`: the event store schema, workspaces, API keys."""

from __future__ import annotations

from typing import Any

import click

from pipeline.cli.common import command, emit, main, open_store
from resources.keys import SCOPES
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
    "--scope",
    "scopes",
    multiple=True,
    type=click.Choice(list(SCOPES)),
    help="Repeat for several. Default: all scopes.",
)
@click.option("--name", default=None, help="A name for people (who uses the key).")
@click.option("--expires-in-days", type=int, default=None, help="Default: never expires.")
@click.option(
    "--quiet", "-q", is_flag=True, help="Print the key alone: KEY=$(eventsync key create ... -q)"
)
@command
def key_create(
    workspace_id: str,
    scopes: tuple[str, ...],
    name: str | None,
    expires_in_days: int | None,
    quiet: bool,
    as_json: bool,
) -> None:
    """Create an API key for a workspace (shown once, stored hashed)."""
    from pipeline.workspaces import create_key, list_keys
    from resources.keys import split_key

    plaintext = create_key(
        open_store(), workspace_id, list(scopes) or None, name=name, expires_in_days=expires_in_days
    )
    key_id = split_key(plaintext)[0]  # type: ignore[index]
    (row,) = [k for k in list_keys(open_store(), workspace_id) if k["id"] == key_id]
    emit(
        {**row, "api_key": plaintext},
        as_json,
        lambda d: (
            d["api_key"]
            if quiet
            else (
                f"key {d['id']} ({' '.join(d['scopes'])}"
                + (f"; expires {d['expires_at']}" if d["expires_at"] else "")
                + f")\nAPI key (shown once, store it now): {d['api_key']}"
            )
        ),
    )


@key.command("list")
@click.option("--workspace", "workspace_id", required=True)
@command
def key_list(workspace_id: str, as_json: bool) -> None:
    """List a workspace's keys: id, name, scopes, expiry, last use (never the secret)."""
    from pipeline.workspaces import list_keys

    def line(k: dict[str, Any]) -> str:
        state = f"revoked {k['revoked_at']}" if k["revoked_at"] else "active"
        return (
            f"{k['id']}  {k['name'] or '-'}  [{' '.join(k['scopes'])}]  {state}  "
            f"expires {k['expires_at'] or 'never'}  last used {k['last_used_at'] or 'never'}"
        )

    emit(
        list_keys(open_store(), workspace_id),
        as_json,
        lambda d: "\n".join(line(k) for k in d) or "no keys",
    )


@key.command("revoke")
@click.argument("key")
@command
def key_revoke(key: str, as_json: bool) -> None:
    """Revoke a key (by key id or the full key). Running APIs refuse it within
    EVENTSYNC_KEY_CACHE_SECONDS (default 5)."""
    from pipeline.workspaces import revoke_key

    key_id = revoke_key(open_store(), key)
    emit({"revoked": key_id}, as_json, lambda d: f"revoked key {d['revoked']}")

"""`eventsync db`, `workspace` and `key`: the event store schema, workspaces, API keys."""

from __future__ import annotations

from typing import Any

import click

from eventsync.access import Role
from eventsync.cli.common import cli_actor, command, emit, main, open_store
from eventsync.keys import SCOPES
from eventsync.store.connection import upgrade


# --- db -------------------------------------------------------------------------------
@main.group()
def db() -> None:
    """Event store schema."""


@db.command("upgrade")
@click.option(
    "--subject-key-id",
    default=None,
    help="The fingerprint of the installation's subject key (`eventsync db key-id` on a "
    "machine that runs eventsync): needed when the upgrade hashes suppressed subjects; "
    "the upgrade stops if this process's key is another.",
)
@command
def db_upgrade(subject_key_id: str | None, as_json: bool) -> None:
    """Create or migrate the event store (Alembic). Refuses, before changing anything,
    when this process's subject key is not the one the store was written with."""
    from eventsync.pseudonyms import key_id
    from eventsync.settings import checked_dagster_home, load
    from eventsync.store.subject_key import key_source

    if not load().database_url:
        checked_dagster_home()  # the default store goes there: it must be the right place
    url = upgrade(subject_key_id=subject_key_id)
    safe = url.split("@", 1)[-1] if "@" in url else url
    emit(
        {"database": safe, "revision": "head", "subject_key_id": key_id(), "key": key_source()},
        as_json,
        lambda d: (
            f"event store at head: {d['database']} (subject key {d['subject_key_id']} "
            f"from {d['key']})"
        ),
    )


@db.command("key-id")
@command
def db_key_id(as_json: bool) -> None:
    """The fingerprint of this process's subject key, and where the key comes from (the
    key itself is never shown)."""
    from eventsync.pseudonyms import key_id
    from eventsync.store.subject_key import key_source

    emit(
        {"subject_key_id": key_id(), "key": key_source()},
        as_json,
        lambda d: f"subject key {d['subject_key_id']} (from {d['key']})",
    )


@db.command("reapply-erasures")
@click.option(
    "--from-destinations",
    is_flag=True,
    help="First complete the journal file from the copies in every sync's destination "
    "(`_eventsync/erasures/`), for a journal file lost or restored with the store.",
)
@command
def db_reapply_erasures(from_destinations: bool, as_json: bool) -> None:
    """After restoring the store: re-apply the erasure journal's entries it lacks (every
    export does this first too; run it to see what a restore brought back)."""
    from eventsync.privacy import journal
    from eventsync.privacy.opener import default_opener
    from eventsync.syncs.config import list_syncs

    engine = open_store()
    merged = 0
    if from_destinations:
        for sync in list_syncs(engine):
            merged += len(journal.merge_from_destination(default_opener(sync)))
    done = journal.reconcile(engine)
    emit(
        {
            "journal": str(journal.path()),
            "entries": len(journal.read()),
            "merged_from_destinations": merged,
            "reapplied": [{"entry": e.id, "operation": e.op, "at": e.at} for e in done],
        },
        as_json,
        lambda d: (
            f"erasure journal {d['journal']}: {d['entries']} entries, "
            f"{len(d['reapplied'])} re-applied to the store"
            + (
                f", {d['merged_from_destinations']} read from destinations"
                if from_destinations
                else ""
            )
        ),
    )


@db.command("check-profiles")
@command
def db_check_profiles(as_json: bool) -> None:
    """Report stored profiles larger than the profile limit (exit status 1 if any)."""
    from eventsync.event_limits import LIMITS
    from eventsync.ingest.event_writes import oversized_profiles

    with open_store().connect() as conn:
        found = oversized_profiles(conn)
    emit(
        {"limit_bytes": LIMITS.profile_bytes, "oversized": found},
        as_json,
        lambda d: "\n".join(
            [
                f"{len(d['oversized'])} profile(s) over the profile limit of "
                f"{d['limit_bytes']} bytes (their identify events are refused until "
                "they shrink)"
            ]
            + [
                f"  {p['workspace_id']} {p['subject_type']} {p['subject_id']!a}: {p['bytes']} bytes"
                for p in d["oversized"]
            ]
        ),
    )
    if found:
        raise SystemExit(1)


# --- workspaces and keys --------------------------------------------------------------
@main.group()
def workspace() -> None:
    """Workspaces (one per customer)."""


@workspace.command("create")
@click.option("--name", required=True)
@click.option("--retention-days", type=int, default=None)
@click.option(
    "--owner-email",
    default=None,
    help="The console's first owner: prints a one-time invitation link (7 days).",
)
@command
def workspace_create(
    name: str, retention_days: int | None, owner_email: str | None, as_json: bool
) -> None:
    """Create a workspace; prints its id and a new API key (shown once), and with
    --owner-email an invitation link for the console's first owner (shown once)."""
    from eventsync.accounts.first_owner import invitation_link
    from eventsync.accounts.members import normalize_email
    from eventsync.workspaces import create_workspace

    if owner_email is not None:
        normalize_email(owner_email)  # a bad address fails before anything is created
    ws = create_workspace(open_store(), name, retention_days)
    data = {
        "workspace_id": ws.workspace_id,
        "name": ws.name,
        "retention_days": ws.retention_days,
        "api_key": ws.api_key,
    }
    if owner_email is not None:
        data["owner_invitation"] = invitation_link(
            open_store(), ws.workspace_id, owner_email, "owner", cli_actor()
        )
    emit(
        data,
        as_json,
        lambda d: (
            f"workspace {d['workspace_id']} created\n"
            f"API key (shown once, store it now): {d['api_key']}"
            + (
                f"\nconsole owner invitation (shown once, valid 7 days): {d['owner_invitation']}"
                if "owner_invitation" in d
                else ""
            )
        ),
    )


@workspace.command("invite")
@click.option("--workspace", "workspace_id", required=True)
@click.option("--email", required=True)
@click.option(
    "--role", default="owner", show_default=True, type=click.Choice([r.value for r in Role])
)
@command
def workspace_invite(workspace_id: str, email: str, role: str, as_json: bool) -> None:
    """Print a one-time console invitation link (7 days) for a workspace member."""
    from eventsync.accounts.first_owner import invitation_link

    link = invitation_link(open_store(), workspace_id, email, role, cli_actor())
    emit(
        {"invitation": link, "role": role},
        as_json,
        lambda d: f"invitation (shown once): {d['invitation']}",
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
    help="Repeat for several. Default: all but syncs:write.",
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
    from eventsync.keys import split_key
    from eventsync.workspaces import create_key, list_keys

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
    from eventsync.workspaces import list_keys

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
    from eventsync.workspaces import revoke_key

    key_id = revoke_key(open_store(), key)
    emit({"revoked": key_id}, as_json, lambda d: f"revoked key {d['revoked']}")

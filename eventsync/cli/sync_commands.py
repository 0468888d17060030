"""`eventsync sync ...`: create, list, show, update and test syncs (operating them:
eventsync/cli/sync_ops.py)."""

from __future__ import annotations

import sys
from typing import Any

import click

from eventsync.cli.common import command, emit, main, open_store
from eventsync.engine.formats import AUTO, COMPRESSIONS, FORMATS


# --- syncs ----------------------------------------------------------------------------
@main.group()
def sync() -> None:
    """Syncs: what a workspace exports, where, in which formats."""


def _sync_line(s: dict) -> str:
    if s.get("deleted_at"):
        state = f"deleted at {s['deleted_at']}"
    elif s["paused_reason"]:
        state = f"paused: {s['paused_reason']}"
    else:
        state = "enabled" if s["enabled"] else "disabled"
    types = ",".join(s["event_types"]) if s["event_types"] else "all event types"
    names = ",".join(s["event_names"]) if s.get("event_names") else "all event names"
    return (
        f"{s['id']}  {s['title']!r}  -> {s['destination']}  "
        f"[{s.get('frequency', 'daily')}; {','.join(s['formats'])}/{s['compression']}; "
        f"{types}; {names}; "
        f"backfill {s['backfill_days']}d; {state}]"
    )


def _destination_options(
    sse: str | None, kms_key_id: str | None, role_arn: str | None, gcs_kms_key_name: str | None
) -> dict[str, Any]:
    return {
        k: v
        for k, v in {
            "sse": sse,
            "kms_key_id": kms_key_id,
            "role_arn": role_arn,
            "gcs_kms_key_name": gcs_kms_key_name,
        }.items()
        if v is not None
    }


_FORMAT = click.Choice(FORMATS)
_COMPRESSION = click.Choice(COMPRESSIONS)
_SSE = click.Choice(["AES256", "aws:kms"])
# eventsync.syncs.config.FREQUENCIES (not imported here: the CLI starts without it).
_FREQUENCY = click.Choice(["daily", "hourly"])
_NAMES_HELP = (
    "Export only events with this name; `*` matches any characters (e.g. 'checklist:*'). "
    "Repeat for several. A changed filter applies from the next export."
)


@sync.command("create")
@click.option("--workspace", "workspace_id", required=True)
@click.option(
    "--destination",
    required=True,
    help="A local path, file://..., s3://bucket/prefix or gs://bucket/prefix.",
)
@click.option("--format", "formats", type=_FORMAT, multiple=True, help="Repeat for several.")
@click.option("--compression", type=_COMPRESSION, default=AUTO, show_default=True)
@click.option("--event-type", "event_types", multiple=True, help="Export only these types.")
@click.option("--event-name", "event_names", multiple=True, help=_NAMES_HELP)
@click.option(
    "--frequency",
    type=_FREQUENCY,
    default="daily",
    show_default=True,
    help="daily: 03:00 UTC, the closed day; hourly: also today so far, hourly.",
)
@click.option("--backfill-days", type=int, default=30, show_default=True)
@click.option("--title")
@click.option("--sse", type=_SSE, help="S3 server-side encryption (default AES256).")
@click.option("--kms-key-id", help="KMS key for --sse aws:kms.")
@click.option("--role-arn", help="IAM role to assume for this sync (external id = workspace).")
@click.option("--gcs-kms-key-name", help="Cloud KMS key (CMEK) for gs:// destinations.")
@click.option("--disabled", is_flag=True, help="Create without starting exports.")
@click.option(
    "--no-check",
    is_flag=True,
    help="Store the sync even if the destination refuses the probe write (sync test).",
)
@command
def sync_create(
    workspace_id: str,
    destination: str,
    formats: tuple[str, ...],
    compression: str,
    event_types: tuple[str, ...],
    event_names: tuple[str, ...],
    frequency: str,
    backfill_days: int,
    title: str | None,
    sse: str | None,
    kms_key_id: str | None,
    role_arn: str | None,
    gcs_kms_key_name: str | None,
    disabled: bool,
    no_check: bool,
    as_json: bool,
) -> None:
    """Create a sync. The destination is probed first, as `sync test` does (a write with
    the configured encryption); one that refuses writes is not stored unless
    --no-check. Its destination cannot change afterwards; the new-sync sensor
    backfills its last --backfill-days days."""
    from eventsync.syncs.config import create_sync
    from eventsync.syncs.destination_check import destination_check

    s = create_sync(
        open_store(),
        workspace_id,
        destination,
        formats=list(formats) or None,
        compression=compression,
        event_types=list(event_types) or None,
        event_names=list(event_names) or None,
        frequency=frequency,
        backfill_days=backfill_days,
        title=title,
        enabled=not disabled,
        options=_destination_options(sse, kms_key_id, role_arn, gcs_kms_key_name),
        check=None if no_check else destination_check,
    )
    emit(s.to_dict(), as_json, lambda d: "created " + _sync_line(d))


@sync.command("list")
@click.option("--workspace", "workspace_id", help="Only this workspace's syncs.")
@command
def sync_list(workspace_id: str | None, as_json: bool) -> None:
    """List syncs."""
    from eventsync.syncs.config import list_syncs

    data = [s.to_dict() for s in list_syncs(open_store(), workspace_id)]
    emit(data, as_json, lambda d: "\n".join(_sync_line(s) for s in d) or "no syncs")


@sync.command("show")
@click.argument("sync_id")
@command
def sync_show(sync_id: str, as_json: bool) -> None:
    """Show one sync's settings."""
    from eventsync.syncs.config import get_sync

    emit(get_sync(open_store(), sync_id).to_dict(), as_json)


@sync.command("update")
@click.argument("sync_id")
@click.option("--destination", help="Refused: a destination is fixed after creation.")
@click.option("--format", "formats", type=_FORMAT, multiple=True)
@click.option("--compression", type=_COMPRESSION)
@click.option("--event-type", "event_types", multiple=True)
@click.option("--all-event-types", is_flag=True, help="Remove the event-type filter.")
@click.option("--event-name", "event_names", multiple=True, help=_NAMES_HELP)
@click.option("--all-event-names", is_flag=True, help="Remove the event-name filter.")
@click.option("--frequency", type=_FREQUENCY, help="daily or hourly; applies at the next tick.")
@click.option("--backfill-days", type=int)
@click.option("--title")
@click.option("--enable/--disable", "enabled", default=None)
@click.option("--sse", type=_SSE)
@click.option("--kms-key-id")
@click.option("--gcs-kms-key-name")
@command
def sync_update(
    sync_id: str,
    destination: str | None,
    formats: tuple[str, ...],
    compression: str | None,
    event_types: tuple[str, ...],
    all_event_types: bool,
    event_names: tuple[str, ...],
    all_event_names: bool,
    frequency: str | None,
    backfill_days: int | None,
    title: str | None,
    enabled: bool | None,
    sse: str | None,
    kms_key_id: str | None,
    gcs_kms_key_name: str | None,
    as_json: bool,
) -> None:
    """Change a sync's title, frequency, formats, compression, filters, backfill days or
    state. A changed filter applies from the next export and re-exports nothing by
    itself: `eventsync sync resync --day D` re-exports chosen days with it."""
    from eventsync.errors import ConfigError
    from eventsync.syncs.config import update_sync

    if all_event_types and event_types:
        raise ConfigError("event_types", "give --event-type or --all-event-types, not both")
    if all_event_names and event_names:
        raise ConfigError("event_names", "give --event-name or --all-event-names, not both")
    changes: dict[str, Any] = {
        "destination": destination,
        "formats": list(formats) or None,
        "compression": compression,
        "backfill_days": backfill_days,
        "title": title,
        "enabled": enabled,
        "frequency": frequency,
        "event_types": list(event_types) or None,
        "event_names": list(event_names) or None,
        "options": _destination_options(sse, kms_key_id, None, gcs_kms_key_name) or None,
    }
    s = update_sync(
        open_store(),
        sync_id,
        clear_event_types=all_event_types,
        clear_event_names=all_event_names,
        **changes,
    )
    emit(s.to_dict(), as_json, lambda d: "updated " + _sync_line(d))


@sync.command("test")
@click.argument("sync_id")
@command
def sync_test(sync_id: str, as_json: bool) -> None:
    """Check the sync's destination before the first export: write a probe under
    _eventsync/test/ with the configured encryption; say exactly what is wrong when it
    fails: the classified problem, the error and the fix, exit status 1 (never a
    traceback). List/read/delete are reported for information."""
    from eventsync.destinations.probe import human_summary
    from eventsync.syncs.destination_check import run_sync_test

    result = run_sync_test(open_store(), sync_id)
    emit(result, as_json, human_summary)
    if not result["ok"]:
        sys.exit(1)

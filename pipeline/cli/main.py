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

from resources.errors import EventsyncError
from resources.keys import SCOPES
from resources.store import default_engine, upgrade


def _engine():  # type: ignore[no-untyped-def]
    return default_engine()


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
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    type=click.Choice(list(SCOPES)),
    help="Repeat for several. Default: all scopes.",
)
@click.option("--name", default=None, help="A name for people (who uses the key).")
@click.option("--expires-in-days", type=int, default=None, help="Default: never expires.")
@command
def key_create(
    workspace_id: str,
    scopes: tuple[str, ...],
    name: str | None,
    expires_in_days: int | None,
    as_json: bool,
) -> None:
    """Create an API key for a workspace (shown once, stored hashed)."""
    from pipeline.workspaces import create_key, list_keys
    from resources.keys import split_key

    plaintext = create_key(
        _engine(), workspace_id, list(scopes) or None, name=name, expires_in_days=expires_in_days
    )
    key_id = split_key(plaintext)[0]  # type: ignore[index]
    (row,) = [k for k in list_keys(_engine(), workspace_id) if k["id"] == key_id]
    _emit(
        {**row, "api_key": plaintext},
        as_json,
        lambda d: (
            f"key {d['id']} ({' '.join(d['scopes'])}"
            + (f"; expires {d['expires_at']}" if d["expires_at"] else "")
            + f")\nAPI key (shown once, store it now): {d['api_key']}"
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

    _emit(
        list_keys(_engine(), workspace_id),
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

    key_id = revoke_key(_engine(), key)
    _emit({"revoked": key_id}, as_json, lambda d: f"revoked key {d['revoked']}")


# --- syncs ----------------------------------------------------------------------------
@main.group()
def sync() -> None:
    """Syncs: what a workspace exports, where, in which formats."""


def _sync_line(s: dict) -> str:
    state = (
        "enabled"
        if s["enabled"] and not s["paused_reason"]
        else (f"paused: {s['paused_reason']}" if s["paused_reason"] else "disabled")
    )
    types = ",".join(s["event_types"]) if s["event_types"] else "all event types"
    return (
        f"{s['id']}  {s['title']!r}  -> {s['destination']}  "
        f"[{','.join(s['formats'])}/{s['compression']}; {types}; "
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


_FORMAT = click.Choice(["parquet", "csv", "jsonl"])
_COMPRESSION = click.Choice(["zstd", "snappy", "gzip", "none"])
_SSE = click.Choice(["AES256", "aws:kms"])


@sync.command("create")
@click.option("--workspace", "workspace_id", required=True)
@click.option(
    "--destination",
    required=True,
    help="A local path, file://..., s3://bucket/prefix or gs://bucket/prefix.",
)
@click.option("--format", "formats", type=_FORMAT, multiple=True, help="Repeat for several.")
@click.option("--compression", type=_COMPRESSION, default="zstd", show_default=True)
@click.option("--event-type", "event_types", multiple=True, help="Export only these types.")
@click.option("--backfill-days", type=int, default=30, show_default=True)
@click.option("--title")
@click.option("--sse", type=_SSE, help="S3 server-side encryption (default AES256).")
@click.option("--kms-key-id", help="KMS key for --sse aws:kms.")
@click.option("--role-arn", help="IAM role to assume for this sync (external id = workspace).")
@click.option("--gcs-kms-key-name", help="Cloud KMS key (CMEK) for gs:// destinations.")
@click.option("--disabled", is_flag=True, help="Create without starting exports.")
@command
def sync_create(
    workspace_id: str,
    destination: str,
    formats: tuple[str, ...],
    compression: str,
    event_types: tuple[str, ...],
    backfill_days: int,
    title: str | None,
    sse: str | None,
    kms_key_id: str | None,
    role_arn: str | None,
    gcs_kms_key_name: str | None,
    disabled: bool,
    as_json: bool,
) -> None:
    """Create a sync. Its destination cannot change afterwards; the new-sync sensor
    backfills its last --backfill-days days."""
    from pipeline.syncs.config import create_sync

    s = create_sync(
        _engine(),
        workspace_id,
        destination,
        formats=list(formats) or None,
        compression=compression,
        event_types=list(event_types) or None,
        backfill_days=backfill_days,
        title=title,
        enabled=not disabled,
        options=_destination_options(sse, kms_key_id, role_arn, gcs_kms_key_name),
    )
    _emit(s.to_dict(), as_json, lambda d: "created " + _sync_line(d))


@sync.command("list")
@click.option("--workspace", "workspace_id", help="Only this workspace's syncs.")
@command
def sync_list(workspace_id: str | None, as_json: bool) -> None:
    """List syncs."""
    from pipeline.syncs.config import list_syncs

    data = [s.to_dict() for s in list_syncs(_engine(), workspace_id)]
    _emit(data, as_json, lambda d: "\n".join(_sync_line(s) for s in d) or "no syncs")


@sync.command("show")
@click.argument("sync_id")
@command
def sync_show(sync_id: str, as_json: bool) -> None:
    """Show one sync's settings."""
    from pipeline.syncs.config import get_sync

    _emit(get_sync(_engine(), sync_id).to_dict(), as_json)


@sync.command("update")
@click.argument("sync_id")
@click.option("--destination", help="Refused: a destination is fixed after creation.")
@click.option("--format", "formats", type=_FORMAT, multiple=True)
@click.option("--compression", type=_COMPRESSION)
@click.option("--event-type", "event_types", multiple=True)
@click.option("--all-event-types", is_flag=True, help="Remove the event-type filter.")
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
    backfill_days: int | None,
    title: str | None,
    enabled: bool | None,
    sse: str | None,
    kms_key_id: str | None,
    gcs_kms_key_name: str | None,
    as_json: bool,
) -> None:
    """Change a sync's title, formats, compression, filters, backfill days or state."""
    from pipeline.syncs.config import update_sync

    changes: dict[str, Any] = {
        "destination": destination,
        "formats": list(formats) or None,
        "compression": compression,
        "backfill_days": backfill_days,
        "title": title,
        "enabled": enabled,
        "options": _destination_options(sse, kms_key_id, None, gcs_kms_key_name) or None,
    }
    if all_event_types:
        changes["event_types"] = None
        s = update_sync(_engine(), sync_id, clear_event_types=True, **changes)
    else:
        changes["event_types"] = list(event_types) or None
        s = update_sync(_engine(), sync_id, **changes)
    _emit(s.to_dict(), as_json, lambda d: "updated " + _sync_line(d))


@sync.command("backfill")
@click.argument("sync_id")
@click.option("--days", type=click.IntRange(1, 365), help="Default: the sync's backfill_days.")
@command
def sync_backfill(sync_id: str, days: int | None, as_json: bool) -> None:
    """Queue an asset backfill of the sync's last N closed UTC days on the Dagster
    instance ($DAGSTER_HOME); the daemon runs it in batches of 61 days, as from the UI."""
    from datetime import UTC, datetime

    from pipeline.defs.exports.backfills import submit_backfill
    from pipeline.defs.exports.partitions import closed_days
    from pipeline.defs.instance import dagster_instance
    from pipeline.syncs.config import get_sync

    s = get_sync(_engine(), sync_id)
    window = closed_days(days or s.backfill_days, datetime.now(UTC).date())
    with dagster_instance() as instance:
        backfill_id = submit_backfill(instance, s, window, "cli backfill")
    data = {
        "backfill_id": backfill_id,
        "sync_id": s.id,
        "days": len(window),
        "first_day": window[0],
        "last_day": window[-1],
    }
    _emit(
        data,
        as_json,
        lambda d: (
            f"backfill {d['backfill_id']} queued: {d['days']} days of {d['sync_id']} "
            f"({d['first_day']}..{d['last_day']}); the Dagster daemon runs it"
        ),
    )


@sync.command("test")
@click.argument("sync_id")
@command
def sync_test(sync_id: str, as_json: bool) -> None:
    """Check the sync's destination before the first export: write a probe under
    _eventsync/test/ with the configured encryption; say exactly what is wrong when it
    fails (exit status 1). List/read/delete are reported for information."""
    from pipeline.syncs.probe import run_sync_test
    from resources.destinations.probe import human_summary

    result = run_sync_test(_engine(), sync_id)
    _emit(result, as_json, human_summary)
    if not result["ok"]:
        sys.exit(1)


@sync.command("resync")
@click.argument("sync_id")
@click.option("--days", type=int, default=365, show_default=True, help="Window: 1..365 days.")
@click.option("--dry-run", is_flag=True, help="Only report the days that changed.")
@command
def sync_resync(sync_id: str, days: int, dry_run: bool, as_json: bool) -> None:
    """Re-export the days (within N days back) whose source changed since their export:
    one fingerprint query, compared with the export ledger; queues an asset backfill of
    exactly those days on the Dagster instance ($DAGSTER_HOME)."""
    from pipeline.defs.exports.resync import resync_sync
    from pipeline.syncs.config import get_sync
    from pipeline.syncs.resync import plan_resync

    if dry_run:
        data = plan_resync(_engine(), get_sync(_engine(), sync_id), days).to_dict()
        data["backfill_id"] = None
    else:
        from pipeline.defs.instance import dagster_instance

        with dagster_instance() as instance:
            data = resync_sync(_engine(), instance, sync_id, days).to_dict()

    def human(d: dict) -> str:
        head = (
            f"{d['sync_id']}: {len(d['days'])} of {d['days_with_rows']} days with rows changed "
            f"in {d['window'][0]}..{d['window'][1]} ({d['seconds']:.2f}s)"
        )
        lines = [head] + [f"  {day}: {why}" for day, why in d["reasons"].items()]
        if d["backfill_id"]:
            lines.append(f"backfill {d['backfill_id']} queued; the Dagster daemon runs it")
        return "\n".join(lines)

    _emit(data, as_json, human)


@sync.command("resume")
@click.argument("sync_id")
@command
def sync_resume(sync_id: str, as_json: bool) -> None:
    """Resume a sync paused after consecutive failed exports (clears the reason)."""
    from pipeline.syncs.health import resume_sync

    s = resume_sync(_engine(), sync_id)
    _emit(s.to_dict(), as_json, lambda d: f"resumed {d['id']}; failures reset to 0")


@sync.command("status")
@click.argument("sync_id")
@click.option("--from", "first", default=None, help="YYYY-MM-DD (default: 30 days back)")
@click.option("--to", "last", default=None, help="YYYY-MM-DD (default: yesterday)")
@command
def sync_status_cmd(sync_id: str, first: str | None, last: str | None, as_json: bool) -> None:
    """Where the sync stands: last exported day, lag, pause reason, per-day status."""
    from datetime import UTC, datetime, timedelta

    from pipeline.syncs.config import get_sync
    from pipeline.syncs.health import day_statuses, sync_status

    s = get_sync(_engine(), sync_id)
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    days = day_statuses(
        _engine(),
        s,
        first or (yesterday - timedelta(days=29)).isoformat(),
        last or yesterday.isoformat(),
    )
    data = {"sync": sync_status(_engine(), s).to_dict(), "days": [d.to_dict() for d in days]}

    def human(d: dict) -> str:
        st = d["sync"]
        lines = [
            f"{st['sync_id']}: last exported {st['last_exported_day'] or 'never'}, "
            f"lag {st['lag_days']} days, {'fresh' if st['fresh'] else 'STALE'}, "
            f"{st['consecutive_failures']} failures in a row",
        ]
        if st["paused_reason"]:
            lines.append(f"PAUSED: {st['paused_reason']}")
        for day in d["days"]:
            extra = f"{day['rows']} rows, {day['quarantined']} quarantined" if day["rows"] else ""
            if day["error"]:
                extra += f" error: {day['error']}"
            lines.append(f"  {day['day']}  {day['status']:<12} {extra}".rstrip())
        return "\n".join(lines)

    _emit(data, as_json, human)


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
    from pipeline.demo.seed import seed_demo

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

    from pipeline.api.app import create_app

    # server_header off: the API does not advertise its server software.
    uvicorn.run(create_app(), host=host, port=port, log_level="info", server_header=False)


# --- privacy --------------------------------------------------------------------------
@main.group()
def privacy() -> None:
    """Erasure and access-export requests (run by privacy_request_sensor, or --now)."""


def _cli_actor() -> str:
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no user name in some containers
        return "cli"


def _privacy_human(d: dict[str, Any]) -> str:
    lines = [f"{d['kind']} {d['id']}: {d['status']} (attempt {d['attempt']})"]
    if d.get("result_location"):
        lines.append(f"location: {d['result_location']}")
    if d.get("verified_at"):
        lines.append(f"verified at {d['verified_at']}")
    if d.get("error"):
        lines.append(f"error: {d['error']}")
    for where, what in (d.get("progress", {}).get("owner_action_required") or {}).items():
        lines.append(f"owner action required at {where}: {what}")
    return "\n".join(lines)


def _run_now(request_id: str) -> Any:
    """Claim and run the request in this process (no Dagster daemon needed)."""
    from pipeline.privacy import access_export, erasure, ledger

    engine = _engine()
    actor = _cli_actor()
    req = ledger.claim(engine, request_id, actor)
    if req.kind == "erasure":
        return erasure.run_erasure(engine, request_id, actor=actor, run_id="cli")
    ledger.start(engine, request_id, "cli", actor)
    try:
        result = access_export.run_access_export(engine, request_id, actor=actor)
    except Exception as exc:
        ledger.fail(engine, request_id, f"{type(exc).__name__}: {exc}", actor)
        raise
    return ledger.complete(engine, request_id, actor, result_location=result["location"])


@privacy.command("erase")
@click.option("--workspace", "workspace_id", required=True)
@click.option("--user-id", "user_ids", multiple=True, help="Repeat for several users.")
@click.option("--company-id", "company_ids", multiple=True, help="Repeat for several companies.")
@click.option("--now", "run_now", is_flag=True, help="Run here instead of via the sensor.")
@command
def privacy_erase(
    workspace_id: str,
    user_ids: tuple[str, ...],
    company_ids: tuple[str, ...],
    run_now: bool,
    as_json: bool,
) -> None:
    """Request the erasure of users and/or companies of a workspace."""
    from pipeline.privacy import ledger
    from pipeline.workspaces import get_workspace

    engine = _engine()
    get_workspace(engine, workspace_id)
    req = ledger.create_request(
        engine, workspace_id, "erasure", list(user_ids), list(company_ids), _cli_actor()
    )
    if run_now:
        req = _run_now(req.id)
    _emit(req.to_dict(), as_json, _privacy_human)


@privacy.command("export")
@click.option("--workspace", "workspace_id", required=True)
@click.option("--user-id", default=None)
@click.option("--company-id", default=None)
@click.option("--now", "run_now", is_flag=True, help="Run here instead of via the sensor.")
@command
def privacy_export(
    workspace_id: str, user_id: str | None, company_id: str | None, run_now: bool, as_json: bool
) -> None:
    """Request one user's (or company's) events and profile as CSV."""
    from pipeline.privacy import ledger
    from pipeline.workspaces import get_workspace

    engine = _engine()
    get_workspace(engine, workspace_id)
    req = ledger.create_request(
        engine,
        workspace_id,
        "access_export",
        [user_id] if user_id else [],
        [company_id] if company_id else [],
        _cli_actor(),
    )
    if run_now:
        req = _run_now(req.id)
    _emit(req.to_dict(), as_json, _privacy_human)


@privacy.command("status")
@click.argument("request_id")
@click.option("--log", "with_log", is_flag=True, help="Include the audit log.")
@command
def privacy_status(request_id: str, with_log: bool, as_json: bool) -> None:
    """Status, progress and location of a privacy request."""
    from pipeline.privacy import ledger

    req = ledger.get_request(_engine(), request_id)
    data = req.to_dict()
    if with_log:
        data["audit_log"] = ledger.audit_log(_engine(), request_id)
    _emit(data, as_json, _privacy_human)


@privacy.command("retry")
@click.argument("request_id")
@command
def privacy_retry(request_id: str, as_json: bool) -> None:
    """Queue a failed request again (same request, new attempt; finished steps skipped)."""
    from pipeline.privacy import ledger

    req = ledger.retry(_engine(), request_id, _cli_actor())
    _emit(req.to_dict(), as_json, _privacy_human)

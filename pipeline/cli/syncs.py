"""`eventsync sync ...`: create, inspect, test, backfill, re-sync and resume syncs."""

from __future__ import annotations

from typing import Any

import click

from pipeline.cli.common import cli_actor, command, emit, fail, main, open_store


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
    from pipeline.syncs.config import create_sync
    from pipeline.syncs.probe import destination_check

    s = create_sync(
        open_store(),
        workspace_id,
        destination,
        formats=list(formats) or None,
        compression=compression,
        event_types=list(event_types) or None,
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
    from pipeline.syncs.config import list_syncs

    data = [s.to_dict() for s in list_syncs(open_store(), workspace_id)]
    emit(data, as_json, lambda d: "\n".join(_sync_line(s) for s in d) or "no syncs")


@sync.command("show")
@click.argument("sync_id")
@command
def sync_show(sync_id: str, as_json: bool) -> None:
    """Show one sync's settings."""
    from pipeline.syncs.config import get_sync

    emit(get_sync(open_store(), sync_id).to_dict(), as_json)


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
        s = update_sync(open_store(), sync_id, clear_event_types=True, **changes)
    else:
        changes["event_types"] = list(event_types) or None
        s = update_sync(open_store(), sync_id, **changes)
    emit(s.to_dict(), as_json, lambda d: "updated " + _sync_line(d))


def _plan_lines(d: dict) -> list[str]:
    lines = []
    if d["backfill_id"]:
        lines.append(
            f"backfill {d['backfill_id']} queued: {d['days']} days of {d['sync_id']} "
            f"({d['first_day']}..{d['last_day']}); the Dagster daemon runs it"
        )
    for backfill_id, n in d["already_pending"].items():
        lines.append(f"{n} days already pending in backfill {backfill_id}: not queued again")
    if d["before_partitions_start"]:
        lines.append(
            f"{d['before_partitions_start']} days before the first partition day "
            f"{d['partitions_start']} skipped (EVENTSYNC_PARTITIONS_START)"
        )
    return lines or [f"{d['sync_id']}: nothing to queue"]


@sync.command("backfill")
@click.argument("sync_id")
@click.option("--days", type=click.IntRange(1, 365), help="Default: the sync's backfill_days.")
@command
def sync_backfill(sync_id: str, days: int | None, as_json: bool) -> None:
    """Queue an asset backfill of the sync's last N closed UTC days on the Dagster
    instance; the daemon runs it in batches of 61 days, as from the UI. Days already
    pending in another backfill of the sync are not queued twice."""
    from datetime import UTC, datetime

    from pipeline.defs.exports.backfills import submit_backfill
    from pipeline.defs.exports.partitions import closed_days
    from pipeline.defs.instance import dagster_instance
    from pipeline.syncs.config import get_sync
    from pipeline.syncs.health import require_unpaused

    s = require_unpaused(get_sync(open_store(), sync_id))
    window = closed_days(days or s.backfill_days, datetime.now(UTC).date())
    with dagster_instance() as instance:
        plan = submit_backfill(instance, s, window, "cli backfill")
    emit(plan.to_dict(), as_json, lambda d: "\n".join(_plan_lines(d)))


@sync.command("test")
@click.argument("sync_id")
@command
def sync_test(sync_id: str, as_json: bool) -> None:
    """Check the sync's destination before the first export: write a probe under
    _eventsync/test/ with the configured encryption; say exactly what is wrong when it
    fails (exit status 1). List/read/delete are reported for information."""
    from pipeline.syncs.probe import one_line, run_sync_test
    from resources.destinations.probe import human_summary

    result = run_sync_test(open_store(), sync_id)
    if not result["ok"]:
        fail(one_line(result), as_json, status=1)
    emit(result, as_json, human_summary)


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
    from pipeline.syncs.health import require_unpaused
    from pipeline.syncs.resync import plan_resync

    if dry_run:
        data = plan_resync(open_store(), get_sync(open_store(), sync_id), days).to_dict()
        data["backfill_id"] = None
        data["already_pending"] = {}
    else:
        require_unpaused(get_sync(open_store(), sync_id))
        from pipeline.defs.instance import dagster_instance

        with dagster_instance() as instance:
            data = resync_sync(open_store(), instance, sync_id, days).to_dict()

    def human(d: dict) -> str:
        head = (
            f"{d['sync_id']}: {len(d['days'])} of {d['days_with_rows']} days with rows changed "
            f"in {d['window'][0]}..{d['window'][1]} ({d['seconds']:.2f}s)"
        )
        lines = [head] + [f"  {day}: {why}" for day, why in d["reasons"].items()]
        if d["backfill_id"]:
            lines.append(f"backfill {d['backfill_id']} queued; the Dagster daemon runs it")
        for backfill_id, pending in d["already_pending"].items():
            lines.append(
                f"{len(pending)} of them already pending in backfill {backfill_id}: "
                "not queued again"
            )
        return "\n".join(lines)

    emit(data, as_json, human)


@sync.command("pause")
@click.argument("sync_id")
@click.option("--reason", default="paused by hand", show_default=True)
@command
def sync_pause(sync_id: str, reason: str, as_json: bool) -> None:
    """Pause a sync: no new export starts; its queued runs and pending backfill batches
    are canceled with the reason (`sync resume` re-requests them)."""
    from pipeline.defs.exports.pause import cancel_sync_work
    from pipeline.defs.instance import dagster_instance
    from pipeline.syncs.health import pause_sync

    s, changed = pause_sync(open_store(), sync_id, reason, cli_actor())
    with dagster_instance() as instance:
        canceled = cancel_sync_work(instance, s.id, s.paused_reason or reason)
    data = {**s.to_dict(), "was_paused": not changed, **canceled.to_dict()}

    def human(d: dict) -> str:
        head = f"{d['id']} was already paused" if d["was_paused"] else f"paused {d['id']}"
        return (
            f"{head}: {d['paused_reason']}\n"
            f"canceled {len(d['canceled_runs'])} queued runs and "
            f"{len(d['canceled_backfills'])} backfills; `eventsync sync resume {d['id']}` "
            "re-requests their days"
        )

    emit(data, as_json, human)


@sync.command("resume")
@click.argument("sync_id")
@command
def sync_resume(sync_id: str, as_json: bool) -> None:
    """Resume a paused sync (clears the reason and the failure count) and re-request
    the days its pause canceled."""
    from pipeline.defs.exports.pause import rerequest_paused_work
    from pipeline.defs.instance import dagster_instance
    from pipeline.syncs.health import resume_sync

    s, was_paused = resume_sync(open_store(), sync_id)
    data: dict[str, Any] = {**s.to_dict(), "was_paused": was_paused, "requeued": None}
    if was_paused:
        with dagster_instance() as instance:
            plan = rerequest_paused_work(instance, s)
        data["requeued"] = plan.to_dict() if plan else None

    def human(d: dict) -> str:
        if not d["was_paused"]:
            return f"{d['id']} was not paused: nothing to resume"
        lines = [f"resumed {d['id']}; failures reset to 0"]
        lines += _plan_lines(d["requeued"]) if d["requeued"] else ["no canceled work to re-request"]
        return "\n".join(lines)

    emit(data, as_json, human)


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

    s = get_sync(open_store(), sync_id)
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    days = day_statuses(
        open_store(),
        s,
        first or (yesterday - timedelta(days=29)).isoformat(),
        last or yesterday.isoformat(),
    )
    data = {"sync": sync_status(open_store(), s).to_dict(), "days": [d.to_dict() for d in days]}

    def human(d: dict) -> str:
        st = d["sync"]
        if st["last_exported_day"] is None:
            where = "never exported (no day has been exported yet)"
        else:
            where = (
                f"last exported {st['last_exported_day']}, lag {st['lag_days']} days, "
                f"{'fresh' if st['fresh'] else 'STALE'}"
            )
        lines = [
            f"{st['sync_id']} [{st['state']}]: {where}; {st['failed_days']} failed days, "
            f"{st['consecutive_failures']} failed runs in a row",
        ]
        if st["paused_reason"]:
            lines.append(f"PAUSED: {st['paused_reason']}")
        for day in d["days"]:
            extra = f"{day['rows']} rows, {day['quarantined']} quarantined" if day["rows"] else ""
            if day["error"]:
                extra += f" error: {day['error']}"
            lines.append(f"  {day['day']}  {day['status']:<12} {extra}".rstrip())
        return "\n".join(lines)

    emit(data, as_json, human)

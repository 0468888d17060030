"""`eventsync sync backfill | resync | pause | resume | status`: operating syncs on the
Dagster instance (the same one `make demo` and `dagster` commands use)."""

from __future__ import annotations

import time
from typing import Any

import click

from pipeline.cli.common import cli_actor, command, emit, fail, open_store
from pipeline.cli.syncs import sync


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


def _wait_for(instance: Any, backfill_ids: list[str], timeout: float) -> dict[str, str] | None:
    """Each backfill's final status once the daemon is done with all of them; None on
    timeout."""
    from dagster._core.execution.backfill import BulkActionStatus

    deadline = time.monotonic() + timeout
    while True:
        statuses = {b: instance.get_backfill(b).status for b in backfill_ids}
        if all(s != BulkActionStatus.REQUESTED for s in statuses.values()):
            return {b: s.value for b, s in statuses.items()}
        if time.monotonic() > deadline:
            return None
        time.sleep(2)


@sync.command("backfill")
@click.argument("sync_id")
@click.option("--days", type=click.IntRange(1, 365), help="Default: the sync's backfill_days.")
@click.option("--wait", is_flag=True, help="Wait until the daemon has run the backfill(s).")
@click.option("--timeout", type=float, default=1800, show_default=True, help="For --wait, s.")
@command
def sync_backfill(
    sync_id: str, days: int | None, wait: bool, timeout: float, as_json: bool
) -> None:
    """Queue an asset backfill of the sync's last N closed UTC days on the Dagster
    instance; the daemon runs it in batches of 61 days, as from the UI. Days already
    pending in another backfill of the sync are not queued twice (--wait waits for
    that one too). Exit status 1 when a waited-for backfill did not export every day."""
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
        data = plan.to_dict()
        if wait:
            ids = ([plan.backfill_id] if plan.backfill_id else []) + list(plan.pending)
            data["finished"] = _wait_for(instance, ids, timeout)
            if data["finished"] is None:
                fail(
                    f"backfill {', '.join(ids)} still running after {timeout:.0f}s: is the "
                    "Dagster daemon running? (`make demo` runs one; docs/deploy.md)",
                    as_json,
                    status=1,
                )

    def human(d: dict) -> str:
        lines = _plan_lines(d)
        for backfill_id, status in (d.get("finished") or {}).items():
            lines.append(f"backfill {backfill_id}: {status}")
        return "\n".join(lines)

    emit(data, as_json, human)
    if any(v != "COMPLETED_SUCCESS" for v in (data.get("finished") or {}).values()):
        fail(
            f"not every day was exported: `eventsync sync status {s.id}` says which and why",
            as_json,
            status=1,
        )


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

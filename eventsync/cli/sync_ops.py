"""`eventsync sync backfill | resync | pause | resume | delete | status`: operating syncs on the
Dagster instance (the same one `make demo` and `dagster` commands use)."""

from __future__ import annotations

import time
from typing import Any

import click

from eventsync.cli.common import cli_actor, command, emit, fail, open_store
from eventsync.cli.sync_commands import sync


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


def _wait_for(
    instance: Any, backfill_ids: list[str], timeout: float, as_json: bool
) -> dict[str, str] | None:
    """Each backfill's final status once the daemon is done with all of them; None on
    timeout. Without a heartbeating daemon (at the start or later on), says so and
    exits with status 2 within 10 s."""
    from pipeline.instance import daemon_problem
    from pipeline.runs.dagster_internals import BulkActionStatus

    deadline = time.monotonic() + timeout
    checked = 0.0
    while True:
        if time.monotonic() - checked > 30:
            problem = daemon_problem(instance)
            if problem:
                fail(f"backfill {', '.join(backfill_ids)} queued, but {problem}", as_json, 2)
            checked = time.monotonic()
        statuses = {b: instance.get_backfill(b).status for b in backfill_ids}
        if all(s != BulkActionStatus.REQUESTED for s in statuses.values()):
            return {b: s.value for b, s in statuses.items()}
        if time.monotonic() > deadline:
            return None
        time.sleep(2)


@sync.command("backfill")
@click.argument("sync_id")
@click.option("--days", type=click.IntRange(1, 365), help="Default: the sync's backfill_days.")
@click.option(
    "--wait",
    is_flag=True,
    help="Wait until the daemon has run the backfill(s); exit status 2 within 10 s when no "
    "Dagster daemon is running.",
)
@click.option("--timeout", type=float, default=1800, show_default=True, help="For --wait, s.")
@command
def sync_backfill(
    sync_id: str, days: int | None, wait: bool, timeout: float, as_json: bool
) -> None:
    """Queue an asset backfill of the sync's last N closed UTC days on the Dagster
    instance; the daemon runs it in batches of 61 days, as from the UI. Days already
    pending in another backfill of the sync are not queued twice (--wait waits for
    that one too). Exit status 1 when a waited-for backfill did not export every day."""
    from pipeline.instance import dagster_instance
    from pipeline.runs.sync_operations import backfill_last_days

    engine = open_store()  # a missing store is reported before the instance is opened
    with dagster_instance() as instance:
        s, plan = backfill_last_days(engine, instance, sync_id, days, "cli backfill")
        data = plan.to_dict()
        if wait:
            ids = ([plan.backfill_id] if plan.backfill_id else []) + list(plan.pending)
            data["finished"] = _wait_for(instance, ids, timeout, as_json) if ids else {}
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
@click.option(
    "--day",
    "chosen",
    multiple=True,
    help="Re-export this closed UTC day (YYYY-MM-DD) with the current settings, changed or "
    "not (e.g. after a filter change); repeat for several. Replaces the --days window.",
)
@click.option("--dry-run", is_flag=True, help="Only report the days that changed.")
@command
def sync_resync(
    sync_id: str, days: int, chosen: tuple[str, ...], dry_run: bool, as_json: bool
) -> None:
    """Re-export the days (within N days back) whose source changed since their export:
    one fingerprint query, compared with the export ledger; queues an asset backfill of
    exactly those days on the Dagster instance ($DAGSTER_HOME). A changed filter
    re-exports nothing by itself: each day is compared under the filters it was
    exported with; --day re-exports chosen days with the current ones."""
    from eventsync.syncs.config import get_sync
    from eventsync.syncs.health import require_unpaused
    from eventsync.syncs.resync_plan import plan_chosen_days, plan_resync
    from pipeline.runs.resync import resync_chosen_days, resync_sync

    sync = get_sync(open_store(), sync_id)
    if dry_run:
        plan = (
            plan_chosen_days(sync, list(chosen))
            if chosen
            else plan_resync(open_store(), sync, days)
        )
        data = plan.to_dict()
        data["backfill_id"] = None
        data["already_pending"] = {}
    else:
        require_unpaused(sync)
        from pipeline.instance import dagster_instance

        with dagster_instance() as instance:
            if chosen:
                outcome = resync_chosen_days(open_store(), instance, sync_id, list(chosen))
            else:
                outcome = resync_sync(open_store(), instance, sync_id, days)
            data = outcome.to_dict()

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
    """Pause a sync: no new export starts; its queued and running runs and pending
    backfill batches are canceled with the reason (a running run of that sync alone ends
    CANCELED; a run of several syncs skips it); `sync resume` re-requests their days."""
    from pipeline.instance import dagster_instance
    from pipeline.runs.sync_operations import pause

    engine = open_store()
    with dagster_instance() as instance:
        data = pause(engine, instance, sync_id, reason, cli_actor())

    def human(d: dict) -> str:
        head = f"{d['id']} was already paused" if d["was_paused"] else f"paused {d['id']}"
        return (
            f"{head}: {d['paused_reason']}\n"
            f"canceled {len(d['canceled_runs'])} queued or running runs and "
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
    from pipeline.instance import dagster_instance
    from pipeline.runs.sync_operations import resume

    engine = open_store()
    with dagster_instance() as instance:
        data = resume(engine, instance, sync_id)

    def human(d: dict) -> str:
        if not d["was_paused"]:
            return f"{d['id']} was not paused: nothing to resume"
        lines = [f"resumed {d['id']}; failures reset to 0"]
        lines += _plan_lines(d["requeued"]) if d["requeued"] else ["no canceled work to re-request"]
        return "\n".join(lines)

    emit(data, as_json, human)


def _run_problems(sync_id: str) -> dict | None:
    """The sync's runs stuck or failed for the infrastructure (Dagster's view); None
    when the instance cannot be read (said in the output, not hidden)."""
    try:
        from pipeline.instance import dagster_instance
        from pipeline.runs.run_health import run_problems

        with dagster_instance() as instance:
            return run_problems(instance, sync_id).to_dict()
    except Exception:
        return None


@sync.command("delete")
@click.argument("sync_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@command
def sync_delete(sync_id: str, yes: bool, as_json: bool) -> None:
    """Delete a sync: it is disabled for good and its queued work is canceled (a running
    run of that sync alone ends CANCELED; a run of several syncs skips it). Its exported
    files stay in the destination (they are the customer's), and erasures still reach
    them. Audited. Every later operation on it is refused."""
    from eventsync.syncs.config import get_sync, require_not_deleted
    from pipeline.instance import dagster_instance
    from pipeline.runs.sync_operations import delete

    engine = open_store()
    s = require_not_deleted(get_sync(engine, sync_id))
    if not yes and not as_json:
        click.confirm(
            f"delete {s.id} ({s.title!r} -> {s.destination})? Its files stay there",
            abort=True,
        )
    with dagster_instance() as instance:
        data = delete(engine, instance, sync_id, cli_actor())

    def human(d: dict) -> str:
        return (
            f"deleted {d['id']}: canceled {len(d['canceled_runs'])} runs and "
            f"{len(d['canceled_backfills'])} backfills; "
            f"its exported files stay in {d['destination']}"
        )

    emit(data, as_json, human)


@sync.command("status")
@click.argument("sync_id")
@click.option("--from", "first", default=None, help="YYYY-MM-DD (default: 30 days back)")
@click.option("--to", "last", default=None, help="YYYY-MM-DD (default: yesterday)")
@command
def sync_status_cmd(sync_id: str, first: str | None, last: str | None, as_json: bool) -> None:
    """Where the sync stands: last exported day, lag, pause reason, per-day status."""
    from datetime import timedelta

    from eventsync.clock import utc_today
    from eventsync.syncs.config import get_sync
    from eventsync.syncs.health import day_statuses, sync_status

    s = get_sync(open_store(), sync_id)
    yesterday = utc_today() - timedelta(days=1)
    days = day_statuses(
        open_store(),
        s,
        first or (yesterday - timedelta(days=29)).isoformat(),
        last or yesterday.isoformat(),
    )
    data = {"sync": sync_status(open_store(), s).to_dict(), "days": [d.to_dict() for d in days]}
    data["runs"] = _run_problems(sync_id)
    if data["runs"] and not data["runs"]["healthy"] and s.enabled and not s.paused_reason:
        # The data may be fresh while its runs hang or die: say so, never just "fresh".
        data["sync"]["state"] = "runs stuck" if data["runs"]["stuck"] else "runs failing"

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
        runs = d["runs"]
        if runs is None:
            lines.append("runs: the Dagster instance could not be read")
        elif not runs["healthy"]:
            lines.append(
                f"RUNS: {len(runs['stuck'])} stuck (no progress for 15 min): "
                f"{', '.join(runs['stuck']) or '-'}; {len(runs['failed_infrastructure'])} "
                f"failed for the infrastructure in 24 h (retried by Dagster up to twice): "
                f"{', '.join(runs['failed_infrastructure']) or '-'}"
            )
        for day in d["days"]:
            extra = f"{day['rows']} rows, {day['quarantined']} quarantined" if day["rows"] else ""
            if day["error"]:
                extra += f" error: {day['error']}"
            lines.append(f"  {day['day']}  {day['status']:<12} {extra}".rstrip())
        return "\n".join(lines)

    emit(data, as_json, human)

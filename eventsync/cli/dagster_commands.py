"""`eventsync dagster migrate-partitions`: one-off operations on the Dagster instance
(the same one `make demo` and `dagster` commands use)."""

from __future__ import annotations

import click

from eventsync.cli.common import command, emit, main


@main.group()
def dagster() -> None:
    """Operations on the Dagster instance."""


@dagster.command("migrate-partitions")
@click.option(
    "--wait",
    "wait_seconds",
    type=click.FloatRange(0),
    default=0,
    show_default=True,
    help="Seconds to wait for in-flight work of the old partitions before canceling it.",
)
@command
def migrate_partitions_cmd(wait_seconds: float, as_json: bool) -> None:
    """Retire the date x sync partitions after upgrading to date-only partitions: cancel
    (after --wait) backfills and queued runs of the old shape, wipe both assets'
    partitions status cache, delete the `sync` dynamic partitions. The old history stays
    readable; running it again does nothing. docs/deploy.md, "Upgrading"."""
    from pipeline.instance import dagster_instance
    from pipeline.runs.migrate import migrate_partitions

    with dagster_instance() as instance:
        data = migrate_partitions(instance, wait_seconds).to_dict()

    def human(d: dict) -> str:
        lines = [
            f"canceled {len(d['canceled_backfills'])} backfills and "
            f"{len(d['canceled_runs'])} queued runs of the old partitions"
            + (
                f" ({len(d['finished_backfills'])} finished while waiting)"
                if d["finished_backfills"]
                else ""
            ),
            f"wiped the partitions status cache of {', '.join(d['wiped_status_cache'])}",
            f"deleted {d['deleted_sync_partitions']} `sync` dynamic partitions",
        ]
        if d["running_runs"]:
            lines.append(
                f"{len(d['running_runs'])} runs of the old partitions still running (left to "
                f"end): {', '.join(d['running_runs'])}"
            )
        return "\n".join(lines)

    emit(data, as_json, human)

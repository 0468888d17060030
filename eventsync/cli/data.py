"""`eventsync ingest`, `demo seed` and `api`: data in, demo data, the HTTP API."""

from __future__ import annotations

from typing import Any

import click

from eventsync import settings
from eventsync.cli.common import command, emit, fail, main, open_store
from eventsync.errors import EventsyncError
from eventsync.store.connection import upgrade


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
    Valid events are stored; each rejected line goes to the rejects file with its reason.
    Exit status 1 when any line was rejected (the valid ones are stored all the same).
    A store fault stops the import (exit status 2), naming it and the first line not
    stored; running the same command again stores the rest, each event once."""
    from eventsync.ingest import ingest_file

    result = ingest_file(open_store(), workspace_id, file, rejects_path=rejects_path)
    data = {
        "file": file,
        "workspace_id": workspace_id,
        "accepted": result.accepted,
        "rejected": result.rejected,
        "rejects_path": result.rejects_path,
    }
    emit(
        data,
        as_json,
        lambda d: (
            f"{d['accepted']} events accepted, {d['rejected']} rejected"
            + (f"; rejected lines with reasons: {d['rejects_path']}" if d["rejects_path"] else "")
        ),
    )
    if result.rejected:
        fail(
            f"{result.rejected} of {result.accepted + result.rejected} lines rejected "
            f"(each with its reason in {result.rejects_path})",
            as_json,
            status=1,
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
    from eventsync.demo.seed import seed_demo

    upgrade()
    result = seed_demo(open_store(), days=days, events_per_day=events_per_day, seed=seed_value)

    def human(d: dict[str, Any]) -> str:
        lines = [
            f"demo workspace {d['workspace_id']}, sync {d['sync_id']} -> {d['destination']}",
            f"{d['inserted']} events written ({d['skipped_existing']} already there) for "
            f"{d['first_day']} .. {d['last_day']}: {d['invalid']} invalid, {d['late']} late",
        ]
        if d.get("api_key"):
            lines.append(f"API key (shown once, store it now): {d['api_key']}")
        return "\n".join(lines)

    emit(result, as_json, human)


@main.command("api")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--port",
    type=int,
    default=None,
    show_default=f"${settings.Settings.env_name('api_port')}, else {settings.defaults().api_port}",
)
def api_cmd(host: str, port: int | None) -> None:
    """Serve the HTTP API (OpenAPI at /openapi.json, docs at /docs)."""
    try:  # a missing store or a bad setting is one clear line here, not a 500 later
        open_store()
        port = settings.load().api_port if port is None else port
    except EventsyncError as exc:
        fail(str(exc), as_json=False)
    import uvicorn

    from eventsync.api.app import create_app

    # server_header off: the API does not advertise its server software.
    # proxy_headers off: X-Forwarded-For counts only from EVENTSYNC_TRUSTED_PROXIES (the
    # app applies it), not from whatever uvicorn trusts by default.
    from eventsync.ops.logs import uvicorn_log_config

    uvicorn.run(
        create_app(),
        host=host,
        port=port,
        log_level="info",
        log_config=uvicorn_log_config(),  # plain or JSON lines, never colour codes
        server_header=False,
        proxy_headers=False,
    )


@main.command("ui-guard")
@click.option(
    "--upstream", required=True, help="dagster-webserver's host:port (e.g. 127.0.0.1:3001)."
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, required=True)
@click.option(
    "--allow-host",
    multiple=True,
    help="Another host[:port] the UI is reached under (a DNS name); repeatable.",
)
def ui_guard_cmd(upstream: str, host: str, port: int, allow_host: tuple[str, ...]) -> None:
    """Serve the Dagster UI through a guard that refuses a foreign Host or Origin and
    GraphQL over GET (eventsync/ui_guard)."""
    import uvicorn

    from eventsync.ui_guard import GuardRules, create_app

    rules = GuardRules.for_listen(host, port, list(allow_host))
    uvicorn.run(
        create_app(upstream, rules),
        host=host,
        port=port,
        log_level="warning",
        server_header=False,
        proxy_headers=False,
        ws="websockets",
    )

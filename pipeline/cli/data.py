"""`eventsync ingest`, `demo seed` and `api`: data in, demo data, the HTTP API."""

from __future__ import annotations

from typing import Any

import click

from pipeline.cli.common import command, emit, fail, main, open_store
from resources.errors import EventsyncError
from resources.store import upgrade


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
@click.option("--port", type=int, default=8000, show_default=True)
def api_cmd(host: str, port: int) -> None:
    """Serve the HTTP API (OpenAPI at /openapi.json, docs at /docs)."""
    import uvicorn

    from pipeline.api.app import create_app

    try:  # a missing store is one clear line here, not a 500 on every request
        open_store()
    except EventsyncError as exc:
        fail(str(exc), as_json=False)
    # server_header off: the API does not advertise its server software.
    uvicorn.run(create_app(), host=host, port=port, log_level="info", server_header=False)

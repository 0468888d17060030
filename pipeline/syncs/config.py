"""Sync configuration: create, read, update. The destination is fixed after creation."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Engine, insert, select, update

from assets.event_schema import EVENT_TYPES
from assets.formats import AUTO, FORMATS, compression_error
from resources.clock import now_iso
from resources.destinations.base import parse_destination
from resources.errors import ConfigError, NotFound
from resources.schema import syncs

SSE_MODES = ("AES256", "aws:kms")
MAX_BACKFILL_DAYS = 365
# Options that may be set per sync; none of them is a secret.
OPTION_KEYS = ("sse", "kms_key_id", "role_arn", "external_id", "gcs_kms_key_name")


@dataclass(frozen=True)
class Sync:
    id: str
    workspace_id: str
    title: str
    destination: str
    formats: list[str]
    compression: str
    event_types: list[str] | None
    backfill_days: int
    enabled: bool
    options: dict[str, Any] = field(default_factory=dict)
    created_at: str = ""
    updated_at: str = ""
    paused_reason: str | None = None
    consecutive_failures: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _validate(values: dict[str, Any]) -> dict[str, Any]:
    """Check every field; raise ConfigError naming the first wrong one."""
    formats = values["formats"]
    if not isinstance(formats, list) or not formats:
        raise ConfigError("formats", f"must be a non-empty list of {', '.join(FORMATS)}")
    for f in formats:
        if f not in FORMATS:
            raise ConfigError("formats", f"unknown format {f!r}; choose from {', '.join(FORMATS)}")
    if len(set(formats)) != len(formats):
        raise ConfigError("formats", "lists a format twice")
    problem = compression_error(formats, values["compression"])
    if problem:
        raise ConfigError("compression", problem)
    event_types = values["event_types"]
    if event_types is not None:
        if not isinstance(event_types, list) or not event_types:
            raise ConfigError("event_types", "must be a non-empty list, or omitted for all types")
        for t in event_types:
            if t not in EVENT_TYPES:
                raise ConfigError(
                    "event_types", f"unknown event type {t!r}; choose from {', '.join(EVENT_TYPES)}"
                )
    backfill = values["backfill_days"]
    if (
        not isinstance(backfill, int)
        or isinstance(backfill, bool)
        or not 0 <= backfill <= MAX_BACKFILL_DAYS
    ):
        raise ConfigError(
            "backfill_days", f"must be an integer from 0 to {MAX_BACKFILL_DAYS}, got {backfill!r}"
        )
    title = values["title"]
    if not isinstance(title, str) or not title.strip() or len(title) > 200:
        raise ConfigError("title", "must be a non-empty string of at most 200 characters")
    options = values["options"]
    for key in options:
        if key not in OPTION_KEYS:
            raise ConfigError(f"options.{key}", f"unknown option; known: {', '.join(OPTION_KEYS)}")
    sse = options.get("sse")
    if sse is not None and sse not in SSE_MODES:
        raise ConfigError("sse", f"must be one of {', '.join(SSE_MODES)}, got {sse!r}")
    if options.get("kms_key_id") and sse != "aws:kms":
        raise ConfigError("kms_key_id", "requires --sse aws:kms")
    dest = parse_destination(values["destination"])
    if dest.kind != "s3" and (sse or options.get("role_arn")):
        raise ConfigError("sse", "server-side encryption and role_arn apply to s3:// destinations")
    if dest.kind != "gcs" and options.get("gcs_kms_key_name"):
        raise ConfigError("gcs_kms_key_name", "applies to gs:// destinations")
    return values


def _row_to_sync(row: Any) -> Sync:
    m = row._mapping
    return Sync(
        id=m["id"],
        workspace_id=m["workspace_id"],
        title=m["title"],
        destination=m["destination"],
        formats=json.loads(m["formats"]),
        compression=m["compression"],
        event_types=json.loads(m["event_types"]) if m["event_types"] else None,
        backfill_days=m["backfill_days"],
        enabled=bool(m["enabled"]),
        options=json.loads(m["options"]),
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        paused_reason=m["paused_reason"],
        consecutive_failures=m["consecutive_failures"] or 0,
    )


def new_sync_id() -> str:
    return f"sync_{secrets.token_hex(6)}"


class DestinationRefused(ConfigError):
    """`sync create` probed the destination and could not write to it."""

    def __init__(self, line: str) -> None:
        super().__init__("destination", f"{line} (to create the sync anyway: --no-check)")


# (destination URI, options, sync id) -> (ok, one-line summary); see pipeline.syncs.probe
DestinationCheck = Callable[[str, dict[str, Any], str], tuple[bool, str]]


def create_sync(
    engine: Engine,
    workspace_id: str,
    destination: str,
    formats: list[str] | None = None,
    compression: str = AUTO,
    event_types: list[str] | None = None,
    backfill_days: int = 30,
    title: str | None = None,
    enabled: bool = True,
    options: dict[str, Any] | None = None,
    sync_id: str | None = None,
    check: DestinationCheck | None = None,
) -> Sync:
    """Validate and store a sync. With `check`, the destination is probed first and a
    destination that refuses writes is not stored (DestinationRefused)."""
    from pipeline.workspaces import get_workspace

    get_workspace(engine, workspace_id)
    options = {k: v for k, v in (options or {}).items() if v is not None}
    if parse_destination(destination).kind == "s3" and options.get("role_arn"):
        # The external id guards the role against the confused-deputy problem.
        options.setdefault("external_id", workspace_id)
    values = _validate(
        {
            "destination": destination,
            "formats": formats or ["parquet"],
            "compression": compression,
            "event_types": event_types,
            "backfill_days": backfill_days,
            "title": title or f"Sync to {destination}",
            "options": options,
        }
    )
    sync_id = sync_id or new_sync_id()
    if check is not None:
        ok, line = check(str(parse_destination(destination)), options, sync_id)
        if not ok:
            raise DestinationRefused(line)
    now = now_iso()
    with engine.begin() as conn:
        conn.execute(
            insert(syncs).values(
                id=sync_id,
                workspace_id=workspace_id,
                title=values["title"].strip(),
                destination=str(parse_destination(destination)),
                formats=json.dumps(values["formats"]),
                compression=compression,
                event_types=json.dumps(event_types) if event_types else None,
                backfill_days=backfill_days,
                enabled=enabled,
                options=json.dumps(options, sort_keys=True),
                created_at=now,
                updated_at=now,
                consecutive_failures=0,
            )
        )
    return get_sync(engine, sync_id)


def get_sync(engine: Engine, sync_id: str, workspace_id: str | None = None) -> Sync:
    """The sync; with `workspace_id`, a sync of another workspace is NotFound too."""
    query = select(syncs).where(syncs.c.id == sync_id)
    if workspace_id is not None:
        query = query.where(syncs.c.workspace_id == workspace_id)
    with engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        raise NotFound(f"sync {sync_id!r} not found")
    return _row_to_sync(row)


def list_syncs(
    engine: Engine, workspace_id: str | None = None, enabled_only: bool = False
) -> list[Sync]:
    query = select(syncs).order_by(syncs.c.created_at, syncs.c.id)
    if workspace_id is not None:
        query = query.where(syncs.c.workspace_id == workspace_id)
    if enabled_only:
        query = query.where(syncs.c.enabled.is_(True), syncs.c.paused_reason.is_(None))
    with engine.connect() as conn:
        return [_row_to_sync(r) for r in conn.execute(query)]


UPDATABLE = (
    "title",
    "formats",
    "compression",
    "event_types",
    "backfill_days",
    "enabled",
    "options",
)


def update_sync(
    engine: Engine, sync_id: str, clear_event_types: bool = False, **changes: Any
) -> Sync:
    """Change editable settings (None leaves a setting as it is; `clear_event_types`
    removes the event-type filter). The destination cannot change (docs/destinations.md)."""
    current = get_sync(engine, sync_id)
    if "destination" in changes:
        new = changes.pop("destination")
        if new is not None and str(parse_destination(new)) != current.destination:
            raise ConfigError(
                "destination",
                f"cannot change after the sync is created (it is {current.destination}); "
                "create a new sync for another destination",
            )
    unknown = set(changes) - set(UPDATABLE)
    if unknown:
        raise ConfigError(sorted(unknown)[0], "is not a sync setting that can be updated")
    changes = {k: v for k, v in changes.items() if v is not None}
    merged_options = {**current.options, **changes.get("options", {})}
    merged_options = {k: v for k, v in merged_options.items() if v is not None}
    values = _validate(
        {
            "destination": current.destination,
            "formats": changes.get("formats", current.formats),
            "compression": changes.get("compression", current.compression),
            "event_types": None
            if clear_event_types
            else changes.get("event_types", current.event_types),
            "backfill_days": changes.get("backfill_days", current.backfill_days),
            "title": changes.get("title", current.title),
            "options": merged_options,
        }
    )
    row: dict[str, Any] = {
        "title": values["title"].strip(),
        "formats": json.dumps(values["formats"]),
        "compression": values["compression"],
        "event_types": json.dumps(values["event_types"]) if values["event_types"] else None,
        "backfill_days": values["backfill_days"],
        "options": json.dumps(merged_options, sort_keys=True),
        "updated_at": now_iso(),
    }
    if "enabled" in changes:
        row["enabled"] = bool(changes["enabled"])
        if changes["enabled"]:
            row["paused_reason"] = None
            row["consecutive_failures"] = 0
    with engine.begin() as conn:
        conn.execute(update(syncs).where(syncs.c.id == sync_id).values(**row))
    return get_sync(engine, sync_id)

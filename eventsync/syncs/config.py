"""Sync configuration: create, read, update. The destination is fixed after creation."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import Engine, insert, select, update

from eventsync.clock import now_iso
from eventsync.destinations.interface import parse_destination
from eventsync.engine.event_schema import EVENT_TYPES
from eventsync.engine.formats import AUTO, FORMATS, compression_error
from eventsync.engine.name_filter import MAX_PATTERNS, pattern_error
from eventsync.errors import ConfigError, Conflict, NotFound
from eventsync.store.schema import syncs

SSE_MODES = ("AES256", "aws:kms")
MAX_BACKFILL_DAYS = 365
# Options that may be set per sync; none of them is a secret.
OPTION_KEYS = ("sse", "kms_key_id", "role_arn", "external_id", "gcs_kms_key_name")


class Frequency(StrEnum):
    """How often a sync exports. Read from the store at every schedule tick, so a change
    applies at the next tick without a restart."""

    DAILY = "daily"  # 03:00 UTC: the closed previous UTC day
    HOURLY = "hourly"  # also the current UTC day so far, at least hourly (partial)


FREQUENCIES = tuple(f.value for f in Frequency)


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
    frequency: str = Frequency.DAILY.value
    event_names: list[str] | None = None
    deleted_at: str | None = None

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
    event_names = values.get("event_names")
    if event_names is not None:
        if not isinstance(event_names, list) or not event_names:
            raise ConfigError("event_names", "must be a non-empty list, or omitted for all names")
        if len(event_names) > MAX_PATTERNS:
            raise ConfigError("event_names", f"at most {MAX_PATTERNS} names or patterns")
        for name in event_names:
            problem = pattern_error(name)
            if problem:
                raise ConfigError("event_names", problem)
    frequency = values.get("frequency", Frequency.DAILY.value)
    if frequency not in FREQUENCIES:
        raise ConfigError(
            "frequency", f"must be one of {', '.join(FREQUENCIES)}, got {str(frequency)[:40]!r}"
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


def _stored(values: dict[str, Any]) -> dict[str, Any]:
    """A sync's validated settings (`_validate`) as its row holds them, when it is
    created and when it is updated alike; `_row_to_sync` reads them back."""
    return {
        "title": values["title"].strip(),
        "formats": json.dumps(values["formats"]),
        "compression": values["compression"],
        "event_types": json.dumps(values["event_types"]) if values["event_types"] else None,
        "event_names": json.dumps(values["event_names"]) if values["event_names"] else None,
        "frequency": values["frequency"],
        "backfill_days": values["backfill_days"],
        "options": json.dumps(values["options"], sort_keys=True),
    }


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
        frequency=m["frequency"] or Frequency.DAILY.value,
        event_names=json.loads(m["event_names"]) if m["event_names"] else None,
        deleted_at=m["deleted_at"],
    )


def new_sync_id() -> str:
    return f"sync_{secrets.token_hex(6)}"


class DestinationRefused(ConfigError):
    """`sync create` probed the destination and could not write to it."""

    def __init__(self, line: str) -> None:
        super().__init__("destination", f"{line} (to create the sync anyway: --no-check)")


# (destination URI, options, sync id) -> (ok, one-line summary): see
# eventsync.syncs.destination_check
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
    frequency: str = Frequency.DAILY.value,
    event_names: list[str] | None = None,
) -> Sync:
    """Validate and store a sync. With `check`, the destination is probed first and a
    destination that refuses writes is not stored (DestinationRefused)."""
    from eventsync.workspaces import get_workspace

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
            "event_names": event_names,
            "frequency": frequency,
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
                destination=str(parse_destination(destination)),
                enabled=enabled,
                created_at=now,
                updated_at=now,
                consecutive_failures=0,
                **_stored(values),
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
        query = query.where(
            syncs.c.enabled.is_(True),
            syncs.c.paused_reason.is_(None),
            syncs.c.deleted_at.is_(None),
        )
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
    "frequency",
    "event_names",
)


def update_sync(
    engine: Engine,
    sync_id: str,
    clear_event_types: bool = False,
    clear_event_names: bool = False,
    workspace_id: str | None = None,
    **changes: Any,
) -> Sync:
    """Change editable settings (None leaves a setting as it is; `clear_event_types` /
    `clear_event_names` remove a filter). The destination cannot change
    (docs/destinations.md). A changed filter applies from the next export and re-exports
    nothing by itself (`eventsync sync resync` re-exports chosen days). With
    `workspace_id`, a sync of another workspace is NotFound; a deleted sync cannot change
    at all (Conflict)."""
    current = require_not_deleted(get_sync(engine, sync_id, workspace_id))
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
            "event_names": None
            if clear_event_names
            else changes.get("event_names", current.event_names),
            "frequency": changes.get("frequency", current.frequency),
            "backfill_days": changes.get("backfill_days", current.backfill_days),
            "title": changes.get("title", current.title),
            "options": merged_options,
        }
    )
    row = {**_stored(values), "updated_at": now_iso()}
    if "enabled" in changes:
        row["enabled"] = bool(changes["enabled"])
        if changes["enabled"]:
            row["paused_reason"] = None
            row["consecutive_failures"] = 0
    with engine.begin() as conn:
        conn.execute(update(syncs).where(syncs.c.id == sync_id).values(**row))
    return get_sync(engine, sync_id)


def require_not_deleted(sync: Sync) -> Sync:
    """Refuse any change or work for a deleted sync, saying when it was deleted."""
    if sync.deleted_at:
        raise Conflict(
            f"sync {sync.id} was deleted at {sync.deleted_at}: nothing can be done with it "
            "any more (its exported files stay in the destination); create a new sync"
        )
    return sync


def require_enabled(sync: Sync) -> Sync:
    """Refuse export work (backfill, re-sync) for a deleted or disabled sync."""
    require_not_deleted(sync)
    if not sync.enabled:
        raise Conflict(
            f"sync {sync.id} is disabled: it exports nothing; enable it first with "
            f"`eventsync sync update {sync.id} --enable`"
        )
    return sync


def delete_sync(
    engine: Engine,
    sync_id: str,
    actor: str,
    source: str = "cli",
    workspace_id: str | None = None,
    client_address: str | None = None,
) -> Sync:
    """Delete a sync: disabled and marked deleted, in one transaction with its audit row.

    Kept: the row, its export ledger and its subject -> days index (erasures still
    rewrite the days it exported: the files stay the customer's, in the destination).
    Canceling its queued work is the Dagster wiring's job
    (pipeline.runs.deletion), done by the CLI at once and by new_sync_sensor for a
    deletion through the API. A sync already deleted is a Conflict."""
    from eventsync import audit

    current = require_not_deleted(get_sync(engine, sync_id, workspace_id))
    now = now_iso()
    with engine.begin() as conn:
        changed = conn.execute(
            update(syncs)
            .where(syncs.c.id == sync_id, syncs.c.deleted_at.is_(None))
            .values(enabled=False, deleted_at=now, updated_at=now)
        ).rowcount
        if not changed:  # deleted meanwhile by someone else
            conn.rollback()
            return require_not_deleted(get_sync(engine, sync_id))
        audit.record(
            conn,
            current.workspace_id,
            source,
            actor,
            "sync.delete",
            target=sync_id,
            client_address=client_address,
            detail={"destination_kept": True, "was_enabled": current.enabled},
        )
    return get_sync(engine, sync_id)

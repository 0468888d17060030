"""The one rule for subject ids (user ids and company ids), for everything that takes
one: ingestion (API, CLI files), privacy requests (API, CLI), access exports and
un-suppression.

The rule, for a NEW id: a string of 1..128 characters (the event schema's limit) that
is not only whitespace, has no leading or trailing whitespace and holds no control
character (C0, DEL, C1 -- tab, newline and
NUL included) and no lone surrogate (which no UTF-8 store can hold). Unicode letters,
symbols, quotes and SQL-looking text are fine: ids are always bound as parameters or
compared in Arrow, never spliced into SQL.

Privacy requests must reach every id that is held, so they accept an id that breaks the
rule when this workspace holds it already (stored by an older version, or by another
writer of the store): in events, profiles, the exported-days index or the suppression
list. Whatever is stored can be erased and exported; nothing new that breaks the rule
is stored.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Engine, select

from assets.event_schema import MAX_ID_LENGTH
from resources.errors import ConfigError
from resources.pseudonyms import subject_hash
from resources.schema import (
    company_profiles,
    events,
    export_subjects,
    suppressions,
    syncs,
    user_profiles,
)

KINDS = ("user", "company")
MAX_LENGTH = MAX_ID_LENGTH
# Longer ids are refused without looking them up (no store column is wider).
MAX_LOOKUP_LENGTH = 4096
_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def problem(value: Any) -> str | None:
    """Why `value` cannot be a new subject id, as a phrase that follows the field name
    ("is too long: ..."), or None when it can."""
    if not isinstance(value, str):
        return f"is not a string (got {'null' if value is None else type(value).__name__})"
    if not value.strip():
        return "is empty"
    if len(value) > MAX_LENGTH:
        return f"is too long: {len(value)} characters, at most {MAX_LENGTH}"
    bad = _FORBIDDEN.search(value)
    if bad is not None:
        char = bad.group()
        if "\ud800" <= char <= "\udfff":  # invalid bytes decoded, or an unpaired escape
            return (
                f"contains a lone surrogate (U+{ord(char):04X}) at position {bad.start()}: "
                "not valid UTF-8"
            )
        return f"contains a control character (U+{ord(char):04X}) at position {bad.start()}"
    if value != value.strip():
        return "has leading or trailing whitespace"
    return None


def _storable(engine: Engine, value: str) -> bool:
    """Could any store hold this string? (PostgreSQL text has no NUL; UTF-8 no surrogate.)"""
    if len(value) > MAX_LOOKUP_LENGTH or re.search("[\ud800-\udfff]", value):
        return False
    return not (engine.dialect.name == "postgresql" and "\x00" in value)


def is_held(engine: Engine, workspace_id: str, kind: str, value: str) -> bool:
    """Does this workspace hold the subject anywhere eventsync looks (store, exported-days
    index, suppression list)?"""
    if kind == "user":
        probes = [
            select(events.c.event_id).where(
                events.c.workspace_id == workspace_id, events.c.user_id == value
            ),
            select(user_profiles.c.user_id).where(
                user_profiles.c.workspace_id == workspace_id, user_profiles.c.user_id == value
            ),
        ]
    else:
        probes = [
            select(events.c.event_id).where(
                events.c.workspace_id == workspace_id, events.c.company_id == value
            ),
            select(company_profiles.c.company_id).where(
                company_profiles.c.workspace_id == workspace_id,
                company_profiles.c.company_id == value,
            ),
        ]
    probes += [
        select(export_subjects.c.day).where(
            export_subjects.c.sync_id.in_(
                select(syncs.c.id).where(syncs.c.workspace_id == workspace_id)
            ),
            export_subjects.c.subject_type == kind,
            export_subjects.c.subject_id == value,
        ),
        select(suppressions.c.request_id).where(
            suppressions.c.workspace_id == workspace_id,
            suppressions.c.subject_type == kind,
            suppressions.c.subject_hash == subject_hash(workspace_id, kind, value),
        ),
    ]
    with engine.connect() as conn:
        return any(conn.execute(probe.limit(1)).first() is not None for probe in probes)


def requested_ids(
    engine: Engine, workspace_id: str, kind: str, field: str, values: Any
) -> list[str]:
    """The distinct ids of a privacy request's `field` (in order). Each follows the rule
    or is held by the workspace already; otherwise ConfigError names the id's position
    and what is wrong with it."""
    if kind not in KINDS:
        raise ValueError(f"unknown subject kind {kind!r}")
    if values is None:
        return []
    if not isinstance(values, list | tuple):
        raise ConfigError(field, f"must be a list of strings, got {type(values).__name__}")
    out: list[str] = []
    seen: set[str] = set()
    for i, value in enumerate(values):
        reason = problem(value)
        if reason is not None and not (
            isinstance(value, str)
            and _storable(engine, value)
            and is_held(engine, workspace_id, kind, value)
        ):
            held = "" if not isinstance(value, str) else "; no such id is held in this workspace"
            raise ConfigError(f"{field}[{i}]", f"the id {reason}{held}")
        if value not in seen:
            seen.add(value)
            out.append(value)
    return out

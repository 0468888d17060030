"""The Data Sync settings form, built from the sync model: one field per editable
setting of `eventsync.syncs.config` (`UPDATABLE`, typed by the `Sync` dataclass), so a
setting added there (a frequency, event-name filters ...) appears on the page without
a change here.

How a setting is shown follows from its type and from the choices the config module
declares for it:
- a list with choices (formats, event types): check boxes; none ticked on an optional
  list means "no filter" (cleared with `update_sync(clear_<name>=True)` where the
  config offers it);
- a list without choices (names): a text area, one per line;
- a string with choices (compression; a `Literal`, an Enum, or a tuple constant of
  the config named after the field: `frequency` -> `FREQUENCIES`): a select;
- int: a number; bool: a check box; anything else: a text field.

`enabled` (pause and resume) and `options` (the destination's encryption and role,
fixed with the destination) have pages of their own and are left out.
"""

from __future__ import annotations

import enum
import inspect
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from eventsync.engine.event_schema import EVENT_TYPES
from eventsync.engine.formats import COMPRESSIONS, FORMATS
from eventsync.errors import ConfigError
from eventsync.syncs import config
from eventsync.syncs.config import Sync

NOT_ON_THIS_FORM = ("enabled", "options")
KNOWN_CHOICES: dict[str, tuple[str, ...]] = {
    "formats": tuple(FORMATS),
    "compression": tuple(COMPRESSIONS),
    "event_types": tuple(EVENT_TYPES),
}
LABELS = {
    "title": "Title",
    "formats": "Formats",
    "compression": "Compression",
    "event_types": "Event types",
    "backfill_days": "Backfill days",
    "frequency": "Frequency",
    "event_names": "Event names",
}
HELP = {
    "formats": "Each format is written to its own folder.",
    "compression": "auto: zstd for Parquet, gzip for CSV and JSON lines.",
    "event_types": "None ticked: every event type.",
    "backfill_days": "How many closed days a new or re-enabled sync exports (0 to 365).",
    "event_names": "One per line; empty: every event name.",
}


@dataclass
class SettingField:
    name: str
    label: str
    widget: str  # text | number | select | checkboxes | lines | checkbox
    value: Any
    choices: tuple[str, ...] = ()
    optional: bool = False
    help: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def values(self) -> list[str]:
        """The current value as a list of strings (for check boxes and text areas)."""
        if self.value is None:
            return []
        if isinstance(self.value, list | tuple):
            return [str(v) for v in self.value]
        return [str(self.value)]


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return (rest[0] if len(rest) == 1 else str), True
    return tp, False


def _choices_of(name: str, tp: Any) -> tuple[str, ...]:
    if name in KNOWN_CHOICES:
        return KNOWN_CHOICES[name]
    if typing.get_origin(tp) is typing.Literal:
        return tuple(str(a) for a in typing.get_args(tp))
    if inspect.isclass(tp) and issubclass(tp, enum.Enum):
        return tuple(str(m.value) for m in tp)
    upper = name.upper()
    plural = f"{upper[:-1]}IES" if upper.endswith("Y") else f"{upper}S"
    for constant in (plural, f"{upper}_CHOICES"):
        found = getattr(config, constant, None)
        if isinstance(found, tuple | list) and found and all(isinstance(v, str) for v in found):
            return tuple(found)
    return ()


def editable_names() -> list[str]:
    return [n for n in config.UPDATABLE if n not in NOT_ON_THIS_FORM]


def fields_of(sync: Sync) -> list[SettingField]:
    """The settings form's fields, with the sync's current values."""
    hints = typing.get_type_hints(Sync)
    out = []
    for name in editable_names():
        tp, optional = _unwrap_optional(hints.get(name, str))
        value = getattr(sync, name, None)
        if isinstance(value, enum.Enum):
            value = value.value
        label = LABELS.get(name, name.replace("_", " ").capitalize())
        origin = typing.get_origin(tp)
        if origin in (list, tuple) or tp in (list, tuple):
            (item,) = typing.get_args(tp)[:1] or (str,)
            choices = _choices_of(name, item)
            widget = "checkboxes" if choices else "lines"
        else:
            choices = _choices_of(name, tp)
            if choices:
                widget = "select"
            elif tp is bool:
                widget = "checkbox"
            elif tp is int:
                widget = "number"
            else:
                widget = "text"
        out.append(SettingField(name, label, widget, value, choices, optional, HELP.get(name, "")))
    return out


def changes_from(form: Any, fields: list[SettingField]) -> tuple[dict[str, Any], list[str]]:
    """(the `update_sync` keyword arguments, the names of optional lists left empty)
    from a submitted form; ConfigError names a field whose value is not of its type."""
    changes: dict[str, Any] = {}
    cleared: list[str] = []
    for f in fields:
        if f.widget == "checkboxes":
            picked = [v for v in form.getlist(f.name) if isinstance(v, str)]
            unknown = [v for v in picked if v not in f.choices]
            if unknown:
                raise ConfigError(f.name, f"unknown choice {unknown[0][:40]!r}")
            if picked:
                changes[f.name] = picked
            elif f.optional:
                cleared.append(f.name)
            else:
                changes[f.name] = []  # the config's validation names the problem
        elif f.widget == "lines":
            text = form.get(f.name) or ""
            lines = [line.strip() for line in str(text).splitlines() if line.strip()]
            if lines:
                changes[f.name] = lines
            elif f.optional:
                cleared.append(f.name)
        elif f.widget == "checkbox":
            changes[f.name] = form.get(f.name) == "on"
        elif f.widget == "number":
            raw = str(form.get(f.name) or "").strip()
            try:
                changes[f.name] = int(raw)
            except ValueError:
                raise ConfigError(f.name, f"must be a whole number, got {raw[:40]!r}") from None
        else:
            raw = form.get(f.name)
            if raw is not None:
                if f.widget == "select" and raw not in f.choices:
                    raise ConfigError(f.name, f"choose one of {', '.join(f.choices)}")
                changes[f.name] = str(raw)
    return changes, cleared


def apply(engine: Any, sync: Sync, form: Any) -> tuple[Sync, dict[str, Any]]:
    """Update the sync from the form through `config.update_sync`; returns the new sync
    and what changed (name -> new value)."""
    fields = fields_of(sync)
    changes, cleared = changes_from(form, fields)
    accepted = set(inspect.signature(config.update_sync).parameters)
    clears = {f"clear_{n}": True for n in cleared if f"clear_{n}" in accepted}
    updated = config.update_sync(engine, sync.id, **clears, **changes)
    before, after = sync.to_dict(), updated.to_dict()
    changed = {n: after.get(n) for n in editable_names() if before.get(n) != after.get(n)}
    return updated, changed

"""The one rule for subject ids (user ids and company ids), for everything that takes
one: ingestion (API, CLI files), privacy requests (API, CLI), erasure, the suppression
list, access exports and un-suppression. `canonical` is the one comparison.

The rule, for a NEW id: a string of 1 to `LIMITS.subject_id` characters (counted in
its NFC form) that is not only whitespace, has no leading or trailing whitespace and
holds no character a reader cannot see or tell apart from another (`invisible`):

- control characters (Cc: C0, DEL, C1 -- tab, newline and NUL included);
- format characters (Cf: zero-width space/joiners U+200B-U+200D, the byte-order mark
  U+FEFF, soft hyphen U+00AD, bidirectional controls U+202A-U+202E and U+2066-U+2069,
  tag characters ...) and every other default-ignorable code point (variation
  selectors, fillers such as U+3164, U+034F);
- surrogates (Cs: no UTF-8 store can hold one) and private-use code points (Co: no
  reader can tell what they show);
- line and paragraph separators (Zl, Zp) and every space other than U+0020 (no-break
  space, ideographic space ...): they look like a plain space.

How ids compare: **exactly, after Unicode NFC normalisation** (`canonical`). Ids that
differ only in how an accented letter is encoded (NFD "e" + U+0301 vs NFC "é") are one
id: ingestion stores the NFC form, and privacy requests, the suppression list's keyed
hashes (eventsync/pseudonyms.py) and access exports look the NFC form up. Case,
full-width forms and compatibility characters are NOT folded (no NFKC, no case folding):
they are different ids for the platforms that send them (Mixpanel, Segment and
Amplitude ids are case-sensitive), and folding them would merge two real people.
Code points unassigned in this Python's Unicode database are accepted (refusing them
would refuse characters a newer Unicode adds, such as new emoji). `PATTERN` states the
rule as a regular expression for the OpenAPI document.
Unicode letters, symbols, quotes and SQL-looking text are fine: ids are always bound as
parameters or compared in Arrow, never spliced into SQL.

Privacy requests must reach every id that is held, so they accept an id that breaks the
rule when this workspace holds it already (stored by an older version, or by another
writer of the store): in events, profiles, the exported-days index or the suppression
list. A held id that is not in NFC (stored before this rule) is looked up both as held
and in its NFC form. Whatever is stored can be erased and exported; nothing new that
breaks the rule is stored.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from sqlalchemy import Engine, select

from eventsync.errors import ConfigError
from eventsync.event_limits import LIMITS
from eventsync.pseudonyms import canonical, subject_hash
from eventsync.store.schema import (
    company_profiles,
    events,
    export_subjects,
    suppression_key,
    suppressions,
    syncs,
    user_profiles,
)

# `canonical` (NFC) lives beside the keyed hash that uses it (eventsync/pseudonyms.py,
# a lower layer); it is this rule's comparison and is exported from here.
__all__ = ["KINDS", "canonical", "invisible", "is_held", "problem", "requested_ids"]
KINDS = ("user", "company")
# Longer ids are refused without looking them up (no store column is wider).
MAX_LOOKUP_LENGTH = 4096
# Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt): characters that
# render as nothing. Most are Cf; these ranges add the others (Mn variation selectors,
# Lo fillers, Cn reserved ones).
_DEFAULT_IGNORABLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f"
    "\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff]"
)
_INVISIBLE_CATEGORIES = {
    "Cc": "a control character",
    "Cf": "an invisible format character",
    "Cs": "a lone surrogate",
    "Co": "a private-use character",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
    "Zs": "a space other than U+0020",
}


def _refused_ranges() -> list[tuple[int, int]]:
    """The code points `invisible` refuses, as (first, last) ranges."""
    ranges: list[list[int]] = []
    for code in range(0x110000):
        char = chr(code)
        category = unicodedata.category(char)
        refused = (category in _INVISIBLE_CATEGORIES and char != " ") or bool(
            _DEFAULT_IGNORABLE.match(char)
        )
        if refused:
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1][1] = code
            else:
                ranges.append([code, code])
    return [(a, b) for a, b in ranges]


def invisible(value: str) -> tuple[int, str, str] | None:
    """(position, character, what it is) of the first character the rule refuses as
    invisible or indistinguishable, or None."""
    for i, char in enumerate(value):
        category = unicodedata.category(char)
        if category == "Zs" and char == " ":
            continue
        what = _INVISIBLE_CATEGORIES.get(category)
        if what is None and _DEFAULT_IGNORABLE.match(char):
            what = "an invisible (default-ignorable) character"
        if what is not None:
            return i, char, what
    return None


def problem(value: Any) -> str | None:
    """Why `value` cannot be a new subject id, as a phrase that follows the field name
    ("is too long: ..."), or None when it can."""
    if not isinstance(value, str):
        return f"is not a string (got {'null' if value is None else type(value).__name__})"
    if not value.strip():
        return "is empty"
    length = len(canonical(value))
    if length > LIMITS.subject_id:
        return f"is too long: {length} characters, at most {LIMITS.subject_id}"
    bad = invisible(value)
    if bad is not None:
        at, char, what = bad
        if "\ud800" <= char <= "\udfff":  # invalid bytes decoded, or an unpaired escape
            return (
                f"contains a lone surrogate (U+{ord(char):04X}) at position {at}: not valid UTF-8"
            )
        return f"contains {what} (U+{ord(char):04X}) at position {at}"
    if value != value.strip():
        return "has leading or trailing whitespace"
    return None


# The code points `invisible` refuses, as (first, last) ranges: written out, because
# computing them walks every code point (seconds); tests/eventsync/test_subjects.py
# checks them against `_refused_ranges()`.
REFUSED_RANGES = (
    (0x0000, 0x001F),
    (0x007F, 0x00A0),
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x0600, 0x0605),
    (0x061C, 0x061C),
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x115F, 0x1160),
    (0x1680, 0x1680),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x2000, 0x200F),
    (0x2028, 0x202F),
    (0x205F, 0x206F),
    (0x3000, 0x3000),
    (0x3164, 0x3164),
    (0xD800, 0xF8FF),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x13438),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
    (0xF0000, 0xFFFFD),
    (0x100000, 0x10FFFD),
)


def _pattern(ranges: tuple[tuple[int, int], ...] = REFUSED_RANGES) -> str:
    """The rule for a new id as a regular expression, for the OpenAPI document (the
    length limit is stated apart, maxLength). BMP code points as \\uXXXX escapes; the
    others as the characters themselves (schemathesis and Python's re take them; a
    \\U escape is not JSON Schema's regex syntax)."""

    def esc(code: int) -> str:
        return f"\\u{code:04x}" if code < 0x10000 else chr(code)

    # Surrogates are left out: UTF-8 JSON cannot carry one, and regex engines that work
    # on code points (jsonschema-rs, used by schemathesis) refuse them in a pattern.
    ranges = tuple(
        part
        for a, b in ranges
        for part in ((a, min(b, 0xD7FF)), (max(a, 0xE000), b))
        if part[0] <= part[1] and not 0xD800 <= part[0] <= 0xDFFF
    )
    refused = "".join(esc(a) if a == b else f"{esc(a)}-{esc(b)}" for a, b in ranges)
    return f"^[^\\s{refused}](?:[^{refused}]*[^\\s{refused}])?$"


PATTERN = _pattern()


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
            suppression_key(workspace_id, kind, subject_hash(workspace_id, kind, value))
        ),
    ]
    with engine.connect() as conn:
        return any(conn.execute(probe.limit(1)).first() is not None for probe in probes)


def refusal(engine: Engine, workspace_id: str, kind: str, value: Any) -> str | None:
    """Why a privacy request cannot name `value` ("the id is empty", ...), or None: it
    follows the rule, or the workspace holds it already. `requested_ids` (the API and the
    CLI) and the console's privacy portal (which names every refused id) use it."""
    reason = problem(value)
    if reason is None:
        return None
    if not isinstance(value, str):
        return f"the id {reason}"
    if _storable(engine, value) and is_held(engine, workspace_id, kind, value):
        return None
    return f"the id {reason}; no such id is held in this workspace"


def request_forms(engine: Engine, workspace_id: str, kind: str, value: str) -> list[str]:
    """The forms a request names for an accepted id: its canonical (NFC) form, plus, for
    a held id stored before the rule that is not in NFC, that stored form too."""
    forms = [canonical(value)]
    if (
        forms[0] != value
        and _storable(engine, value)
        and is_held(engine, workspace_id, kind, value)
    ):
        forms.append(value)
    return forms


def requested_ids(
    engine: Engine, workspace_id: str, kind: str, field: str, values: Any
) -> list[str]:
    """The distinct ids of a privacy request's `field` (in order), in their canonical
    (NFC) form -- plus, for a held id stored before the rule that is not in NFC, that
    stored form too. Each follows the rule or is held by the workspace already;
    otherwise ConfigError names the id's position and what is wrong with it."""
    if kind not in KINDS:
        raise ValueError(f"unknown subject kind {kind!r}")
    if values is None:
        return []
    if not isinstance(values, list | tuple):
        raise ConfigError(field, f"must be a list of strings, got {type(values).__name__}")
    out: list[str] = []
    seen: set[str] = set()
    for i, value in enumerate(values):
        reason = refusal(engine, workspace_id, kind, value)
        if reason is not None:
            raise ConfigError(f"{field}[{i}]", reason)
        for form in request_forms(engine, workspace_id, kind, value):
            if form not in seen:
                seen.add(form)
                out.append(form)
    return out

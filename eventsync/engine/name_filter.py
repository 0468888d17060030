"""Event-name filters: exact names and `*` globs, applied in the store query.

A pattern is an event name in which `*` stands for any run of characters (none
included); every other character stands for itself, case-sensitively (`?`, `[`, `%`,
`_` and `\\` are plain characters). A pattern without `*` is an exact name. A sync with
patterns exports the events whose name matches at least one of them.

The same semantics on both stores, in SQL so that nothing filtered out is read:
PostgreSQL gets `LIKE ... ESCAPE '\\'` with `%`, `_` and `\\` escaped (its LIKE is
case-sensitive); SQLite gets `GLOB` with `?` and `[` escaped as `[?]` and `[[]` (its LIKE
ignores ASCII case, its GLOB does not). Patterns are inlined as quoted literals (ADBC's
PostgreSQL driver streams with COPY only for queries without bind parameters):
`quote` doubles single quotes, and a pattern never holds NUL or control characters
(`pattern_error`), so a pattern cannot leave its literal.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from eventsync.event_limits import LIMITS

MAX_PATTERNS = 100
WILDCARD = "*"


def pattern_error(pattern: object) -> str | None:
    """Why `pattern` is not a valid event-name pattern, or None."""
    if not isinstance(pattern, str) or not pattern:
        return f"must be a non-empty string, got {pattern!r}"[:200]
    if len(pattern) > LIMITS.event_name:
        return f"longer than an event name can be ({LIMITS.event_name} characters)"
    if any(not ch.isprintable() for ch in pattern):
        return f"holds a control character: {pattern[:80]!a}"
    return None


def matches(name: str | None, patterns: Sequence[str]) -> bool:
    """The reference semantics (what the SQL does): `name` matches one of `patterns`."""
    if name is None:
        return False
    return any(_regex(p).fullmatch(name) is not None for p in patterns)


def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in pattern.split(WILDCARD)), re.DOTALL)


def quote(value: str) -> str:
    """An SQL string literal (standard: single quotes doubled, backslashes plain)."""
    if "\x00" in value:
        raise ValueError("refusing to inline a string with a NUL character")
    return "'" + value.replace("'", "''") + "'"


def _like(pattern: str) -> str:
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace(WILDCARD, "%")


def _glob(pattern: str) -> str:
    # `*` stays the wildcard; `]` alone is plain in GLOB.
    return pattern.replace("[", "[[]").replace("?", "[?]")


def sql_condition(column: str, patterns: Sequence[str], dialect: str) -> str:
    """The WHERE condition `column` matches one of `patterns` on `dialect` (sqlite or
    postgresql). Exact names become one IN list."""
    exact = sorted({p for p in patterns if WILDCARD not in p})
    globs = sorted({p for p in patterns if WILDCARD in p})
    terms = []
    if exact:
        terms.append(f"{column} IN ({', '.join(quote(p) for p in exact)})")
    for p in globs:
        if dialect == "sqlite":
            terms.append(f"{column} GLOB {quote(_glob(p))}")
        elif dialect == "postgresql":
            terms.append(f"{column} LIKE {quote(_like(p))} ESCAPE '\\'")
        else:
            raise ValueError(f"no event-name filter for SQL dialect {dialect!r}")
    if not terms:
        raise ValueError("an event-name filter needs at least one pattern")
    return "(" + " OR ".join(terms) + ")"

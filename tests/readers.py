"""Independent reads of exported files for assertions, and the reader recipes of
docs/destinations.md as written there (the reader matrix runs them verbatim)."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

DOCS = Path(__file__).resolve().parents[1] / "docs" / "destinations.md"
# A recipe: `<!-- reader: NAME FORMAT -->` right before a ```python block.
_RECIPE = re.compile(r"<!-- reader: (\w+) (\w+) -->\n```python\n(.*?)```", re.S)


def docs_recipes() -> dict[tuple[str, str], str]:
    """{(reader, format): the code of its recipe in docs/destinations.md}."""
    found: dict[tuple[str, str], str] = {}
    for reader, fmt, code in _RECIPE.findall(DOCS.read_text()):
        assert (reader, fmt) not in found, f"two recipes for {reader} {fmt}"
        found[(reader, fmt)] = code
    return found


def csv_rows(path: Path) -> list[dict]:
    """Every value as text, `""` an empty string and an empty field NULL: the
    export's CSV dialect read exactly."""
    return (
        duckdb.sql(
            f"SELECT * FROM read_csv('{path}', header=true, all_varchar=true, "
            "allow_quoted_nulls=false, delim=',', quote='\"', escape='\"')"
        )
        .arrow()
        .read_all()
        .to_pylist()
    )

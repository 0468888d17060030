"""Independent reads of exported files for assertions."""

from __future__ import annotations

from pathlib import Path

import duckdb


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

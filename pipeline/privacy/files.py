"""Row filtering of exported, staged and quarantined files (erasure rewrites them).

Each exported format is filtered in its own format, so rows that stay keep their
values: Parquet through pyarrow (same codec), CSV through DuckDB with every column
read as text, JSON lines line by line (kept lines are byte-identical).
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

CONTENT_TYPE = {
    "parquet": "application/vnd.apache.parquet",
    "csv": "text/csv",
    "jsonl": "application/x-ndjson",
}


def codec_of(key: str) -> str | None:
    """Stream compression of a CSV/JSON-lines key, from its suffix."""
    if key.endswith(".gz"):
        return "gzip"
    if key.endswith(".zst"):
        return "zstd"
    return None


def parquet_codec(meta: pq.FileMetaData) -> str:
    if meta.num_row_groups == 0 or meta.num_columns == 0:
        return "zstd"
    codec = meta.row_group(0).column(0).compression.lower()
    return {"uncompressed": "none"}.get(codec, codec)


def subject_mask(table: pa.Table, users: set[str], companies: set[str]) -> pa.ChunkedArray:
    """True for rows that belong to an erased subject."""
    hit = pc.is_in(table["user_id"], value_set=pa.array(sorted(users), pa.string()))
    hit = pc.fill_null(hit, False)
    if companies and "company_id" in table.column_names:
        chit = pc.fill_null(
            pc.is_in(table["company_id"], value_set=pa.array(sorted(companies), pa.string())),
            False,
        )
        hit = pc.or_(hit, chit)
    return hit


def count_subject_rows(table: pa.Table, users: set[str], companies: set[str]) -> int:
    if table.num_rows == 0:
        return 0
    return int(pc.sum(subject_mask(table, users, companies).cast(pa.int64())).as_py() or 0)


def filter_parquet_bytes(
    data: bytes, users: set[str], companies: set[str], out: Path
) -> tuple[int, int]:
    """(kept, removed). Same schema and codec as the input."""
    pf = pq.ParquetFile(io.BytesIO(data))
    table = pf.read()
    mask = subject_mask(table, users, companies)
    kept = table.filter(pc.invert(mask))
    pq.write_table(kept, out, compression=parquet_codec(pf.metadata))
    return kept.num_rows, table.num_rows - kept.num_rows


def filter_parquet_file(path: Path, users: set[str], companies: set[str]) -> int:
    """Rewrite a local Parquet file without the subjects' rows (atomically); returns
    the rows removed (0: file untouched)."""
    if not path.exists():
        return 0
    ids = pq.read_table(path, columns=[c for c in ("user_id", "company_id") if _has(path, c)])
    if count_subject_rows(ids, users, companies) == 0:
        return 0
    tmp = path.with_name(path.name + ".erase-tmp")
    _kept, removed = filter_parquet_bytes(path.read_bytes(), users, companies, tmp)
    os.replace(tmp, path)
    return removed


def _has(path: Path, column: str) -> bool:
    return column in pq.read_schema(path).names


def _id_list(ids: set[str]) -> str:
    if not ids:
        return "NULL"
    return ", ".join("'" + i.replace("'", "''") + "'" for i in sorted(ids))


def filter_csv_bytes(
    data: bytes, key: str, users: set[str], companies: set[str], workdir: Path
) -> tuple[int, int, Path]:
    """(kept, removed, output path): the CSV without the subjects' rows, same codec."""
    codec = codec_of(key)
    src = workdir / ("in.csv" + {"gzip": ".gz", "zstd": ".zst", None: ""}[codec])
    src.write_bytes(data)
    out = workdir / ("out-" + key.rsplit("/", 1)[-1])
    con = duckdb.connect()
    try:
        con.execute("SET threads = 1")
        con.execute("SET preserve_insertion_order = true")
        read = (
            f"read_csv('{_q(src)}', header = true, all_varchar = true, "
            f"allow_quoted_nulls = false, compression = '{codec or 'none'}')"
        )
        where = (
            f"NOT (coalesce(user_id IN ({_id_list(users)}), false) OR "
            f"coalesce(company_id IN ({_id_list(companies)}), false))"
        )
        total = con.execute(f"SELECT count(*) FROM {read}").fetchone()[0]  # type: ignore[index]
        con.execute(
            f"COPY (SELECT * FROM {read} WHERE {where}) TO '{_q(out)}' "
            f"(FORMAT CSV, HEADER true, COMPRESSION '{codec or 'none'}')"
        )
        kept = con.execute(f"SELECT count(*) FROM {read} WHERE {where}").fetchone()[0]  # type: ignore[index]
    finally:
        con.close()
    return int(kept), int(total) - int(kept), out


def _q(path: Path) -> str:
    return str(path).replace("'", "''")


def _jsonl_lines(data: bytes, codec: str | None) -> list[bytes]:
    if codec:
        with pa.input_stream(pa.BufferReader(data), compression=codec) as stream:
            data = stream.read()
    return [line for line in data.split(b"\n") if line.strip()]


def _is_subject(record: dict, users: set[str], companies: set[str]) -> bool:
    return record.get("user_id") in users or (
        record.get("company_id") is not None and record.get("company_id") in companies
    )


def filter_jsonl_bytes(
    data: bytes, key: str, users: set[str], companies: set[str], workdir: Path
) -> tuple[int, int, Path]:
    """(kept, removed, output path); kept lines are copied byte for byte."""
    codec = codec_of(key)
    lines = _jsonl_lines(data, codec)
    kept = [line for line in lines if not _is_subject(json.loads(line), users, companies)]
    out = workdir / ("out-" + key.rsplit("/", 1)[-1])
    body = b"".join(line + b"\n" for line in kept)
    with pa.output_stream(str(out), compression=codec) as stream:
        stream.write(body)
    return len(kept), len(lines) - len(kept), out


def filter_export_bytes(
    data: bytes, fmt: str, key: str, users: set[str], companies: set[str], workdir: Path
) -> tuple[int, int, Path]:
    if fmt == "parquet":
        out = workdir / ("out-" + key.rsplit("/", 1)[-1])
        kept, removed = filter_parquet_bytes(data, users, companies, out)
        return kept, removed, out
    if fmt == "csv":
        return filter_csv_bytes(data, key, users, companies, workdir)
    if fmt == "jsonl":
        return filter_jsonl_bytes(data, key, users, companies, workdir)
    raise ValueError(f"unknown export format {fmt!r} in manifest for {key}")


def count_in_export(
    data: bytes, fmt: str, key: str, users: set[str], companies: set[str], workdir: Path
) -> tuple[int, int]:
    """(rows, rows of the subjects) in an exported file: the verification read."""
    if fmt == "parquet":
        table = pq.read_table(io.BytesIO(data))
        return table.num_rows, count_subject_rows(table, users, companies)
    if fmt == "csv":
        kept, removed, _ = filter_csv_bytes(data, key, users, companies, workdir)
        return kept + removed, removed
    lines = _jsonl_lines(data, codec_of(key))
    hits = sum(1 for line in lines if _is_subject(json.loads(line), users, companies))
    return len(lines), hits

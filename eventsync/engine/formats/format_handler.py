"""The interface every export format implements, and the subject filter they share.

A handler owns everything format-specific about one exported file: its file name
suffix per compression codec, its content type, how it is rendered from the staged
Parquet file, how an erasure filters subjects out of it (in its own format, so the
rows that stay keep their bytes and types) and how verification counts its rows.
"""

from __future__ import annotations

import abc
from pathlib import Path
from typing import ClassVar

import pyarrow as pa
import pyarrow.compute as pc

SUBJECT_COLUMNS = ("user_id", "company_id")


def subject_mask(table: pa.Table, users: set[str], companies: set[str]) -> pa.ChunkedArray:
    """True for the rows that belong to one of the subjects (by user or company id)."""
    hit = pc.fill_null(
        pc.is_in(table["user_id"], value_set=pa.array(sorted(users), pa.string())), False
    )
    if companies and "company_id" in table.column_names:
        chit = pc.is_in(table["company_id"], value_set=pa.array(sorted(companies), pa.string()))
        hit = pc.or_(hit, pc.fill_null(chit, False))
    return hit


def count_subject_rows(table: pa.Table, users: set[str], companies: set[str]) -> int:
    if table.num_rows == 0:
        return 0
    return int(pc.sum(subject_mask(table, users, companies).cast(pa.int64())).as_py() or 0)


class FormatHandler(abc.ABC):
    """One export format (the codecs it can carry are listed in eventsync/engine/formats)."""

    name: ClassVar[str]
    extension: ClassVar[str]
    content_type: ClassVar[str]

    @abc.abstractmethod
    def file_suffix(self, codec: str) -> str:
        """`.parquet`, `.csv.gz`, ...: what a part file's name ends with."""

    @abc.abstractmethod
    def detect_codec(self, path: Path) -> str:
        """The codec of a file written by this handler (its name must be its key's)."""

    @abc.abstractmethod
    def render(self, staged: Path, codec: str, out: Path) -> None:
        """Write the rows of a Parquet file (export schema) to `out`, in staged order."""

    @abc.abstractmethod
    def filter_subjects(
        self, src: Path, users: set[str], companies: set[str], out: Path
    ) -> tuple[int, int]:
        """Write `src` without the subjects' rows to `out` (same codec); (kept, removed)."""

    @abc.abstractmethod
    def count(self, src: Path, users: set[str], companies: set[str]) -> tuple[int, int]:
        """(rows, rows of the subjects) of a file: the verification read."""

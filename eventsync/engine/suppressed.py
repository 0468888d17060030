"""Erased subjects never leave in an export: the rows of suppressed users and companies
are dropped from every batch a day is staged from.

The suppression list keeps keyed hashes, not ids (eventsync/pseudonyms.py), so it
cannot be joined in SQL: each distinct id is hashed once per staged day (new ids of a
batch are found with Arrow, not a Python loop), and the rows of the ids that hit are
dropped with one `is_in` per batch. Cost: bench/RESULTS.md, "Suppression filter".
Ingestion refuses suppressed subjects already; this is the line for rows other writers
put into the store directly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Engine, select

from eventsync.pseudonyms import hasher
from eventsync.store.schema import suppressions

_COLUMNS = (("user", "user_id"), ("company", "company_id"))


@dataclass
class _Seen:
    """The ids of one kind met so far in the day, and those that are suppressed."""

    digest: Callable[[str], str]
    ids: pa.Array = field(default_factory=lambda: pa.array([], pa.string()))
    hits: pa.Array = field(default_factory=lambda: pa.array([], pa.string()))


@dataclass
class SuppressedSubjects:
    """The suppressed subjects of one workspace (hashes), for one staged day."""

    workspace_id: str
    hashes: frozenset[str]
    _seen: dict[str, _Seen] = field(default_factory=dict)

    @classmethod
    def load(cls, engine: Engine, workspace_id: str) -> SuppressedSubjects:
        with engine.connect() as conn:
            rows = conn.execute(
                select(suppressions.c.subject_hash).where(
                    suppressions.c.workspace_id == workspace_id
                )
            ).scalars()
            return cls(workspace_id, frozenset(rows))

    def __bool__(self) -> bool:
        return bool(self.hashes)

    def _hits(self, kind: str, values: pa.ChunkedArray | pa.Array) -> pa.Array:
        seen = self._seen.get(kind)
        if seen is None:
            seen = self._seen[kind] = _Seen(hasher(self.workspace_id, kind))
        unique = pc.drop_null(pc.unique(values))
        new = unique.filter(pc.invert(pc.is_in(unique, value_set=seen.ids)))
        if len(new):
            found = [v for v in new.to_pylist() if seen.digest(v) in self.hashes]
            seen.ids = pa.concat_arrays([seen.ids, new.cast(pa.string())])
            if found:
                seen.hits = pa.concat_arrays([seen.hits, pa.array(found, pa.string())])
        return seen.hits

    def drop(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """The batch without the rows of suppressed subjects (unchanged when none)."""
        if not self.hashes or not batch.num_rows:
            return batch
        mask = None
        for kind, column in _COLUMNS:
            hits = self._hits(kind, batch.column(column))
            if len(hits):
                hit = pc.fill_null(pc.is_in(batch.column(column), value_set=hits), False)
                mask = hit if mask is None else pc.or_(mask, hit)
        return batch if mask is None else batch.filter(pc.invert(mask))

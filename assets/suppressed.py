"""Erased subjects never leave in an export: the rows of suppressed users and companies
are dropped from every batch a day is staged from.

The suppression list keeps keyed hashes, not ids (resources/pseudonyms.py), so it
cannot be joined in SQL; each distinct id of a batch is hashed once per day instead
(measured in bench/RESULTS.md, "privacy": a few ms per 100k rows). Ingestion refuses
suppressed subjects already; this is the line for rows other writers put into the
store directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Engine, select

from resources.pseudonyms import subject_hash
from resources.schema import suppressions

_COLUMNS = (("user", "user_id"), ("company", "company_id"))


@dataclass
class SuppressedSubjects:
    """The suppressed subjects of one workspace, with a cache of the ids seen."""

    workspace_id: str
    hashes: frozenset[str]
    _seen: dict[tuple[str, str], bool] = field(default_factory=dict)

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

    def _hits(self, kind: str, values: pa.Array) -> list[str]:
        hits = []
        for value in pc.unique(values).to_pylist():
            if value is None:
                continue
            key = (kind, value)
            if key not in self._seen:
                self._seen[key] = subject_hash(self.workspace_id, kind, value) in self.hashes
            if self._seen[key]:
                hits.append(value)
        return hits

    def drop(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """The batch without the rows of suppressed subjects (unchanged when none)."""
        if not self.hashes or not batch.num_rows:
            return batch
        mask = None
        for kind, column in _COLUMNS:
            hits = self._hits(kind, batch.column(column))
            if hits:
                hit = pc.fill_null(
                    pc.is_in(batch.column(column), value_set=pa.array(hits, pa.string())), False
                )
                mask = hit if mask is None else pc.or_(mask, hit)
        return batch if mask is None else batch.filter(pc.invert(mask))

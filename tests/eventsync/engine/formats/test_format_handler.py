"""The subject filter every format shares: a row is a subject's by its user id or its
company id; a NULL id matches nothing."""

from __future__ import annotations

import pyarrow as pa

from eventsync.engine.formats.format_handler import count_subject_rows, subject_mask

TABLE = pa.table(
    {
        "user_id": ["u1", "u2", "u3", None],
        "company_id": ["c1", None, "c9", "c9"],
    }
)


def test_rows_match_by_user_or_by_company() -> None:
    assert subject_mask(TABLE, {"u2"}, {"c9"}).to_pylist() == [False, True, True, True]


def test_null_ids_never_match() -> None:
    assert subject_mask(TABLE, {"u1"}, set()).to_pylist() == [True, False, False, False]
    assert count_subject_rows(TABLE, set(), {"c1"}) == 1


def test_a_table_without_company_ids_matches_by_user_only() -> None:
    users_only = TABLE.select(["user_id"])
    assert count_subject_rows(users_only, {"u3"}, {"c1"}) == 1
    assert count_subject_rows(users_only.slice(0, 0), {"u3"}, set()) == 0

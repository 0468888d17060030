"""The erasure's proof: re-read what was rewritten and the store, once; a row of an
erased subject anywhere fails the request naming where, and nothing is stamped."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from eventsync.engine import layout
from eventsync.privacy.step_context import StepContext
from eventsync.privacy.steps import STEPS, erasure_step
from eventsync.privacy.verification import VerificationFailed, step_verify
from tests.eventsync.privacy.scenario import DAYS, seed
from tests.eventsync.privacy.test_steps import running


def _erase_all_but_verify(ctx: StepContext) -> None:
    for step in list(STEPS)[:-1]:
        erasure_step(step)(ctx)


def test_a_clean_erasure_is_verified_with_the_files_it_read(engine: Engine, tmp_path: Path) -> None:
    sync = seed(engine, tmp_path / "dest")
    ctx = running(engine, sync.workspace_id)
    _erase_all_but_verify(ctx)
    proof = step_verify(ctx)
    assert proof["files_read"] > 0 and proof["verified_at"]


def test_a_file_that_still_holds_the_subject_fails_the_proof(
    engine: Engine, tmp_path: Path
) -> None:
    sync = seed(engine, tmp_path / "dest", formats=("parquet",))
    part = tmp_path / "dest" / layout.part_key(sync.id, "parquet", DAYS[1], "zstd")
    before = part.read_bytes()
    ctx = running(engine, sync.workspace_id)
    _erase_all_but_verify(ctx)
    part.write_bytes(before)  # a copy the rewrite did not reach
    with pytest.raises(VerificationFailed, match="rows of erased subjects remain"):
        step_verify(ctx)

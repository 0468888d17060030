"""`make demo`'s preparation and summary: a working API key on every start, printed
last with the next steps; the partitions start where the demo's data starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.demo import run
from pipeline.workspaces import authenticate
from resources import settings
from resources.store import default_engine


@pytest.fixture
def demo_env(es_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    env_file = tmp_path / ".env"
    monkeypatch.setenv("EVENTSYNC_ENV_FILE", str(env_file))
    monkeypatch.delenv("EVENTSYNC_PARTITIONS_START", raising=False)
    monkeypatch.setattr(run, "DEMO_DAYS", 3)
    return env_file


def test_every_start_prints_a_key_that_works(demo_env: Path) -> None:
    first, key1 = run.prepare()
    again, key2 = run.prepare()  # a restart: same data, a new key
    assert key1 == first["api_key"] and "api_key" not in again
    assert key1 != key2
    engine = default_engine()
    assert authenticate(engine, key1) == authenticate(engine, key2) == "ws_demo"


def test_partitions_start_on_the_first_seeded_day_and_stay(demo_env: Path) -> None:
    seeded, _ = run.prepare()
    line = f"EVENTSYNC_PARTITIONS_START=${{EVENTSYNC_PARTITIONS_START:-{seeded['first_day']}}}"
    assert demo_env.read_text().splitlines() == [line]
    assert settings.partitions_start() == seeded["first_day"]
    assert run.pin_partitions_start("2020-01-01") == seeded["first_day"]  # kept once set
    assert demo_env.read_text().splitlines() == [line]


def test_the_summary_ends_with_the_key_and_says_what_to_do(demo_env: Path, tmp_path) -> None:
    seeded, key = run.prepare()
    text = run.banner(seeded, key, ui_ok=True, api_ok=False, logs=tmp_path)
    lines = text.strip().splitlines()
    assert lines[-1] == f"API key (shown once, stored hashed): {key}"
    assert "NOT UP - see its log" in text  # the API did not answer
    assert f"KEY={key}" in text and ".venv/bin/eventsync sync status sync_demo_local" in text
    assert "Runs > Backfills" in text

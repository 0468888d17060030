"""The settings model (eventsync/settings.py): where a value comes from, what a bad one
says, and that the documented list and the code's variables are the model's."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from eventsync import settings
from eventsync.errors import ConfigError
from eventsync.settings import DOC, Settings, defaults, load

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def env_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / ".env"
    path.write_text("")
    monkeypatch.setenv("EVENTSYNC_ENV_FILE", str(path))
    for name in ("EVENTSYNC_SYNCS_PER_RUN", "EVENTSYNC_KEY_CACHE_SECONDS", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    return path


def test_the_environment_wins_over_env_file_over_the_default(env_file, monkeypatch) -> None:
    assert load().syncs_per_run == defaults().syncs_per_run == 50
    env_file.write_text("EVENTSYNC_SYNCS_PER_RUN=7\n")
    assert load().syncs_per_run == 7
    monkeypatch.setenv("EVENTSYNC_SYNCS_PER_RUN", "9")
    assert load().syncs_per_run == 9


def test_env_file_lines_are_interpolated_against_the_environment(env_file, monkeypatch) -> None:
    env_file.write_text("EVENTSYNC_SYNCS_PER_RUN=${EVENTSYNC_SYNCS_PER_RUN:-12}\n")
    assert load().syncs_per_run == 12
    monkeypatch.setenv("EVENTSYNC_SYNCS_PER_RUN", "3")
    assert load().syncs_per_run == 3


def test_a_bad_integer_names_the_variable_and_where_it_was_set(env_file) -> None:
    env_file.write_text("EVENTSYNC_SYNCS_PER_RUN=lots\n")
    with pytest.raises(ConfigError) as err:
        load()
    assert err.value.field == "EVENTSYNC_SYNCS_PER_RUN"
    assert str(err.value) == (
        f"EVENTSYNC_SYNCS_PER_RUN: must be an integer, got 'lots' "
        f"(EVENTSYNC_SYNCS_PER_RUN in {env_file})"
    )


def test_bounds_are_checked(env_file, monkeypatch) -> None:
    monkeypatch.setenv("EVENTSYNC_KEY_CACHE_SECONDS", "-1")
    with pytest.raises(ConfigError, match=r"^EVENTSYNC_KEY_CACHE_SECONDS: must be >= 0, got '-1'"):
        load()
    monkeypatch.setenv("EVENTSYNC_KEY_CACHE_SECONDS", "0")
    assert load().key_cache_seconds == 0


def test_a_blank_value_is_unset(env_file, monkeypatch) -> None:
    monkeypatch.setenv("EVENTSYNC_SYNCS_PER_RUN", "  ")
    assert load().syncs_per_run == 50 and not load().is_set("syncs_per_run")


def test_a_secret_is_never_echoed(env_file, monkeypatch) -> None:
    monkeypatch.setenv("EVENTSYNC_SUBJECT_KEY", "hunter2")
    with pytest.raises(ConfigError) as err:
        load()
    assert "hunter2" not in str(err.value)
    assert "must be at least 32 characters, got 7" in str(err.value)


def test_aws_region_wins_over_aws_default_region(env_file, monkeypatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    assert load().aws_region == "eu-west-1"
    monkeypatch.setenv("AWS_REGION", "us-east-2")
    assert load().aws_region == "us-east-2"


def test_paths_derive_from_dagster_home(env_file, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    monkeypatch.delenv("EVENTSYNC_DATA_DIR", raising=False)
    monkeypatch.delenv("EVENTSYNC_DATABASE_URL", raising=False)
    assert settings.data_root() == tmp_path / "eventsync"
    assert settings.database_url() == f"sqlite:///{tmp_path / 'eventsync.db'}"


def test_the_documented_table_is_the_model() -> None:
    assert settings.documented(DOC.read_text()) == settings.markdown_table()
    assert f"({DOC.relative_to(ROOT)})" in (ROOT / "README.md").read_text()


def test_every_variable_the_code_reads_is_in_the_model() -> None:
    """Product code, Makefile and docs name no EVENTSYNC_* variable the model lacks (the
    test and benchmark harnesses have their own: EVENTSYNC_TEST_*, EVENTSYNC_BENCH_*)."""
    files = subprocess.run(
        ["git", "ls-files", "eventsync", "pipeline", "assets", "resources", "bench", "docs"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    named = set()
    for rel in [*files, "Makefile", "README.md"]:
        text = (ROOT / rel).read_text(errors="replace")
        named |= set(re.findall(r"\bEVENTSYNC_[A-Z][A-Z0-9_]*[A-Z0-9]\b", text))
    harness = {n for n in named if n.startswith(("EVENTSYNC_TEST_", "EVENTSYNC_BENCH_"))}
    # One variable per workspace (settings.oidc_secret_variable), documented as a pattern.
    per_workspace = {n for n in named if n.startswith(settings.OIDC_SECRET_PREFIX)}
    assert named - harness - per_workspace - set(settings.ENV_NAMES) == set()
    assert {"DAGSTER_HOME", "AWS_REGION", "AWS_DEFAULT_REGION"} <= set(settings.ENV_NAMES)


def test_every_field_has_a_variable_and_a_meaning() -> None:
    for name, field in Settings.model_fields.items():
        assert Settings.env_name(name).isupper() and field.description, name

"""The CLI's Dagster instance is the project's ($DAGSTER_HOME); a home Dagster cannot
open is one ConfigError naming DAGSTER_HOME and the fix, not Dagster's traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from eventsync.errors import ConfigError
from pipeline.instance import dagster_instance


def test_the_instance_lives_in_dagster_home(es_home: Path) -> None:
    with dagster_instance() as instance:
        assert Path(instance.root_directory) == es_home


def test_a_broken_dagster_yaml_is_one_error_naming_the_home(es_home: Path) -> None:
    (es_home / "dagster.yaml").write_text("run_storage:\n  module: no_such_module\n  class: X\n")
    with pytest.raises(ConfigError, match="cannot be opened") as info:
        dagster_instance()
    assert info.value.field == "DAGSTER_HOME"
    assert str(es_home) in str(info.value) and "fix its dagster.yaml" in str(info.value)


# --- the shipped configuration: runs that recover ---------------------------------------
SHIPPED = Path(__file__).resolve().parents[2] / "dagster_home"
RECOVERY = ("run_queue", "run_launcher", "run_monitoring", "run_retries", "concurrency")


def test_the_shipped_instance_recovers_runs_whose_worker_or_code_server_died(
    es_home: Path,
) -> None:
    import shutil

    from pipeline.launcher import DrainingRunLauncher

    shutil.copy(SHIPPED / "dagster.yaml", es_home / "dagster.yaml")
    with dagster_instance() as instance:
        assert isinstance(instance.run_launcher, DrainingRunLauncher)
        assert instance.run_monitoring_enabled
        assert instance.run_monitoring_start_timeout_seconds == 180
        assert 0 < instance.run_monitoring_max_runtime_seconds <= 3600
        assert instance.run_retries_enabled and instance.run_retries_max_retries == 2
        assert instance.run_retries_retry_on_asset_or_op_failure is False
        queue = instance.get_concurrency_config().run_queue_config
        assert queue.max_user_code_failure_retries * queue.user_code_failure_retry_delay >= 300
        # Export runs can never hold every slot: one is always left for privacy runs.
        export_limit = next(
            limit["limit"]
            for limit in queue.tag_concurrency_limits
            if limit == {"key": "eventsync/kind", "value": "export", "limit": limit["limit"]}
        )
        assert export_limit < queue.max_concurrent_runs


def test_the_postgres_template_recovers_runs_the_same_way() -> None:
    import yaml

    sqlite = yaml.safe_load((SHIPPED / "dagster.yaml").read_text())
    pg = yaml.safe_load((SHIPPED / "dagster.postgres.yaml").read_text())
    assert {k: pg.get(k) for k in RECOVERY} == {k: sqlite.get(k) for k in RECOVERY}


def test_privacy_runs_are_not_retried_by_dagster_and_export_runs_are_tagged() -> None:
    from pipeline.privacy_jobs import access_export_job, erasure_job

    for job in (erasure_job, access_export_job):
        assert job.tags["dagster/max_retries"] == "0"
        assert job.tags["eventsync/kind"] != "export"

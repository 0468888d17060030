"""Every private Dagster name eventsync's product code uses, imported here and nowhere
else (tests/pipeline/runs/test_dagster_internals.py fails loudly, naming the name, when
an upgrade moves or removes one).

Why each is needed (Dagster 1.13.27 has no public equivalent):

- ``AssetGraphSubset``: the subset a sensor's ``RunRequest.for_asset_graph_subset`` and
  an instance-submitted asset backfill take;
- ``PartitionBackfill``, ``BulkActionStatus``, ``BulkActionsFilter``,
  ``make_new_backfill_id``: reading, submitting and canceling asset backfills from the
  CLI, the weekly re-sync and a pause (the GraphQL API does the same, in-process);
- ``ASSET_PARTITION_RANGE_START_TAG`` / ``_END_TAG``, ``PARTITION_NAME_TAG``: the tags
  that make a run a partition range (the 03:00 schedule's multi-sync runs) and that say
  which partitions a queued run holds (pause);
- ``SerializableErrorInfo``: the reason shown on a backfill canceled by a pause;
- ``DagsterLaunchFailedError``, ``DagsterUserCodeUnreachableError``,
  ``LaunchRunContext``: the run launcher that re-queues runs a stopping code server
  refuses (pipeline/launcher.py);
- ``CheckRunHealthResult``, ``WorkerStatus``, ``GRPC_INFO_TAG``, ``DagsterGrpcClient``,
  ``CanCancelExecutionRequest``, ``CanCancelExecutionResult``: run monitoring's health
  check of a run whose process lives in a code server (pipeline/launcher.py): the run's
  tag names that server, which says whether it still executes the run;
- ``RUN_FAILURE_REASON_TAG``: why a run failed (a step's failure, or the system's), read
  by `sync status` (pipeline/runs/run_health.py);
- ``AssetCheckEvaluationTargetMaterializationData``: the materialization a day's check
  evaluation judged (without it the Checks tab's Partitions view shows every day
  "Missing": Dagster counts an evaluation without a target as not current).
"""

from __future__ import annotations

from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)
from dagster._core.definitions.assets.graph.asset_graph_subset import AssetGraphSubset
from dagster._core.errors import DagsterLaunchFailedError, DagsterUserCodeUnreachableError
from dagster._core.execution.backfill import BulkActionsFilter, BulkActionStatus, PartitionBackfill
from dagster._core.launcher import CheckRunHealthResult, LaunchRunContext, WorkerStatus
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    GRPC_INFO_TAG,
    PARTITION_NAME_TAG,
    RUN_FAILURE_REASON_TAG,
)
from dagster._core.utils import make_new_backfill_id
from dagster._grpc.client import DagsterGrpcClient
from dagster._grpc.types import CanCancelExecutionRequest, CanCancelExecutionResult
from dagster._utils.error import SerializableErrorInfo

__all__ = [
    "ASSET_PARTITION_RANGE_END_TAG",
    "ASSET_PARTITION_RANGE_START_TAG",
    "GRPC_INFO_TAG",
    "PARTITION_NAME_TAG",
    "RUN_FAILURE_REASON_TAG",
    "AssetCheckEvaluationTargetMaterializationData",
    "AssetGraphSubset",
    "BulkActionStatus",
    "BulkActionsFilter",
    "CanCancelExecutionRequest",
    "CanCancelExecutionResult",
    "CheckRunHealthResult",
    "DagsterGrpcClient",
    "DagsterLaunchFailedError",
    "DagsterUserCodeUnreachableError",
    "LaunchRunContext",
    "PartitionBackfill",
    "SerializableErrorInfo",
    "WorkerStatus",
    "make_new_backfill_id",
]

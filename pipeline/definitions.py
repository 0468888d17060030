"""The Dagster code location (workspace.yaml loads `pipeline.definitions`): each
domain's `defs` merged, with the resources and the executor defined once."""

from __future__ import annotations

import dagster as dg

from pipeline.defs import exports, privacy
from pipeline.defs.executors import executor_from_env
from pipeline.defs.resources import build_resources

defs = dg.Definitions.merge(
    exports.defs,
    privacy.defs,
    dg.Definitions(resources=build_resources(), executor=executor_from_env()),
)

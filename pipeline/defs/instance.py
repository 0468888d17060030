"""The Dagster instance the CLI talks to: the same one `make demo` and `dagster`
commands run from the project use ($DAGSTER_HOME, else the project's dagster_home/)."""

from __future__ import annotations

import dagster as dg

from resources.settings import ensure_dagster_home


def dagster_instance() -> dg.DagsterInstance:
    ensure_dagster_home()
    return dg.DagsterInstance.get()

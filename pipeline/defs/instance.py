"""The Dagster instance the CLI talks to: the same one `make demo` and `dagster`
commands run from the project use ($DAGSTER_HOME, else the project's dagster_home/,
see resources/settings.py). A home Dagster cannot use is one ConfigError naming
DAGSTER_HOME and the fix, not Dagster's traceback."""

from __future__ import annotations

import dagster as dg

from resources.errors import ConfigError
from resources.settings import PROJECT_ROOT, ensure_dagster_home


def dagster_instance() -> dg.DagsterInstance:
    home = ensure_dagster_home()
    try:
        return dg.DagsterInstance.get()
    except Exception as exc:  # a bad dagster.yaml, storage it cannot open...
        detail = " ".join(str(exc).split())[:500]
        raise ConfigError(
            "DAGSTER_HOME",
            f"the Dagster instance in {home} cannot be opened ({type(exc).__name__}: {detail}); "
            f"fix its dagster.yaml, or unset DAGSTER_HOME to use {PROJECT_ROOT / 'dagster_home'}",
        ) from None

"""How privacy operations open a sync's destination: the Dagster resource's `open` in
jobs, the plain factory from the environment in the CLI and in plain Python."""

from __future__ import annotations

from collections.abc import Callable

from pipeline.syncs.config import Sync
from resources.destinations import open_destination
from resources.destinations.base import Destination

Opener = Callable[[Sync], Destination]


def default_opener(sync: Sync) -> Destination:
    return open_destination(sync.destination, sync.options, sync_id=sync.id)

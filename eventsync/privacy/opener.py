"""How privacy operations open a sync's destination: the Dagster resource's `open` in
jobs, the plain factory from the environment in the CLI and in plain Python."""

from __future__ import annotations

from collections.abc import Callable

from eventsync.destinations import open_destination
from eventsync.destinations.interface import Destination
from eventsync.syncs.config import Sync

Opener = Callable[[Sync], Destination]


def default_opener(sync: Sync) -> Destination:
    return open_destination(sync.destination, sync.options, sync_id=sync.id)

"""Named points of a writer's work (an export, a re-export, an erasure's rewrite of a
day) that a listener can act at: the fault tests drop every store connection, run an
erasure or kill the process exactly there. Without a listener a point costs one
attribute read.

    with listening(fn):          # fn(point: str, **facts) runs at each point reached
        export_partition(...)

Points: staging.written (the day read, before the staged file replaces the last one);
of an export, in order: export.locked, export.indexed, export.marked,
export.uploaded (once per file, `key=`), export.published, export.cleaned; of a rewrite:
rewrite.fenced, rewrite.uploaded (`key=`), rewrite.published.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

Listener = Callable[..., None]
_listeners: list[Listener] = []


def reached(point: str, **facts: Any) -> None:
    """Tell the listeners that `point` is reached (what they raise propagates)."""
    for listener in list(_listeners):
        listener(point, **facts)


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Call `listener(point, **facts)` at every point reached while inside."""
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)

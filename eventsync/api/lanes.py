"""Ingestion lanes: at most `width` `POST /v1/events` of one workspace in progress in one
API process at a time; the workspace's other requests wait before their body is read.

Why: a batch is parsed, screened and written in this process, and its CPU is shared by
every workspace. Without lanes one workspace sending many 5 MiB batches at once takes
the process (measured: another workspace's p95 went from 13 ms to 231 ms). With one lane
per workspace it holds at most one thread's worth, whatever it sends, and its waiting
requests cost a socket each (their bodies stay unread in the kernel's buffers). A request
that waits longer than `wait_seconds` is answered 429 with Retry-After.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import anyio

from eventsync.api.ratelimit import RateLimited


@dataclass
class _Lane:
    slots: anyio.Semaphore
    users: int = 0  # requests holding or waiting for a slot; the lane is dropped at 0


@dataclass
class Lanes:
    width: int
    wait_seconds: float
    _lanes: dict[str, _Lane] = field(default_factory=dict)

    @asynccontextmanager
    async def hold(self, workspace_id: str) -> AsyncIterator[None]:
        """A slot of the workspace's lane for the body of the `async with`; RateLimited
        when none frees up within `wait_seconds`."""
        lane = self._lanes.get(workspace_id)
        if lane is None:
            lane = self._lanes[workspace_id] = _Lane(anyio.Semaphore(self.width))
        lane.users += 1
        try:
            acquired = False
            with anyio.move_on_after(self.wait_seconds):
                await lane.slots.acquire()
                acquired = True
            if not acquired:
                raise RateLimited("event batches in progress for this workspace", 1.0)
            try:
                yield
            finally:
                lane.slots.release()
        finally:
            lane.users -= 1
            if lane.users == 0:
                del self._lanes[workspace_id]

    def busy(self) -> int:
        """Workspaces with a request in progress or waiting (an idle one is not kept)."""
        return len(self._lanes)

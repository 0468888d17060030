"""A real `eventsync api` process on 127.0.0.1 for the tests that need one (memory,
latency, hostile bytes on the wire), stopped afterwards."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest

from tests.fixtures.ports import free_port

VENV_BIN = Path(sys.executable).parent


@dataclass
class ApiServer:
    base: str
    port: int
    proc: subprocess.Popen
    log_path: Path

    def rss(self) -> int:
        """Resident memory of the server process, in bytes."""
        return psutil.Process(self.proc.pid).memory_info().rss

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def api_server(home: Path, port: int | None = None, **env: str) -> Iterator[ApiServer]:
    """`eventsync api` with this process's environment (EVENTSYNC_DATABASE_URL ...)
    plus `env`, on `port` (default: a free one); yields once /healthz answers 200."""
    port = port or free_port()
    log_path = home / f"api-{port}.log"
    log = log_path.open("w")
    proc = subprocess.Popen(
        [str(VENV_BIN / "eventsync"), "api", "--host", "127.0.0.1", "--port", str(port)],
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = ApiServer(f"http://127.0.0.1:{port}", port, proc, log_path)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{server.base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"eventsync api did not come up on {server.base}: {server.log()[-2000:]}"
                )
            time.sleep(0.2)
        yield server
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()

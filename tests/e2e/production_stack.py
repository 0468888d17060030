"""The production deployment of docs/deploy.md, started by a test on free ports: Dagster
on PostgreSQL (the shipped dagster.postgres.yaml), a code server, the daemon, two Celery
workers on RabbitMQ, the HTTP API and `eventsync metrics serve` alerting a local webhook.
Each process runs in its own session, so a SIGKILL of its group is the loss of that
machine (the code server's run processes die with it); `restart` is its supervisor."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.fixtures.postgres import dagster_pg_env
from tests.fixtures.processes import die_with_parent
from tests.fixtures.serving import serve_thread

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
TOLERANCE = "25"  # DAGSTER_DAEMON_HEARTBEAT_TOLERANCE of the documented liveness check


def wait_until(what: str, check: Callable[[], Any], timeout: float, step: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(step)


class Webhook:
    """A local alert receiver: every JSON body POSTed to it, in order."""

    def __init__(self) -> None:
        received: list[dict[str, Any]] = []
        self.received = received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        serve_thread(self.server).start()

    def notified(self) -> list[str]:
        """The incident keys notified, in order (once each, if all is well)."""
        return [alert["key"] for alert in self.received]

    def close(self) -> None:
        self.server.shutdown()


@dataclass
class Process:
    name: str
    argv: list[str]
    log: Path
    popen: subprocess.Popen | None = None
    starts: int = 0

    def start(self, env: dict[str, str]) -> None:
        self.starts += 1
        with self.log.open("a") as out:
            out.write(f"\n--- start {self.starts} ---\n")
            out.flush()
            self.popen = subprocess.Popen(
                self.argv,
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill9(self) -> None:
        """SIGKILL to the process and everything it started (its machine is lost)."""
        assert self.popen is not None
        with suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=30)

    def terminate(self) -> None:
        """SIGTERM to the process alone: a supervisor's stop (a deploy)."""
        assert self.popen is not None
        self.popen.send_signal(signal.SIGTERM)

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:]


@dataclass
class Stack:
    home: Path
    env: dict[str, str]
    ports: dict[str, int]
    processes: dict[str, Process] = field(default_factory=dict)

    @classmethod
    def configure(
        cls,
        root: Path,
        dagster_db_url: str,
        store_url: str,
        broker: str,
        webhook: str,
        ports: dict[str, int],
        timings: dict[str, dict[str, int]],
    ) -> Stack:
        """DAGSTER_HOME with the shipped dagster.postgres.yaml (the `timings` shortened
        for a test: how often run monitoring looks, how long a re-queued run waits), the
        workspace file of the daemon, and the environment every process shares."""
        home = root / "dagster_home"
        home.mkdir(parents=True)
        config = yaml.safe_load((ROOT / "dagster_home" / "dagster.postgres.yaml").read_text())
        for section, values in timings.items():
            config[section].update(values)
        (home / "dagster.yaml").write_text(yaml.safe_dump(config))
        (root / "workspace.yaml").write_text(
            yaml.safe_dump(
                {
                    "load_from": [
                        {
                            "grpc_server": {
                                "host": "127.0.0.1",
                                "port": ports["code"],
                                "location_name": "eventsync",
                            }
                        }
                    ]
                }
            )
        )
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "DAGSTER_HOME": str(home),
            **dagster_pg_env(dagster_db_url),
            "EVENTSYNC_DATABASE_URL": store_url,
            "EVENTSYNC_DATA_DIR": str(root / "data"),
            "EVENTSYNC_EXECUTOR": "celery",
            "EVENTSYNC_CELERY_BROKER": broker,
            "EVENTSYNC_CELERY_BACKEND": "rpc://",
            # This deployment's own queue: other tests' workers share the broker.
            "EVENTSYNC_CELERY_QUEUE": f"es-prod-{root.name}",
            "EVENTSYNC_ALERT_WEBHOOK_URL": webhook,
            "EVENTSYNC_ALERT_INTERVAL_SECONDS": "5",
            "EVENTSYNC_METRICS_PORT": str(ports["metrics"]),
            "DAGSTER_DAEMON_HEARTBEAT_TOLERANCE": TOLERANCE,
            "DAGSTER_BACKFILL_RETRY_DEFINITION_CHANGED_ERROR": "1",  # docs/deploy.md's env
            # A dead owner's privacy request is taken over after 20 s, not 120; a run
            # whose code server was restarted is failed once silent 20 s, not 180.
            "EVENTSYNC_PRIVACY_LEASE_SECONDS": "20",
            "EVENTSYNC_REPLACED_CODE_SERVER_SILENCE_SECONDS": "20",
        }
        stack = cls(home, env, ports)
        ws = str(root / "workspace.yaml")
        queue = env["EVENTSYNC_CELERY_QUEUE"]
        commands = {
            "code": ["dagster", "code-server", "start", "-h", "127.0.0.1",
                     "-p", str(ports["code"]), "-m", "pipeline.definitions"],
            "daemon": ["dagster-daemon", "run", "-w", ws, "--log-level", "warning"],
            "worker1": ["celery", "-A", "pipeline.celery_app", "worker", "-Q", queue,
                        "--prefetch-multiplier=1", "--concurrency=1", "--loglevel=INFO",
                        "-n", f"{stack.node('worker1')}@%h"],
            "worker2": ["celery", "-A", "pipeline.celery_app", "worker", "-Q", queue,
                        "--prefetch-multiplier=1", "--concurrency=1", "--loglevel=INFO",
                        "-n", f"{stack.node('worker2')}@%h"],
            "api": ["eventsync", "api", "--host", "127.0.0.1", "--port", str(ports["api"])],
            "metrics": ["eventsync", "metrics", "serve", "-w", ws],
        }  # fmt: skip
        for name, argv in commands.items():
            stack.processes[name] = Process(
                name, [str(BIN / argv[0]), *argv[1:]], root / f"{name}.log"
            )
        return stack

    # --- processes -------------------------------------------------------------------
    def node(self, worker: str) -> str:
        """A worker's Celery node name, this stack's own (nodes share the broker)."""
        return f"{worker}-{self.home.parent.name}"

    def start(self, *names: str) -> None:
        for name in names or tuple(self.processes):
            self.processes[name].start(self.env)

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.alive:
                process.kill9()

    def cli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / args[0]), *args[1:]],
            cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip

    # --- the documented health checks (docs/deploy.md, "Health checks") ---------------
    def code_server_healthy(self) -> bool:
        check = self.cli("dagster", "api", "grpc-health-check", "-p", str(self.ports["code"]),
                         "-h", "127.0.0.1", timeout=60)  # fmt: skip
        return check.returncode == 0

    def api_healthy(self) -> bool:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.ports['api']}/healthz", timeout=10
            ) as answer:
                return answer.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def daemon_live(self) -> bool:
        return self.cli("dagster-daemon", "liveness-check", timeout=60).returncode == 0

    def worker_pongs(self, name: str) -> bool:
        host = os.uname().nodename
        ping = self.cli("celery", "-A", "pipeline.celery_app", "inspect", "ping", "-t", "10",
                        "-d", f"{self.node(name)}@{host}", timeout=60)  # fmt: skip
        return ping.returncode == 0 and "pong" in ping.stdout

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """The exporter's samples, by (name, sorted labels)."""
        with urllib.request.urlopen(
            f"http://127.0.0.1:{self.ports['metrics']}/metrics", timeout=30
        ) as answer:
            text = answer.read().decode()
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }

    def metric(self, name: str, **labels: str) -> float | None:
        return self.metrics().get((name, tuple(sorted(labels.items()))))

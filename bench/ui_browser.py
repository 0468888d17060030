"""Times the Dagster UI's views as a user sees them: headless Chromium (Debian's
/usr/bin/chromium driven by Playwright; no browser is downloaded) loads a view of a
real `dagster-webserver` until it is fully rendered, and every GraphQL operation the
page sent is recorded, so the same operations can be replayed and timed on their own.

Fully rendered: the view's own content is on the page, no loading spinner or skeleton
is left, and no GraphQL request has been in flight for QUIET seconds; the time is from
navigation start to the end of the last GraphQL response before that quiet period (or
to the content, if later). The UI's own polling (live data every ~15 s) starts after
that window, so it is not counted.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

CHROMIUM = os.environ.get("BENCH_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
QUIET = 1.5  # seconds without a GraphQL request in flight
TIMEOUT = 300.0  # a view still loading after this is reported as "> 300 s"
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def webserver(env: dict[str, str], log: Path) -> Iterator[str]:
    """A `dagster-webserver` serving bench.ui_location (design p: pipeline.definitions);
    yields its base URL."""
    port = free_port()
    out = log.open("w")
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "dagster-webserver"),
            "-m",
            # design p: eventsync's own code location, the rest bench's throwaway one
            "pipeline.definitions" if env.get("BENCH_UI_DESIGN") == "p" else "bench.ui_location",
            "-d",
            str(ROOT),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        cwd=ROOT,
        env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                if httpx.get(f"{base}/server_info", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"dagster-webserver did not start: see {log}")
            time.sleep(0.5)
        # Load the code location (a real first visit pays it too; not what we time).
        graphql(base, "{ workspaceOrError { __typename } }", {})
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        out.close()


def graphql(base: str, query: str, variables: dict, timeout: float = TIMEOUT) -> float:
    """Seconds one GraphQL operation takes (errors raise)."""
    t0 = time.perf_counter()
    r = httpx.post(
        f"{base}/graphql", json={"query": query, "variables": variables}, timeout=timeout
    )
    seconds = time.perf_counter() - t0
    r.raise_for_status()
    body = r.json()
    if body.get("errors"):
        raise RuntimeError(f"GraphQL errors: {json.dumps(body['errors'])[:500]}")
    return seconds


@dataclass
class Operation:
    name: str
    query: str
    variables: dict
    seconds: float  # as the browser saw it (request to response end)


@dataclass
class PageLoad:
    seconds: float | None  # None: not rendered within TIMEOUT
    operations: list[Operation] = field(default_factory=list)
    note: str = ""


# What "the view's own content" is, per view (text the page shows once loaded).
READY = {
    "catalog": "text=/events_(daily|export)/",
    "overview": "text=/Latest materialization|Materialization|Last materialized/i",
    "partitions": "text=/partitions/i",
    "checks": "text=/sync_days_valid|valid_share|export_freshness/",
    "frame": "text=/Code locations|Definitions/i",
}
# Loading indicators of the Dagster UI (spinners and skeleton rows).
LOADING = "[class*=Spinner], [class*=Skeleton], [aria-label=loading]"


class Browser:
    """One headless Chromium. A `load` without a context opens a new browser context (a
    cold tab: nothing cached, as a user opening a link); with `warm()`'s context, the
    UI's JavaScript is in the HTTP cache already, as for a user who has the UI open."""

    def __init__(self) -> None:
        from playwright.sync_api import sync_playwright

        self._pw = sync_playwright().start()
        self._browser = self._pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )

    def close(self) -> None:
        self._browser.close()
        self._pw.stop()

    def warm(self):  # type: ignore[no-untyped-def]
        return self._browser.new_context(viewport={"width": 1600, "height": 1000})

    def load(self, url: str, ready: str, context=None) -> PageLoad:  # type: ignore[no-untyped-def]
        own = context is None
        context = context or self.warm()
        page = context.new_page()
        inflight: dict[object, float] = {}
        done: list[Operation] = []
        last_end = [0.0]

        def started(request) -> None:  # type: ignore[no-untyped-def]
            if "/graphql" in request.url and request.method == "POST":
                inflight[request] = time.perf_counter()

        def finished(request) -> None:  # type: ignore[no-untyped-def]
            t0 = inflight.pop(request, None)
            if t0 is None:
                return
            now = time.perf_counter()
            last_end[0] = now
            try:
                body = json.loads(request.post_data or "{}")
            except json.JSONDecodeError:
                body = {}
            done.append(
                Operation(
                    body.get("operationName") or "?",
                    body.get("query", ""),
                    body.get("variables") or {},
                    now - t0,
                )
            )

        page.on("request", started)
        page.on("requestfinished", finished)
        page.on("requestfailed", finished)
        t0 = time.perf_counter()
        deadline = t0 + TIMEOUT
        note = ""
        try:
            page.goto(url, wait_until="domcontentloaded", timeout=TIMEOUT * 1000)
            page.wait_for_selector(ready, timeout=TIMEOUT * 1000)
            content_at = time.perf_counter()
            while True:
                now = time.perf_counter()
                if now > deadline:
                    raise TimeoutError
                quiet = not inflight and now - max(last_end[0], content_at) >= QUIET
                if quiet and page.locator(LOADING).count() == 0:
                    break
                page.wait_for_timeout(100)
            seconds: float | None = max(last_end[0], content_at) - t0
        except Exception as exc:
            seconds = None
            note = f"not rendered in {TIMEOUT:.0f} s ({type(exc).__name__})"
        finally:
            page.close()
            if own:
                context.close()
        return PageLoad(seconds, done, note)

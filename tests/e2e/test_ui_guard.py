"""A page of another site cannot drive the Dagster UI behind its guard (`eventsync
ui-guard`, what `make demo` serves): in headless Chromium, a foreign page that tries
to stop a sensor, launch a run and wipe an asset -- GraphQL over GET from an <img>
and a no-cors fetch, a no-cors POST, a graphql-ws websocket -- changes nothing, while
the same page against the bare webserver does stop the sensor; a request under a
foreign Host (DNS rebinding) is refused; and the UI still works through the guard."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from dagster import AssetMaterialization, DagsterInstance
from playwright.sync_api import sync_playwright

from tests.fixtures.dagster_dev import DagsterDev
from tests.fixtures.ports import free_port
from tests.foreign_page import foreign_page

pytestmark = pytest.mark.slow
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SENSOR = "privacy_request_sensor"
ASSET = "events_export"

STATE = """
{ repositoriesOrError { ... on RepositoryConnection { nodes { name location { name }
    sensors { name sensorState { id selectorId status } } jobs { name } } } } }
"""
RUNS = """
{ runsOrError(filter: {tags: [{key: "attack", value: "1"}]}) { ... on Runs { results { runId } } } }
"""
MATERIALIZED = (
    '{ assetOrError(assetKey: {path: ["ASSET"]}) { ... on Asset { '
    "assetMaterializations(limit: 5) { timestamp } } } }"
).replace("ASSET", ASSET)


def _sensor(dev: DagsterDev) -> tuple[dict, dict]:
    for repo in dev.graphql(STATE)["repositoriesOrError"]["nodes"]:
        for s in repo["sensors"]:
            if s["name"] == SENSOR:
                return repo, s["sensorState"]
    raise AssertionError(f"no sensor {SENSOR}")


def _mutations(dev: DagsterDev) -> list[str]:
    repo, state = _sensor(dev)
    job = next(j["name"] for j in repo["jobs"] if not j["name"].startswith("__"))
    stop = (
        f'mutation {{ stopSensor(jobOriginId: "{state["id"]}", '
        f'jobSelectorId: "{state["selectorId"]}") {{ __typename }} }}'
    )
    launch = (
        "mutation { launchRun(executionParams: {selector: {repositoryLocationName: "
        f'"{repo["location"]["name"]}", repositoryName: "{repo["name"]}", jobName: "{job}"}}, '
        'executionMetadata: {tags: [{key: "attack", value: "1"}]}}) { __typename } }'
    )
    wipe = (
        "mutation { wipeAssets(assetPartitionRanges: "
        f'[{{assetKey: {{path: ["{ASSET}"]}}}}]) {{ __typename }} }}'
    )
    return [stop, launch, wipe]


ATTACK = """<!doctype html><html><body><script>
const target = %s, mutations = %s;
for (const m of mutations) {
  const q = encodeURIComponent(m);
  const img = new Image(); img.src = target + "/graphql?query=" + q;
  fetch(target + "/graphql?query=" + q, {mode: "no-cors"}).catch(() => {});
  fetch(target + "/graphql", {method: "POST", mode: "no-cors",
    headers: {"Content-Type": "text/plain"}, body: JSON.stringify({query: m})}).catch(() => {});
  try {
    const ws = new WebSocket(target.replace("http", "ws") + "/graphql", "graphql-ws");
    ws.onopen = () => {
      ws.send(JSON.stringify({type: "connection_init", payload: {}}));
      ws.send(JSON.stringify({id: "1", type: "start", payload: {query: m}}));
    };
  } catch (e) {}
}
setTimeout(() => { document.title = "done"; }, 3000);
</script></body></html>"""


@contextmanager
def ui_guard(upstream: str, log: Path) -> Iterator[str]:
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "eventsync"), "ui-guard", "--upstream",
             upstream, "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(base + "/server_info", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail(f"ui-guard did not start: {log.read_text()[-2000:]}")
                time.sleep(0.3)
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)


def _attack(browser, page_url: str) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.goto(page_url)
    page.wait_for_function("document.title === 'done'", timeout=20_000)
    time.sleep(1)
    context.close()


def _post(dev_url: str, query: str) -> dict:
    req = urllib.request.Request(
        dev_url + "/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def test_a_foreign_page_cannot_drive_the_ui_through_the_guard(
    dagster_dev: DagsterDev, tmp_path: Path
) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make chromium` installs Debian's chromium")
    dev = dagster_dev
    DagsterInstance.get().report_runless_asset_event(AssetMaterialization(asset_key=ASSET))
    stop, launch, wipe = _mutations(dev)
    assert _sensor(dev)[1]["status"] == "RUNNING"
    upstream = dev.url.removeprefix("http://")
    with sync_playwright() as pw, ui_guard(upstream, tmp_path / "guard.log") as guard:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            # The attack is real: against the bare webserver the page stops the sensor.
            attacked = time.monotonic()
            with foreign_page(ATTACK % (json.dumps(dev.url), json.dumps([stop]))) as page:
                _attack(browser, page)
            # A loaded machine's webserver may answer the page's requests late: wait.
            deadline = attacked + 60
            while _sensor(dev)[1]["status"] != "STOPPED":
                assert time.monotonic() < deadline, "the attack did not stop the sensor"
                time.sleep(0.5)
            landed = time.monotonic() - attacked
            repo, _state = _sensor(dev)
            started = _post(
                dev.url,
                "mutation { startSensor(sensorSelector: {repositoryLocationName: "
                f'"{repo["location"]["name"]}", repositoryName: "{repo["name"]}", '
                f'sensorName: "{SENSOR}"}}) {{ __typename }} }}',
            )
            assert "errors" not in started, started
            assert _sensor(dev)[1]["status"] == "RUNNING"

            # Through the guard: nothing changes.
            attack = ATTACK % (json.dumps(guard), json.dumps([stop, launch, wipe]))
            with foreign_page(attack) as page:
                _attack(browser, page)
            time.sleep(landed)  # as long again as the bare attack took to land
            assert _sensor(dev)[1]["status"] == "RUNNING"
            assert dev.graphql(RUNS)["runsOrError"]["results"] == []
            materialized = dev.graphql(MATERIALIZED)["assetOrError"]["assetMaterializations"]
            assert materialized, "the asset was wiped"

            # The UI still works through the guard: its pages load their data.
            context = browser.new_context()
            page = context.new_page()
            page.goto(guard + "/assets")
            page.get_by_text(ASSET).first.wait_for(timeout=60_000)
            page.goto(guard + "/overview/automation")
            page.get_by_text(SENSOR).first.wait_for(timeout=60_000)
            context.close()
        finally:
            browser.close()


def test_the_guard_refuses_foreign_host_origin_and_graphql_over_get(
    dagster_dev: DagsterDev, tmp_path: Path
) -> None:
    upstream = dagster_dev.url.removeprefix("http://")
    with ui_guard(upstream, tmp_path / "guard.log") as guard:
        q = {"query": "{ version }"}
        assert httpx.post(guard + "/graphql", json=q).status_code == 200
        own = {"Origin": guard}
        assert httpx.post(guard + "/graphql", json=q, headers=own).status_code == 200
        foreign = httpx.post(guard + "/graphql", json=q, headers={"Host": "attacker.example"})
        assert foreign.status_code == 421
        other = httpx.post(guard + "/graphql", json=q, headers={"Origin": "http://evil.test"})
        assert other.status_code == 403
        assert httpx.get(guard + "/graphql", params=q).status_code == 405
        # The bare webserver answers all three (what the guard is for).
        raw = dagster_dev.url
        assert httpx.get(raw + "/graphql", params=q).status_code == 200
        assert (
            httpx.post(raw + "/graphql", json=q, headers={"Host": "attacker.example"}).status_code
            == 200
        )

"""`python -m bench.ui --home DIR [--materialize-days N]`: how long the Dagster UI's
partition view of the export assets takes, asked the way the UI asks (GraphQL on a
real `dagster-webserver`), over an instance that `bench.scale` left (N syncs' dynamic
partitions, PostgreSQL storage: DAGSTER_PG_* in the environment).

With --materialize-days, first reports that many days of every sync as materialized
(runless materializations of events_daily and events_export, written through the
instance like a run's), so the view has a realistic share of done partitions."""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
QUERY = """
query ($key: AssetKeyInput!) {
  assetNodeOrError(assetKey: $key) {
    ... on AssetNode {
      assetPartitionStatuses {
        ... on MultiPartitionStatuses {
          ranges { primaryDimStartKey primaryDimEndKey
            secondaryDim { ... on DefaultPartitionStatuses { materializedPartitions } } }
        }
      }
    }
  }
}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def materialize(days: int) -> int:
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        syncs = instance.get_dynamic_partitions("sync")
        today = datetime.now(UTC).date()
        n = 0
        for i in range(days, 0, -1):
            day = (today - timedelta(days=i)).isoformat()
            for sync in syncs:
                for asset in ("events_daily", "events_export"):
                    instance.report_runless_asset_event(
                        dg.AssetMaterialization(asset_key=asset, partition=f"{day}|{sync}")
                    )
                    n += 1
        return n


def graphql(port: int, asset: str) -> tuple[float, int]:
    payload = {"query": QUERY, "variables": {"key": {"path": [asset]}}}
    t0 = time.perf_counter()
    data = httpx.post(f"http://127.0.0.1:{port}/graphql", json=payload, timeout=600).json()
    seconds = time.perf_counter() - t0
    if "errors" in data:
        raise RuntimeError(data["errors"])
    ranges = data["data"]["assetNodeOrError"]["assetPartitionStatuses"]["ranges"]
    days = 0
    done = 0
    for r in ranges:
        first = datetime.fromisoformat(r["primaryDimStartKey"])
        last = datetime.fromisoformat(r["primaryDimEndKey"])
        days = (last - first).days + 1
        done += days * len(r["secondaryDim"]["materializedPartitions"])
    return seconds, done


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--home", type=Path, required=True, help="the DAGSTER_HOME bench.scale left")
    p.add_argument("--materialize-days", type=int, default=0)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    os.environ["DAGSTER_HOME"] = str(args.home)
    made = materialize(args.materialize_days) if args.materialize_days else 0
    port = _free_port()
    log = (args.home / "webserver.log").open("w")
    web = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "dagster-webserver"),
            "-w",
            str(ROOT / "workspace.yaml"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/server_info", timeout=5)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or web.poll() is not None:
                    raise RuntimeError(f"dagster-webserver did not start: {log.name}") from None
                time.sleep(1)
        first, _ = graphql(port, "events_export")  # loads the code location too
        rows = []
        for asset in ("events_daily", "events_export"):
            runs = [graphql(port, asset) for _ in range(args.repeat)]
            s = [t for t, _ in runs]
            rows.append(
                f"| {asset} | {runs[-1][1]:,} | {statistics.median(s):.2f} | "
                f"{', '.join(f'{x:.2f}' for x in s)} |"
            )
    finally:
        web.terminate()
        web.wait(30)
    print(
        f"materialized partitions reported: {made}; first query (code location load): {first:.2f} s"
    )
    print(
        "| asset | materialized partitions shown | partition view, median (s) | runs (s) |\n"
        "|---|---|---|---|\n" + "\n".join(rows)
    )


if __name__ == "__main__":
    main()

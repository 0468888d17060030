"""`python -m bench.ui --home DIR [--materialize-days N]`: how long the Dagster UI's
partition view of the export assets takes, asked the way the UI asks (GraphQL on a
real `dagster-webserver`), over an instance that `bench.scale` left (PostgreSQL
storage: DAGSTER_PG_* in the environment). The assets are partitioned by date (design
b of issue 24).

With --materialize-days, first reports that many dates as materialized (runless
materializations of events_daily and events_export, written through the instance like
a run's), so the view has a realistic share of done partitions.

`python -m bench.ui --designs a,b,c,d,p [--days 37,183,365] [--reuse]` (issue 24): for
each candidate partition design (bench/ui_location.py; p: eventsync's own code location,
`pipeline.definitions`, as it runs today), a fresh PostgreSQL database is
filled with 1,000 syncs x N days of 03:00 runs (bench/ui_populate.py), then every view
(catalog; each asset's overview, Partitions and Checks tabs) is timed in headless
Chromium and over GraphQL, cold and warm (bench/ui_browser.py). Needs the `bench`
extra (`pip install -e '.[bench]'`: Playwright) and Debian's chromium at
/usr/bin/chromium (BENCH_CHROMIUM overrides); no browser is downloaded."""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import httpx

from eventsync.clock import utc_today

ROOT = Path(__file__).resolve().parent.parent
QUERY = """
query ($key: AssetKeyInput!) {
  assetNodeOrError(assetKey: $key) {
    ... on AssetNode {
      assetPartitionStatuses {
        ... on TimePartitionStatuses { ranges { startKey endKey status } }
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
        today = utc_today()
        n = 0
        for i in range(days, 0, -1):
            day = (today - timedelta(days=i)).isoformat()
            for asset in ("events_daily", "events_export"):
                instance.report_runless_asset_event(
                    dg.AssetMaterialization(asset_key=asset, partition=day)
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
    done = 0
    for r in ranges:
        if r["status"] == "MATERIALIZED":
            first = datetime.fromisoformat(r["startKey"])
            last = datetime.fromisoformat(r["endKey"])
            done += (last - first).days + 1
    return seconds, done


def main() -> None:
    if "--designs" in sys.argv[1:]:
        designs_main(sys.argv[1:])
        return
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


# --- issue 24: candidate partition designs (`python -m bench.ui --designs a,b,c,d`) ----------
VIEWS = ("overview", "partitions", "checks")


def _views(design: str) -> list[tuple[str, str, str]]:
    """(label, path, ready-selector kind) of every view timed: the catalog, then each
    asset's overview, Partitions and Checks tabs (design c: the first shard's pair)."""
    from bench.ui_location import pairs

    pair = pairs(design)[0]
    # The UI's frame alone (the code locations page): what any view costs at least.
    out = [
        ("frame (code locations page)", "/locations", "frame"),
        ("catalog", "/assets", "catalog"),
    ]
    for asset in (pair.daily, pair.export):
        for view in VIEWS:
            suffix = "" if view == "overview" else f"?view={view}"
            out.append((f"{asset} {view}", f"/assets/{asset}{suffix}", view))
    return out


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _dagster_env(db_url: str, home: Path, design: str) -> dict[str, str]:
    from sqlalchemy import make_url

    url = make_url(db_url)
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(
        (ROOT / "dagster_home" / "dagster.postgres.yaml").read_text()
    )
    return {
        "BENCH_UI_DESIGN": design,
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_HOST": url.host or "127.0.0.1",
        "DAGSTER_PG_PORT": str(url.port or 5432),
        "DAGSTER_PG_USER": url.username or "postgres",
        "DAGSTER_PG_PASSWORD": url.password or "",
        "DAGSTER_PG_DB": url.database or "postgres",
    }


def measure_views(env: dict[str, str], design: str, work: Path, warm: int) -> list[dict]:
    """Browser (cold: first visit after the webserver starts; warm: the next ones) and
    GraphQL (the operations the browser sent, replayed one by one on a restarted
    webserver: cold, then warm) for every view."""
    from bench.ui_browser import READY, Browser, graphql, webserver

    views = _views(design)
    rows: dict[str, dict] = {label: {"view": label} for label, _, _ in views}
    captured: dict[str, list] = {}
    browser = Browser()
    try:
        with webserver(env, work / "webserver.log") as base:
            context = browser.warm()
            browser.load(base + "/locations", READY["frame"], context)  # caches the JS
            for n in range(1 + warm):
                for label, path, kind in views:
                    load = browser.load(base + path, READY[kind], None if n == 0 else context)
                    rows[label].setdefault("browser", []).append(load.seconds)
                    if load.note:
                        rows[label]["note"] = load.note
                    if n == 0:
                        captured[label] = load.operations
    finally:
        browser.close()
    with webserver(env, work / "webserver.log") as base:
        for _ in range(1 + warm):
            for label, _, _ in views:
                seen = set()
                times = []
                for op in captured[label]:
                    key = (op.name, json.dumps(op.variables, sort_keys=True))
                    if key in seen or op.name in IGNORED_OPERATIONS:
                        continue
                    seen.add(key)
                    try:
                        times.append((graphql(base, op.query, op.variables), op.name))
                    except Exception as exc:
                        times.append((float("inf"), f"{op.name} ({type(exc).__name__})"))
                slowest = max(times, default=(0.0, "-"))
                rows[label].setdefault("graphql", []).append(slowest[0])
                rows[label]["graphql_slowest"] = slowest[1]
                rows[label].setdefault("graphql_total", []).append(sum(t for t, _ in times))
    return list(rows.values())


# Operations of the UI's frame (navigation, permissions, the nux pop-up), the same on every
# page and not about the assets.
IGNORED_OPERATIONS = {"ShouldShowNux", "PermissionsQuery", "InstanceWarningQuery"}


def _fmt(values: list) -> str:
    def one(v):  # type: ignore[no-untyped-def]
        if v is None or v == float("inf"):
            return "> 300"
        return f"{v:.1f}"

    cold = one(values[0])
    warm = [v for v in values[1:]]
    if not warm:
        return cold
    finite = [v for v in warm if v is not None and v != float("inf")]
    med = one(statistics.median(finite)) if len(finite) == len(warm) else "> 300"
    return f"{cold} / {med}"


def design_table(results: list[dict]) -> str:
    lines = [
        "| design | days | view | browser cold / warm (s) | GraphQL slowest op cold / warm (s) "
        "| slowest operation | load avg |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        for v in r["views"]:
            lines.append(
                f"| {r['design']} | {r['days']} | {v['view']} | {_fmt(v['browser'])} | "
                f"{_fmt(v['graphql'])} | {v.get('graphql_slowest', '-')}"
                f"{' (' + v['note'] + ')' if v.get('note') else ''} | {r['load']} |"
            )
    return "\n".join(lines)


def run_design(
    design: str,
    levels: list[int],
    syncs: int,
    server: str,
    work: Path,
    warm: int,
    fresh: bool,
    out: Path,
) -> list[dict]:
    import dagster as dg
    from sqlalchemy import create_engine, text

    from bench import ui_populate
    from bench.scale import fresh_database

    name = f"eventsync_ui_{design}_{syncs}"
    if fresh:
        db_url = fresh_database(server, name)
    else:
        from sqlalchemy import make_url

        db_url = make_url(server).set(database=name).render_as_string(hide_password=False)
    home = work / design / "dagster_home"
    env = _dagster_env(db_url, home, design)
    os.environ.update(env)
    ids = ui_populate.sync_ids(syncs)
    results = []
    for days in levels:
        with dg.DagsterInstance.get() as instance:
            events, seconds = ui_populate.populate_to(instance, design, ids, days)
        engine = create_engine(db_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("VACUUM ANALYZE"))
            size = conn.execute(
                text("SELECT pg_size_pretty(pg_database_size(current_database()))")
            ).scalar()
        engine.dispose()
        print(
            f"design {design}: {days} days, {events} events written in {seconds:.0f} s; db {size}",
            flush=True,
        )
        load_before = _load()
        views = measure_views(env, design, work / design, warm)
        result = {
            "design": design,
            "days": days,
            "syncs": syncs,
            "events_written": events,
            "populate_seconds": round(seconds),
            "db_size": size,
            "load": f"{load_before} -> {_load()}",
            "views": views,
        }
        with out.open("a") as f:
            f.write(json.dumps(result) + "\n")
        print(design_table([result]), flush=True)
        results.append(result)
    return results


def designs_main(argv: list[str]) -> None:
    from bench.scale import PG_DEFAULT

    p = argparse.ArgumentParser(
        prog="python -m bench.ui --designs",
        description="Issue 24: populate each candidate design's Dagster storage with 1,000 "
        "syncs x N days of 03:00 runs and time the UI's views, browser and GraphQL.",
    )
    p.add_argument(
        "--designs",
        default="a,b,c,d",
        help="a, b, c, d (bench/ui_location.py), p (eventsync's own code location)",
    )
    p.add_argument("--days", default="37,183,365", help="levels, each extending the last")
    p.add_argument("--syncs", type=int, default=1000)
    p.add_argument("--warm", type=int, default=1, help="warm repetitions after the cold one")
    p.add_argument("--pg-url", default=os.environ.get("EVENTSYNC_BENCH_PG_URL", PG_DEFAULT))
    p.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "eventsync-ui")
    p.add_argument("--reuse", action="store_true", help="extend the databases a run left")
    p.add_argument("--out", type=Path, default=None, help="JSON lines of results (appended)")
    args = p.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    out = args.out or args.work / "results.jsonl"
    levels = [int(d) for d in args.days.split(",") if d]
    results = []
    for design in args.designs.split(","):
        results += run_design(
            design, levels, args.syncs, args.pg_url, args.work, args.warm, not args.reuse, out
        )
    print(design_table(results))


if __name__ == "__main__":
    main()

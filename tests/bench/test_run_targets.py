"""bench.run's export rows: dlt's rows beside eventsync's, and the issue-27 verdicts
decided from the medians and peaks of the runs given."""

from __future__ import annotations

import argparse

from bench.run import EXPORT_VARIANTS, _export_rows


def _runs(seconds: list[float], peak: float) -> list[dict]:
    return [
        {
            "seconds": s,
            "rows": 1_000,
            "peak_rss_mb": peak,
            "stage_seconds": s,
            "export_seconds": 0.0,
            "record_seconds": 0.0,
            "load_average": 1.0,
        }
        for s in seconds
    ]


def _verdicts(eventsync: list[float], peak: float) -> dict[str, bool | None]:
    results = {name: [] for name in (*EXPORT_VARIANTS, "pandas")}
    results.update(
        floor=_runs([4.0, 4.2, 4.1], 250),
        eventsync=_runs(eventsync, peak),
        **{"dlt-connectorx": _runs([4.5, 4.4, 4.6], 860)},
    )
    ex = {"results": results, "small": None, "dagster": None}
    lines, targets = _export_rows(argparse.Namespace(rows=1_000), "postgresql", ex)
    assert any("connectorx" in line for line in lines)
    assert not any("pyarrow" in line for line in lines)  # not run: no row
    return {name.split(": ", 1)[1]: ok for name, _value, ok in targets}


def test_faster_than_the_floor_and_dlt_at_half_its_memory_is_met() -> None:
    v = _verdicts([3.9, 4.0, 4.3], 420)
    assert v["export >= 1.0x floor (issue 27)"] is True
    assert v["export faster than dlt + connectorx (issue 27)"] is True
    assert v["peak RSS <= 0.5x dlt + connectorx's (issue 27)"] is True


def test_slower_or_larger_is_missed() -> None:
    v = _verdicts([4.5, 4.7, 4.6], 440)
    assert v["export >= 1.0x floor (issue 27)"] is False
    assert v["export faster than dlt + connectorx (issue 27)"] is False
    assert v["peak RSS <= 0.5x dlt + connectorx's (issue 27)"] is False

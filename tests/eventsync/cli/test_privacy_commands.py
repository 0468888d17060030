"""`eventsync privacy ...`: the human output of `status --log` carries the audit
trail; `unsuppress` is audited and refuses bad input with a one-line error."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import Engine

from eventsync.cli import main
from eventsync.privacy import request_store, runner
from tests.eventsync.privacy.scenario import TARGET, seed


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_status_with_log_prints_the_audit_trail_in_human_output(
    engine: Engine, tmp_path: Path
) -> None:
    sync = seed(engine, tmp_path / "dest")
    req = request_store.create_request(
        engine, sync.workspace_id, "erasure", [TARGET], [], "cli:ops"
    )
    runner.run_all(engine, req.id, "cli:ops")
    code, out = run("privacy", "status", req.id, "--log")
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0] == f"erasure {req.id}: completed (attempt 1)"
    log = request_store.audit_log(engine, req.id)
    assert f"audit log ({len(log)} entries):" in lines
    trail = lines[lines.index(f"audit log ({len(log)} entries):") + 1 :]
    assert len(trail) == len(log)
    for line, entry in zip(trail, log, strict=True):
        assert entry["at"] in line and entry["actor"] in line and entry["action"] in line
    assert any("step:exports" in line and "rows_removed" in line for line in trail)
    code, out = run("privacy", "status", req.id)
    assert code == 0 and "audit log" not in out


def test_unsuppress_lifts_an_erasure_with_an_audited_reason(engine: Engine, tmp_path: Path):
    sync = seed(engine, tmp_path / "dest")
    req = request_store.create_request(
        engine, sync.workspace_id, "erasure", [TARGET], [], "cli:ops"
    )
    runner.run_all(engine, req.id, "cli:ops")
    ws = sync.workspace_id
    code, out = run("privacy", "unsuppress", "--workspace", ws, "--user-id", TARGET)
    assert code == 0 and out.startswith("user unsuppressed at ") and req.id in out
    assert request_store.audit_log(engine, req.id)[-1]["action"] == "unsuppressed"
    code, out = run("privacy", "unsuppress", "--workspace", ws, "--user-id", TARGET)
    assert code == 2 and "not on the suppression list" in out
    code, out = run("privacy", "unsuppress", "--workspace", ws)
    assert code == 2 and "exactly one of --user-id or --company-id" in out
    code, out = run("privacy", "unsuppress", "--workspace", ws, "--user-id", "a\tb")
    assert code == 2 and "control character (U+0009)" in out and out.count("\n") == 1

"""`eventsync privacy ...`: erasure and access-export requests, status and audit log,
retries, and lifting a suppression."""

from __future__ import annotations

import json
from typing import Any

import click

from eventsync.cli.common import cli_actor, command, emit, main, open_store


# --- privacy --------------------------------------------------------------------------
@main.group()
def privacy() -> None:
    """Erasure and access-export requests (run by privacy_request_sensor, or --now)."""


def _audit_line(entry: dict[str, Any]) -> str:
    detail = {k: v for k, v in (entry.get("detail") or {}).items() if v not in (None, "", {})}
    text = json.dumps(detail, sort_keys=True, default=str, ensure_ascii=False) if detail else ""
    return f"  {entry['at']}  {entry['actor']:<24} {entry['action']:<24} {text}".rstrip()


def _privacy_human(d: dict[str, Any]) -> str:
    lines = [f"{d['kind']} {d['id']}: {d['status']} (attempt {d['attempt']})"]
    if d.get("result_location"):
        lines.append(f"location: {d['result_location']}")
    if d.get("result_note"):
        lines.append(f"note: {d['result_note']}")
    if d.get("verified_at"):
        lines.append(f"verified at {d['verified_at']}")
    if d.get("status") == "running" and d.get("lease_owner"):
        lines.append(f"running under {d['lease_owner']} (lease until {d['lease_expires_at']})")
    if d.get("error"):
        lines.append(f"error: {d['error']}")
    for where, what in (d.get("progress", {}).get("owner_action_required") or {}).items():
        lines.append(f"owner action required at {where}: {what}")
    if "audit_log" in d:
        lines.append(f"audit log ({len(d['audit_log'])} entries):")
        lines += [_audit_line(e) for e in d["audit_log"]]
    return "\n".join(lines)


def _run_now(request_id: str) -> Any:
    """Run the request in this process through the privacy runner (no daemon needed),
    as owner `cli:<host>:<pid>`. If this process dies, its lease expires and the
    request sensor takes the request over as a new attempt (or `privacy retry` does)."""
    from eventsync.privacy import lease, runner

    return runner.run_all(open_store(), request_id, cli_actor(), owner=lease.local_owner("cli"))


def _request(
    workspace_id: str,
    kind: str,
    users: list[str],
    companies: list[str],
    run_now: bool,
    as_json: bool,
) -> None:
    """Store a request of the workspace (which must exist) and run it here with --now."""
    from eventsync.privacy import request_store
    from eventsync.workspaces import get_workspace

    engine = open_store()
    get_workspace(engine, workspace_id)
    req = request_store.create_request(engine, workspace_id, kind, users, companies, cli_actor())
    if run_now:
        req = _run_now(req.id)
    emit(req.to_dict(), as_json, _privacy_human)


@privacy.command("erase")
@click.option("--workspace", "workspace_id", required=True)
@click.option("--user-id", "user_ids", multiple=True, help="Repeat for several users.")
@click.option("--company-id", "company_ids", multiple=True, help="Repeat for several companies.")
@click.option("--now", "run_now", is_flag=True, help="Run here instead of via the sensor.")
@command
def privacy_erase(
    workspace_id: str,
    user_ids: tuple[str, ...],
    company_ids: tuple[str, ...],
    run_now: bool,
    as_json: bool,
) -> None:
    """Request the erasure of users and/or companies of a workspace."""
    _request(workspace_id, "erasure", list(user_ids), list(company_ids), run_now, as_json)


@privacy.command("export")
@click.option("--workspace", "workspace_id", required=True)
@click.option("--user-id", default=None)
@click.option("--company-id", default=None)
@click.option("--now", "run_now", is_flag=True, help="Run here instead of via the sensor.")
@command
def privacy_export(
    workspace_id: str, user_id: str | None, company_id: str | None, run_now: bool, as_json: bool
) -> None:
    """Request one user's (or company's) events and profile as CSV."""
    users = [user_id] if user_id is not None else []
    companies = [company_id] if company_id is not None else []
    _request(workspace_id, "access_export", users, companies, run_now, as_json)


@privacy.command("status")
@click.argument("request_id")
@click.option("--log", "with_log", is_flag=True, help="Include the audit log.")
@command
def privacy_status(request_id: str, with_log: bool, as_json: bool) -> None:
    """Status, progress and location of a privacy request (and its audit log)."""
    from eventsync.privacy import request_store

    req = request_store.get_request(open_store(), request_id)
    data = req.to_dict()
    if with_log:
        data["audit_log"] = request_store.audit_log(open_store(), request_id)
    emit(data, as_json, _privacy_human)


@privacy.command("retry")
@click.argument("request_id")
@click.option("--now", "run_now", is_flag=True, help="Run here instead of via the sensor.")
@command
def privacy_retry(request_id: str, run_now: bool, as_json: bool) -> None:
    """Queue a failed request again, or a running one whose runner died (its lease
    expired; the request sensor also takes those over by itself): same request, a new
    attempt, finished steps skipped."""
    from eventsync.privacy import runner

    req = runner.retry(open_store(), request_id, cli_actor())
    if run_now:
        req = _run_now(req.id)
    emit(req.to_dict(), as_json, _privacy_human)


@privacy.command("unsuppress")
@click.option("--workspace", "workspace_id", required=True)
@click.option("--user-id", default=None)
@click.option("--company-id", default=None)
@click.option("--reason", default="", help="Why (e.g. the consent); kept in the audit log.")
@command
def privacy_unsuppress(
    workspace_id: str, user_id: str | None, company_id: str | None, reason: str, as_json: bool
) -> None:
    """Accept an erased user's (or company's) events again: they came back with consent."""
    from eventsync.errors import ConfigError
    from eventsync.privacy import suppressions
    from eventsync.workspaces import get_workspace

    if (user_id is None) == (company_id is None):
        raise ConfigError("--user-id", "give exactly one of --user-id or --company-id")
    engine = open_store()
    get_workspace(engine, workspace_id)
    kind, subject = ("user", user_id) if user_id is not None else ("company", company_id)
    lifted = suppressions.lift(engine, workspace_id, kind, str(subject), cli_actor(), reason)
    emit(
        lifted,
        as_json,
        lambda d: (
            f"{d['subject_type']} unsuppressed at {d['lifted_at']} "
            f"(had been erased by {d['erasure_request_id']})"
        ),
    )

"""The Syncs pages and the privacy portal in a real browser (Debian's chromium,
Playwright) against a real `eventsync api` process: create a sync after its destination
check, change its frequency and formats, request an erasure and watch it reach `completed` (the
privacy runner runs in this process on the shared store, as the request sensor's job
would), download an access export, a viewer refused, another workspace's sync and
request pages 404. Each test ends with the canary scan of the server log and the audit
export: no subject id, password or session id in clear."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from eventsync.ingest import ingest_events
from eventsync.privacy import request_store, runner
from eventsync.syncs import config
from tests.eventsync.api.server import api_server
from tests.eventsync.console.conftest import (
    PASSWORD,
    Console,
    Mailbox,
    add_member,
    screenshot,
    server_env,
    sign_in,
    workspace_with_owner,
)
from tests.eventsync.console.test_browser import assert_no_secrets, audit_csv, session_ids

pytestmark = pytest.mark.slow
# Subject ids that must never appear in clear in the log or the audit export.
SUBJECT = "canary-subject-4d1e9b"
OTHER_SUBJECT = "canary-company-77ac02"


def _events(user: str, n: int = 3) -> list[dict]:
    return [
        {
            "event_id": f"{user}-{i}",
            "event_type": "track",
            "event_name": "Clicked",
            "user_id": user,
            "company_id": OTHER_SUBJECT,
            "occurred_at": f"2025-04-1{i}T10:00:00Z",
            "properties": {"plan": "pro"},
        }
        for i in range(n)
    ]


@pytest.fixture
def local_console(es_home: Path, engine, mailbox: Mailbox, console_port: int, tmp_path: Path):
    root = tmp_path / "exports"
    root.mkdir()
    env = server_env(console_port, mailbox, EVENTSYNC_CONSOLE_LOCAL_ROOT=str(root))
    with api_server(es_home, port=console_port, **env) as server:
        yield Console(server, engine), root


def test_create_a_sync_and_change_its_frequency_and_formats(local_console, new_context) -> None:
    console, root = local_console
    ws = workspace_with_owner(console.engine, "Acme", "owner@acme.test")
    context = new_context()
    page = context.new_page()
    sign_in(page, console, "owner@acme.test")
    expect(page.get_by_role("heading", name="Syncs")).to_be_visible()
    page.get_by_role("link", name="New sync").click()
    page.get_by_label("Destination", exact=True).fill(str(root / "acme"))
    page.get_by_label("Title").fill("Acme to the warehouse")
    page.get_by_label("csv").check()
    page.get_by_label("Backfill days").fill("3")
    page.get_by_role("button", name="Check destination").click()
    expect(page.locator("#verdict")).to_contain_text("Destination check passed")
    assert config.list_syncs(console.engine, ws) == []  # the verdict first, nothing saved
    screenshot(page, "sync-new")
    page.get_by_role("button", name="Create sync").click()
    expect(page.get_by_text("Sync created.")).to_be_visible()
    (s,) = config.list_syncs(console.engine, ws)
    expect(page.locator("#sync-formats")).to_contain_text("parquet, csv")
    screenshot(page, "sync")

    page.get_by_role("link", name="Settings").click()
    expect(page.get_by_role("heading", name="Data Sync settings")).to_be_visible()
    expect(page.get_by_label("Destination (fixed after creation)")).to_have_value(s.destination)
    page.get_by_label("parquet").uncheck()
    page.get_by_label("jsonl").check()
    page.get_by_label("Compression").select_option("gzip")
    page.get_by_label("page_view").check()
    page.get_by_label("Frequency").select_option("hourly")
    page.get_by_label("Event names").fill("Checkout *\nSigned up")
    screenshot(page, "sync-settings")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_text("Settings saved.")).to_be_visible()
    changed = config.get_sync(console.engine, s.id)
    assert sorted(changed.formats) == ["csv", "jsonl"]
    assert (changed.compression, changed.event_types) == ("gzip", ["page_view"])
    assert (changed.frequency, changed.event_names) == ("hourly", ["Checkout *", "Signed up"])

    page.get_by_role("link", name="Syncs", exact=True).click()
    row = page.get_by_role("row", name=re.compile("Acme to the warehouse"))
    expect(row).to_contain_text("never")
    screenshot(page, "syncs")
    page.get_by_role("link", name="Audit").click()
    expect(page.get_by_role("cell", name="syncs.settings_changed")).to_be_visible()
    export = audit_csv(context, console, ws)
    assert "syncs.created" in export and f"sync:{s.id}" in export
    assert_no_secrets(console.server.log(), export, [PASSWORD, *session_ids(context)])


def test_erasure_reaches_completed_and_an_access_export_downloads(
    local_console, new_context
) -> None:
    console, root = local_console
    ws = workspace_with_owner(console.engine, "Acme", "owner@acme.test")
    add_member(console.engine, ws, "privacy@acme.test", "privacy_officer")
    config.create_sync(console.engine, ws, str(root / "acme"))
    ingest_events(console.engine, ws, _events(SUBJECT))
    context = new_context(accept_downloads=True)
    page = context.new_page()
    sign_in(page, console, "privacy@acme.test")
    # The privacy officer's console is the portal alone.
    expect(page.get_by_role("heading", name="Privacy")).to_be_visible()
    nav = page.get_by_role("navigation", name="Workspace").get_by_role("link")
    expect(nav).to_have_text(["Privacy"])

    # An access export, downloaded once completed.
    page.get_by_label("Id to export").fill(SUBJECT)
    page.get_by_role("button", name="Request access export").click()
    expect(page.locator("#request-status")).to_have_text("received")
    (acc,) = request_store.list_requests(console.engine, ws, kind="access_export")
    runner.run_all(console.engine, acc.id, "test")  # what the request sensor's job runs
    page.reload()
    expect(page.locator("#request-status")).to_have_text("completed")
    with page.expect_download() as dl:
        page.get_by_role("link", name="Download the CSV").click()
    body = Path(dl.value.path()).read_text(encoding="utf-8-sig")
    assert body.lstrip("\ufeff").startswith("record,event_id,") and body.count(SUBJECT) >= 3
    screenshot(page, "privacy-request")

    # An erasure from a pasted list; a refused id is named and nothing is filed.
    page.get_by_role("link", name="Privacy", exact=True).click()
    page.get_by_label("Ids to erase").fill(f"{SUBJECT}\n bad-leading-space")
    page.get_by_role("button", name="Request erasure").click()
    expect(page.locator("#refused-ids")).to_contain_text("leading or trailing whitespace")
    expect(page.locator("#refused-ids")).to_contain_text("bad-leading-space")
    screenshot(page, "privacy-refused")
    page.get_by_label("Ids to erase").fill(SUBJECT)
    page.get_by_role("button", name="Request erasure").click()
    expect(page.locator("#request-status")).to_have_text("received")
    (era,) = request_store.list_requests(console.engine, ws, kind="erasure")
    runner.run_all(console.engine, era.id, "test")
    page.reload()
    expect(page.locator("#request-status")).to_have_text("completed")
    expect(page.locator("#trail")).to_contain_text("completed")
    page.get_by_role("link", name="Privacy", exact=True).click()
    expect(page.get_by_role("row", name=re.compile(era.id))).to_contain_text("completed")
    screenshot(page, "privacy")

    # The officer may not un-suppress (not offered; posted anyway: refused).
    expect(page.get_by_role("button", name="Un-suppress")).to_have_count(0)

    owner_context = new_context()
    owner = owner_context.new_page()
    sign_in(owner, console, "owner@acme.test")
    export = audit_csv(owner_context, console, ws)
    assert "privacy.erasure_requested" in export and f"request:{era.id}" in export
    assert "privacy.access_export_downloaded" in export
    assert_no_secrets(
        console.server.log(),
        export,
        [SUBJECT, OTHER_SUBJECT, PASSWORD, *session_ids(context), *session_ids(owner_context)],
    )


def test_viewer_refused_and_other_workspaces_pages_are_404(local_console, new_context) -> None:
    console, root = local_console
    a = workspace_with_owner(console.engine, "A", "owner@a.test")
    add_member(console.engine, a, "viewer@a.test", "viewer")
    b = workspace_with_owner(console.engine, "B", "owner@b.test")
    a_sync = config.create_sync(console.engine, a, str(root / "a"))
    b_sync = config.create_sync(console.engine, b, str(root / "b"))
    b_req = request_store.create_request(console.engine, b, "erasure", ["someone"], [], "test")

    viewer = new_context().new_page()
    sign_in(viewer, console, "viewer@a.test")
    viewer.goto(console.url(f"/w/{a}/syncs/{a_sync.id}"))
    expect(viewer.get_by_role("button", name="Pause sync")).to_have_count(0)  # not offered
    token = viewer.locator("input[name=csrf_token]").first.get_attribute("value")
    for path, form in [
        (f"/w/{a}/syncs/{a_sync.id}/pause", {"reason": "x"}),
        (f"/w/{a}/syncs/{a_sync.id}/settings", {"title": "x"}),
        (f"/w/{a}/privacy/erasures", {"kind": "user", "ids": "u"}),
    ]:
        r = viewer.request.post(
            console.url(path),
            multipart={**form, "csrf_token": token},
            headers={"Origin": console.base},
            max_redirects=0,
        )
        assert r.status == 403, (path, r.status)
        assert "Your role (Viewer) does not allow this" in r.text()
    assert config.get_sync(console.engine, a_sync.id).paused_reason is None
    r = viewer.goto(console.url(f"/w/{a}/privacy"))
    assert r.status == 403

    owner = new_context().new_page()
    sign_in(owner, console, "owner@a.test")
    for path in (
        f"/w/{b}/syncs",
        f"/w/{b}/syncs/{b_sync.id}",
        f"/w/{a}/syncs/{b_sync.id}",
        f"/w/{a}/syncs/{b_sync.id}/settings",
        f"/w/{b}/privacy",
        f"/w/{b}/privacy/requests/{b_req.id}",
        f"/w/{a}/privacy/requests/{b_req.id}",
    ):
        r = owner.goto(console.url(path))
        assert r.status == 404, path
        expect(owner.get_by_role("heading", name="Not found")).to_be_visible()

"""What the console refuses, in a real browser against a real server: a viewer's admin
action, a form posted from another origin (CSRF), a session id from before sign-in,
another workspace's pages (404); and sign-in throttling per account and per client
address, where X-Forwarded-For counts only from a trusted proxy."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from eventsync.accounts import throttle, tokens
from eventsync.workspaces import create_key, list_keys
from tests.eventsync.api.server import api_server
from tests.eventsync.console.conftest import (
    PASSWORD,
    Console,
    Mailbox,
    add_member,
    csrf_of,
    server_env,
    sign_in,
    to_team,
    workspace_with_owner,
)
from tests.fixtures.ports import free_port
from tests.foreign_page import foreign_page


def test_a_viewers_admin_action_is_refused(console: Console, new_context) -> None:
    ws = workspace_with_owner(console.engine, "Acme", "owner@acme.test")
    add_member(console.engine, ws, "viewer@acme.test", "viewer")
    page = new_context().new_page()
    sign_in(page, console, "viewer@acme.test")
    to_team(page)
    expect(page.get_by_role("button", name="Send invitation")).to_have_count(0)  # not offered
    expect(page.get_by_role("button", name=re.compile("Revoke"))).to_have_count(0)
    # Posted anyway, with the viewer's own valid CSRF token and Origin: the role refuses.
    token = csrf_of(page)
    for path, form in [
        (f"/w/{ws}/team/invitations", {"email": "x@acme.test", "role": "admin"}),
        (f"/w/{ws}/team/mfa", {"mfa_required": "on"}),
        (f"/w/{ws}/keys", {"name": "k", "scopes": "syncs:read", "expires_in_days": "30"}),
    ]:
        r = page.request.post(
            console.url(path),
            form={**form, "csrf_token": token},
            headers={"Origin": console.base},
            max_redirects=0,
        )
        assert r.status == 403, (path, r.status)
        assert "Your role (Viewer) does not allow this" in r.text()
    assert tokens.pending_invitations(console.engine, ws) == []
    page.goto(console.url(f"/w/{ws}/audit?outcome=refused"))
    expect(page.get_by_role("cell", name="console.refused")).to_have_count(3)


def test_a_form_posted_from_another_origin_is_refused(console: Console, new_context) -> None:
    ws = workspace_with_owner(console.engine, "Acme", "owner@acme.test")
    context = new_context()
    page = context.new_page()
    sign_in(page, console, "owner@acme.test")
    to_team(page)
    stolen = csrf_of(page)  # even with the right token, the Origin is another site's
    action = console.url(f"/w/{ws}/team/invitations")
    for token_field in ("", f'<input name="csrf_token" value="{stolen}">'):
        attack = f"""<!doctype html><html><body>
            <form method="post" action="{action}">
              <input name="email" value="attacker@evil.test"><input name="role" value="admin">
              {token_field}
            </form>
            <script>document.forms[0].submit()</script></body></html>"""
        with foreign_page(attack) as evil:
            with page.expect_response(action) as answer:
                page.goto(evil)
            assert answer.value.status == 403
            expect(page.get_by_role("heading", name="Request refused")).to_be_visible()
    assert tokens.pending_invitations(console.engine, ws) == []
    # The same form from the console itself goes through.
    page.goto(console.url(f"/w/{ws}/team"))
    page.get_by_label("E-mail address").fill("friend@acme.test")
    page.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_text("Invitation sent.")).to_be_visible()


def test_a_session_id_from_before_sign_in_is_not_accepted_after_it(
    console: Console, new_context
) -> None:
    ws = workspace_with_owner(console.engine, "Acme", "owner@acme.test")
    context = new_context()
    page = context.new_page()
    page.goto(console.url("/login"))
    (before,) = [c for c in context.cookies() if c["name"] == "es_session"]
    assert before["httpOnly"] and before["sameSite"] == "Lax"
    sign_in(page, console, "owner@acme.test")
    to_team(page)
    (after,) = [c for c in context.cookies() if c["name"] == "es_session"]
    assert after["value"] != before["value"]  # rotated at sign-in

    # Someone who planted or saw the id before sign-in: it opens nothing.
    intruder = new_context()
    intruder.add_cookies([{"name": "es_session", "value": before["value"], "url": console.base}])
    spy = intruder.new_page()
    spy.goto(console.url(f"/w/{ws}/team"))
    expect(spy).to_have_url(re.compile(r"/console/login\?next="))
    expect(spy.get_by_role("heading", name="Sign in")).to_be_visible()
    # While the signed-in one works, and stops working at sign-out.
    page.goto(console.url(f"/w/{ws}/keys"))
    expect(page.get_by_role("heading", name="API keys")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    spy.context.add_cookies([{"name": "es_session", "value": after["value"], "url": console.base}])
    spy.goto(console.url(f"/w/{ws}/team"))
    expect(spy.get_by_role("heading", name="Sign in")).to_be_visible()


def test_another_workspaces_pages_are_404(console: Console, new_context) -> None:
    a = workspace_with_owner(console.engine, "A", "owner@a.test")
    b = workspace_with_owner(console.engine, "B", "owner@b.test")
    b_key = create_key(console.engine, b).split("_")[1]
    page = new_context().new_page()
    sign_in(page, console, "owner@a.test")
    to_team(page)
    for path in ("/", "/team", "/keys", "/audit", "/audit.csv"):
        r = page.goto(console.url(f"/w/{b}{path}"))
        assert r.status == 404, path
        expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    token = csrf_of(page)
    for path in (f"/w/{b}/keys/{b_key}/revoke", f"/w/{a}/keys/{b_key}/revoke", f"/w/{b}/team/sso"):
        r = page.request.post(
            console.url(path), form={"csrf_token": token}, headers={"Origin": console.base}
        )
        assert r.status == 404, path
    # B's key is untouched.
    assert [k["revoked_at"] for k in list_keys(console.engine, b)] == [None, None]


def _login(client: httpx.Client, base: str, email: str, password: str, **headers: str) -> int:
    page = client.get(f"{base}/console/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = client.post(
        f"{base}/console/login",
        data={"email": email, "password": password, "csrf_token": token},
        headers={"Origin": base, **headers},
    )
    return r.status_code


@pytest.mark.slow  # a real API process and ~10 s of logins: make test, not the inner loop
def test_sign_in_is_throttled_per_account_and_per_trusted_client_address(
    es_home: Path, engine, mailbox: Mailbox
) -> None:
    workspace_with_owner(engine, "Acme", "owner@acme.test")
    port = free_port()
    env = server_env(
        port,
        mailbox,
        EVENTSYNC_LOGIN_FAILURES_PER_ACCOUNT="3",
        EVENTSYNC_LOGIN_FAILURES_PER_ADDRESS="5",
    )
    with api_server(es_home, port=port, **env) as server, httpx.Client() as client:
        # Untrusted: X-Forwarded-For is ignored, the socket address (127.0.0.1) counts.
        for _ in range(3):
            assert (
                _login(
                    client,
                    server.base,
                    "owner@acme.test",
                    "wrong",
                    **{"X-Forwarded-For": "203.0.113.9"},
                )
                == 401
            )
        # The account is locked now, even with the right password.
        assert _login(client, server.base, "owner@acme.test", PASSWORD) == 429
        assert throttle.failures(engine, "owner@acme.test", "127.0.0.1") == (3, 3)
        assert throttle.failures(engine, "owner@acme.test", "203.0.113.9") == (3, 0)
        # Another account from the same address: its 5 failures in total stop it too.
        for _ in range(2):
            assert _login(client, server.base, "nobody@acme.test", "wrong") == 401
        assert _login(client, server.base, "other@acme.test", "wrong") == 429
    port = free_port()
    env = server_env(
        port,
        mailbox,
        EVENTSYNC_TRUSTED_PROXIES="127.0.0.1",
        EVENTSYNC_LOGIN_FAILURES_PER_ADDRESS="5",
    )
    with api_server(es_home, port=port, **env) as server, httpx.Client() as client:
        # Behind a trusted proxy the forwarded client address counts, not the proxy's.
        assert (
            _login(
                client, server.base, "x@acme.test", "wrong", **{"X-Forwarded-For": "198.51.100.7"}
            )
            == 401
        )
        assert throttle.failures(engine, "x@acme.test", "198.51.100.7") == (1, 1)

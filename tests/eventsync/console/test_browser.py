"""The console in a real browser (Debian's chromium, Playwright) against a real
`eventsync api` process: sign in, enroll TOTP and sign in with a code, MFA enforced for
a second member invited by e-mail, single sign-on through a real OpenID provider, and
an API key created, used and revoked. Each test ends with the canary scan: no
password, TOTP secret, session id, one-time token or API key in the server's log or
the audit export. The screenshots of docs/console.md are taken here."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from playwright.sync_api import BrowserContext, Page, expect

from eventsync.accounts import members, workspace_auth
from eventsync.settings import oidc_secret_variable
from tests.eventsync.api.server import api_server
from tests.eventsync.console.conftest import (
    PASSWORD,
    Console,
    Mailbox,
    Totp,
    screenshot,
    server_env,
    sign_in,
    to_team,
    workspace_with_owner,
)
from tests.fixtures.oidc import oidc_provider


def audit_csv(context: BrowserContext, console: Console, ws: str) -> str:
    r = context.request.get(console.url(f"/w/{ws}/audit.csv"))
    assert r.status == 200, r.text()
    body = r.body()
    assert body.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM, for spreadsheets
    return body.decode("utf-8-sig")


def assert_no_secrets(log: str, export: str, secrets: list[str]) -> None:
    """The canary scan: none of `secrets` in the server's log or the audit export."""
    for secret in secrets:
        assert secret and len(secret) >= 8
        assert secret not in log, "a secret is in the server log"
        assert secret not in export, "a secret is in the audit export"


def session_ids(context: BrowserContext) -> list[str]:
    return [c["value"] for c in context.cookies() if c["name"].endswith("es_session")]


def enroll(page: Page, console: Console) -> tuple[Totp, list[str], str]:
    """From the account page: scan (read) the secret, confirm with a code."""
    secret = page.locator("#totp-secret").inner_text().strip()
    totp = Totp(secret)
    page.get_by_label("6-digit code").fill(totp.code())
    page.get_by_role("button", name="Turn on").click()
    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    codes = page.locator("#recovery-codes code").all_inner_texts()
    assert len(codes) == 10
    return totp, codes, secret


def test_sign_in_enroll_totp_and_sign_in_with_a_code(console: Console, new_context) -> None:
    ws = workspace_with_owner(console.engine, "Acme Analytics", "owner@acme.test")
    context = new_context()
    page = context.new_page()
    page.goto(console.url("/"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    screenshot(page, "login")
    sign_in(page, console, "owner@acme.test")
    expect(page.get_by_role("heading", name="Syncs")).to_be_visible()  # where it lands
    expect(page).to_have_url(console.url(f"/w/{ws}/syncs"))
    to_team(page)

    page.get_by_role("link", name="owner@acme.test").click()
    expect(page.get_by_role("heading", name="Two-factor authentication")).to_be_visible()
    expect(page.locator(".qr svg")).to_be_visible()  # drawn by the server, inline
    screenshot(page, "mfa-enroll")
    totp, codes, secret = enroll(page, console)
    screenshot(page, "recovery-codes")
    cookies_seen = session_ids(context)

    # Sign out; signing in now takes a code, and a wrong one is refused.
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You are signed out.")).to_be_visible()
    sign_in(page, console, "owner@acme.test")
    expect(page.get_by_role("heading", name="Two-factor authentication")).to_be_visible()
    page.get_by_label("6-digit code").fill(totp.wrong())
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("alert")).to_contain_text("not valid")
    screenshot(page, "mfa-code")
    page.get_by_label("6-digit code").fill(totp.code())
    page.get_by_role("button", name="Verify").click()
    to_team(page)
    expect(page.get_by_role("row", name=re.compile("owner@acme.test"))).to_contain_text("On")
    cookies_seen += session_ids(context)

    # A recovery code signs in once; the same code again is refused.
    for attempt in range(2):
        page.get_by_role("button", name="Sign out").click()
        sign_in(page, console, "owner@acme.test")
        page.get_by_text("Use a recovery code instead").click()
        page.get_by_label("Recovery code").fill(codes[0])
        page.get_by_role("button", name="Use recovery code").click()
        if attempt == 0:
            expect(page.get_by_text("You signed in with a recovery code. 9 left")).to_be_visible()
            cookies_seen += session_ids(context)
        else:
            expect(page.get_by_role("alert")).to_contain_text("not valid (or was used already)")
            expect(page).to_have_url(re.compile(r"/console/login/mfa"))

    # Audit: sign-ins, refusals and the enrollment, from the browser's address.
    page.get_by_label("6-digit code").fill(totp.code())
    page.get_by_role("button", name="Verify").click()
    page.get_by_role("link", name="Audit").click()
    expect(page.get_by_role("cell", name="console.mfa_enrolled")).to_be_visible()
    expect(page.get_by_role("row", name=re.compile("wrong code.*refused"))).to_have_count(1)
    expect(page.get_by_role("row", name=re.compile("wrong recovery code.*refused"))).to_have_count(
        1
    )
    screenshot(page, "audit")
    page.get_by_label("Outcome").select_option("refused")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("tbody tr")).to_have_count(2)

    export = audit_csv(context, console, ws)
    assert "console.sign_in" in export and "127.0.0.1" in export
    assert_no_secrets(
        console.server.log(),
        export,
        [PASSWORD, secret, *codes, *cookies_seen, *session_ids(context)],
    )


def test_mfa_required_sends_an_invited_member_to_enrollment_first(
    console: Console, mailbox: Mailbox, new_context
) -> None:
    ws = workspace_with_owner(console.engine, "Acme", "owner@acme.test")
    owner = new_context().new_page()
    sign_in(owner, console, "owner@acme.test")
    to_team(owner)
    owner.get_by_label("MFA required").check()
    owner.get_by_role("button", name="Save", exact=True).click()
    # The owner has no TOTP yet: from now on every page sends them to enrollment.
    expect(owner).to_have_url(re.compile(r"/console/account\?workspace=.*enroll=1"))
    expect(owner.get_by_role("alert")).to_contain_text("Acme requires two-factor")
    owner_totp, _, owner_secret = enroll(owner, console)
    owner.get_by_role("link", name="I have saved them, continue").click()
    to_team(owner)

    owner.get_by_label("E-mail address").fill("dev@acme.test")
    owner.get_by_label("Role", exact=True).select_option("developer")
    owner.get_by_role("button", name="Send invitation").click()
    expect(owner.get_by_text("Invitation sent.")).to_be_visible()
    expect(owner.get_by_role("row", name=re.compile("dev@acme.test"))).to_contain_text("Developer")
    screenshot(owner, "team")
    link = mailbox.link("dev@acme.test")
    assert link.startswith(console.url("/invitations/"))

    member_context = new_context()
    member = member_context.new_page()
    member.goto(link)
    expect(member.get_by_role("heading", name="Join Acme")).to_be_visible()
    screenshot(member, "invitation")
    member.get_by_label("Choose a password").fill(PASSWORD)
    member.get_by_label("Password again").fill(PASSWORD)
    member.get_by_role("button", name="Create account and join").click()
    # Before anything else: enrollment. Every workspace page sends them back there.
    expect(member.get_by_role("alert")).to_contain_text("Acme requires two-factor")
    member.goto(console.url(f"/w/{ws}/keys"))
    expect(member).to_have_url(re.compile(r"/console/account\?workspace=.*enroll=1"))
    _, _, member_secret = enroll(member, console)
    member.get_by_role("link", name="I have saved them, continue").click()
    to_team(member)
    member.goto(link)  # the invitation was used
    expect(member.get_by_role("heading", name="Invitation expired")).to_be_visible()

    owner.reload()
    expect(owner.get_by_role("row", name=re.compile("dev@acme.test"))).to_contain_text("On")
    token = link.rsplit("/", 1)[1]
    export = audit_csv(member_context, console, ws)
    assert "team.invitation_accepted" in export
    assert_no_secrets(
        console.server.log(),
        export,
        [PASSWORD, owner_secret, member_secret, token, *session_ids(member_context)],
    )
    del owner_totp


def sso_login(page: Page, console: Console, email_address: str) -> None:
    """The console's SSO button, then the provider's own login and consent pages."""
    page.goto(console.url("/login"))
    page.get_by_label("Work e-mail address").fill(email_address)
    page.get_by_role("button", name="Sign in with single sign-on").click()
    page.locator("input[name=login]").fill(email_address)  # the provider's login form
    page.locator("input[name=password]").fill("anything")
    page.locator("button[type=submit]").click()
    page.locator("button[type=submit]", has_text=re.compile("Continue|Authorize")).click()


def test_single_sign_on_through_an_openid_provider(
    es_home: Path, engine, mailbox: Mailbox, console_port: int, new_context
) -> None:
    ws = workspace_with_owner(engine, "SSO Corp", "owner@sso.example", workspace_id="ws_sso")
    callback = f"http://127.0.0.1:{console_port}/console/sso/callback"
    with oidc_provider([callback], es_home) as idp:
        env = server_env(console_port, mailbox, **{oidc_secret_variable(ws): idp.client_secret})
        with api_server(es_home, port=console_port, **env) as server:
            console = Console(server, engine)
            # The owner sets single sign-on up on the Team page.
            owner_context = new_context()
            owner = owner_context.new_page()
            sign_in(owner, console, "owner@sso.example")
            to_team(owner)
            owner.get_by_label("Issuer URL").fill(idp.issuer)
            owner.get_by_label("Client id").fill(idp.client_id)
            owner.get_by_label("E-mail domains").fill("sso.example")
            owner.get_by_label("Role of members it creates").select_option("developer")
            owner.get_by_role("button", name="Save single sign-on").click()
            expect(owner.get_by_text("Single sign-on settings saved.")).to_be_visible()
            expect(owner.get_by_text(oidc_secret_variable(ws))).to_be_visible()
            screenshot(owner, "team-sso")

            # Someone of the domain signs in through the provider: a new developer.
            dev_context = new_context()
            dev = dev_context.new_page()
            sso_login(dev, console, "new.dev@sso.example")
            to_team(dev)
            assert (
                members.membership(
                    engine, ws, members.find_account(engine, "new.dev@sso.example").id
                ).role
                == "developer"
            )

            # Another domain is not let in.
            stranger = new_context().new_page()
            stranger.goto(console.url("/login"))
            stranger.get_by_label("Work e-mail address").fill("someone@elsewhere.example")
            stranger.get_by_role("button", name="Sign in with single sign-on").click()
            expect(stranger.get_by_role("alert")).to_contain_text("No workspace has single sign-on")

            # The owner signs in through SSO too, then makes it required...
            owner.get_by_role("button", name="Sign out").click()
            sso_login(owner, console, "owner@sso.example")
            to_team(owner)
            owner.get_by_label("SSO required").check()
            owner.get_by_role("button", name="Save single sign-on").click()
            expect(owner.get_by_text("Single sign-on settings saved.")).to_be_visible()
            assert workspace_auth.get(engine, ws).sso_required

            # ... and from now on the workspace refuses a password.
            refused = new_context().new_page()
            sign_in(refused, console, "owner@sso.example")
            expect(refused.get_by_role("alert")).to_contain_text("requires single sign-on")
            expect(refused).to_have_url(console.url("/login"))

            export = audit_csv(owner_context, console, ws)
            assert "team.joined_by_sso" in export and "workspace.sso_updated" in export
            assert_no_secrets(
                server.log(),
                export,
                [
                    PASSWORD,
                    idp.client_secret,
                    *session_ids(owner_context),
                    *session_ids(dev_context),
                ],
            )


def test_create_use_and_revoke_an_api_key(console: Console, new_context) -> None:
    ws = workspace_with_owner(console.engine, "Acme", "owner@acme.test")
    context = new_context()
    page = context.new_page()
    sign_in(page, console, "owner@acme.test")
    page.get_by_role("link", name="API keys").click()
    page.get_by_label("Name").fill("ingest from backend")
    page.get_by_label("events:write").check()
    page.get_by_label("syncs:read").check()
    page.get_by_label("Expires after").select_option("30")
    page.get_by_role("button", name="Create key").click()
    secret = page.locator("#new-key").inner_text().strip()
    key_id = secret.split("_")[1]
    expect(page.get_by_text("shown only once")).to_be_visible()
    screenshot(page, "api-keys")

    auth = {"Authorization": f"Bearer {secret}"}
    assert httpx.get(f"{console.base}/v1/syncs", headers=auth).status_code == 200
    made = httpx.post(f"{console.base}/v1/events", headers=auth, json={"events": []})
    assert made.status_code == 200, made.text
    no_scope = httpx.get(f"{console.base}/v1/privacy/erasures", headers=auth)
    assert no_scope.status_code == 403  # the scopes ticked, no more

    page.goto(console.url(f"/w/{ws}/keys"))  # the secret is not shown again
    expect(page.locator("#new-key")).to_have_count(0)
    row = page.get_by_role("row", name=re.compile(key_id))
    expect(row).to_contain_text("events:write, syncs:read")
    row.get_by_role("button", name=f"Revoke key {key_id}").click()
    expect(page.get_by_text("API key revoked.")).to_be_visible()
    expect(page.get_by_role("row", name=re.compile(key_id))).to_contain_text("revoked")
    assert httpx.get(f"{console.base}/v1/syncs", headers=auth).status_code == 401

    page.get_by_role("link", name="Audit").click()
    expect(page.get_by_role("cell", name="api.POST /v1/events")).to_be_visible()
    expect(page.get_by_role("cell", name="keys.revoked")).to_be_visible()
    export = audit_csv(context, console, ws)
    assert f"key:{key_id}" in export
    assert_no_secrets(console.server.log(), export, [PASSWORD, secret, *session_ids(context)])


def test_pages_read_well_on_a_phone(console: Console, new_context) -> None:
    workspace_with_owner(console.engine, "Acme", "owner@acme.test")
    page = new_context(viewport={"width": 390, "height": 844}, is_mobile=True).new_page()
    sign_in(page, console, "owner@acme.test")
    to_team(page)
    screenshot(page, "team-phone")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, width  # nothing wider than the screen but the tables' own scroll
    page.keyboard.press("Tab")  # the first stop is the skip link
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"

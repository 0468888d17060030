"""The console's test bench: a real `eventsync api` process serving /console over
http://127.0.0.1, a real SMTP server (aiosmtpd) that keeps what it receives, Debian's
chromium driven by Playwright, and helpers that sign in and read one-time codes."""

from __future__ import annotations

import email
import os
import re
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path

import pyotp
import pytest
from aiosmtpd.controller import Controller
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright
from sqlalchemy import Engine

from eventsync.accounts import members
from eventsync.workspaces import create_workspace
from tests.eventsync.api.server import ApiServer, api_server
from tests.fixtures.ports import free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# docs/console/ when asked (`make screenshots`: EVENTSYNC_TEST_SCREENSHOTS=1), else a
# folder outside the checkout: the screenshots are taken either way, but a plain
# `make test` leaves the tree as it found it.
SCREENSHOTS = (
    Path(__file__).resolve().parents[3] / "docs" / "console"
    if os.environ.get("EVENTSYNC_TEST_SCREENSHOTS")
    else Path(tempfile.gettempdir()) / "eventsync-console-screenshots"
)
PASSWORD = "Canary-Passw0rd-7f3a9c"  # also the canary the log scans look for


# --- mail ---------------------------------------------------------------------------
@dataclass
class Mailbox:
    port: int
    messages: list[Message] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, _server, _session, envelope) -> str:  # aiosmtpd handler
        with self.lock:
            self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"

    def wait_for(self, to: str, timeout: float = 15) -> Message:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                for m in self.messages:
                    if m["To"] == to:
                        return m
            time.sleep(0.1)
        raise AssertionError(f"no e-mail to {to} within {timeout} s")

    def link(self, to: str) -> str:
        body = self.wait_for(to).get_payload(decode=True).decode()
        return re.search(r"http://\S+", body).group(0)


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox(free_port())
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


# --- the console ----------------------------------------------------------------------
@dataclass
class Console:
    server: ApiServer
    engine: Engine

    @property
    def base(self) -> str:
        return self.server.base

    def url(self, path: str = "/") -> str:
        return f"{self.server.base}/console{path}"


@pytest.fixture
def console_port() -> int:
    return free_port()


def server_env(port: int, mailbox: Mailbox, **extra: str) -> dict[str, str]:
    return {
        "EVENTSYNC_CONSOLE_URL": f"http://127.0.0.1:{port}/console",
        "EVENTSYNC_CONSOLE_SECURE_COOKIE": "false",
        "EVENTSYNC_SMTP_HOST": "127.0.0.1",
        "EVENTSYNC_SMTP_PORT": str(mailbox.port),
        **extra,
    }


@pytest.fixture
def console(
    es_home: Path, engine: Engine, mailbox: Mailbox, console_port: int
) -> Iterator[Console]:
    with api_server(es_home, port=console_port, **server_env(console_port, mailbox)) as server:
        yield Console(server, engine)


# --- the browser ----------------------------------------------------------------------
# Package scope: Playwright's sync API keeps an asyncio loop running on this thread while it
# is open, and later tests that call asyncio.run (Dagster's backfill daemon) would fail.
@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make chromium` installs Debian's chromium")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def new_context(browser: Browser) -> Iterator:
    made: list[BrowserContext] = []

    def make(**kw) -> BrowserContext:
        ctx = browser.new_context(**{"viewport": {"width": 1280, "height": 860}, **kw})
        ctx.set_default_timeout(15_000)
        made.append(ctx)
        return ctx

    yield make
    for ctx in made:
        ctx.close()


def screenshot(page: Page, name: str) -> None:
    """docs/console/<name>.png, for docs/console.md."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


# --- people and codes -----------------------------------------------------------------
def workspace_with_owner(
    engine: Engine, name: str, email_address: str, workspace_id: str | None = None
) -> str:
    ws = create_workspace(engine, name, workspace_id=workspace_id).workspace_id
    account = members.create_account(engine, email_address, PASSWORD)
    members.add_member(engine, ws, account.id, "owner")
    return ws


def add_member(engine: Engine, ws: str, email_address: str, role: str) -> None:
    account = members.find_account(engine, email_address) or members.create_account(
        engine, email_address, PASSWORD
    )
    members.add_member(engine, ws, account.id, role)


def sign_in(page: Page, console: Console, email_address: str, password: str = PASSWORD) -> None:
    page.goto(console.url("/login"))
    page.get_by_label("E-mail address", exact=True).fill(email_address)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()


class Totp:
    """Codes for a TOTP secret, each of a later time step than the last one used (the
    console accepts a step once, and the steps next to the current one). A code is of
    the current step or the next, never the previous: that one is refused if a step
    boundary passes before the server checks it (a loaded machine)."""

    def __init__(self, secret: str) -> None:
        self.totp = pyotp.TOTP(secret)
        self.last = -1

    def code(self) -> str:
        while True:
            now = self.totp.timecode(time.time())
            step = max(now, self.last + 1)
            if step <= now + 1:
                self.last = step
                return self.totp.generate_otp(step)
            time.sleep(1)

    def wrong(self) -> str:
        now = self.totp.timecode(time.time())
        right = {self.totp.generate_otp(now + d) for d in (-1, 0, 1)}
        return next(c for c in ("000000", "111111", "222222", "333333") if c not in right)


def to_team(page: Page) -> None:
    """From wherever sign-in landed (the first page the role may open: Syncs for most),
    to the Team page by its link in the navigation."""
    page.get_by_role("navigation", name="Workspace").get_by_role("link", name="Team").click()
    expect(page.get_by_role("heading", name="Team")).to_be_visible()


def csrf_of(page: Page) -> str:
    return page.locator("input[name=csrf_token]").first.get_attribute("value")

"""The console in this process (FastAPI's TestClient over the API app): fast tests of
pages and their refusals, signed in through the real sign-in form."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from eventsync.accounts import members
from eventsync.api import create_app

PASSWORD = "Canary-Passw0rd-7f3a9c"
BASE = "http://testserver"


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


class Browser:
    """A TestClient that signs in and posts forms with the page's CSRF token and an
    Origin of the console."""

    def __init__(self, engine: Engine) -> None:
        self.client = TestClient(create_app(engine), base_url=BASE)
        self.token = ""

    def get(self, path: str, **kw):
        r = self.client.get(f"/console{path}", **kw)
        if 'name="csrf_token"' in r.text:
            self.token = csrf(r.text)
        return r

    def post(self, path: str, data: dict | None = None, files=None, **kw):
        return self.client.post(
            f"/console{path}",
            data={**(data or {}), "csrf_token": self.token},
            files=files,
            headers={"Origin": BASE},
            follow_redirects=kw.pop("follow_redirects", True),
            **kw,
        )

    def sign_in(self, email: str) -> None:
        self.get("/login")
        r = self.post("/login", {"email": email, "password": PASSWORD})
        assert r.status_code == 200, r.text
        self.get("/")


@pytest.fixture
def console_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTSYNC_CONSOLE_SECURE_COOKIE", "false")
    monkeypatch.setenv("EVENTSYNC_CONSOLE_URL", f"{BASE}/console")


def member(engine: Engine, ws: str, email: str, role: str) -> None:
    account = members.find_account(engine, email) or members.create_account(engine, email, PASSWORD)
    members.add_member(engine, ws, account.id, role)

"""`make demo`'s preparation and summary: a working API key and a one-time console
password on every start, printed last with the next steps; the partitions start where
the demo's data starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from eventsync import settings
from eventsync.accounts import members, signin
from eventsync.accounts.signin import SignInRefused
from eventsync.demo import run
from eventsync.store.connection import default_engine
from eventsync.workspaces import authenticate


@pytest.fixture
def demo_env(es_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    env_file = tmp_path / ".env"
    monkeypatch.setenv("EVENTSYNC_ENV_FILE", str(env_file))
    monkeypatch.delenv("EVENTSYNC_PARTITIONS_START", raising=False)
    monkeypatch.setattr(run, "DEMO_DAYS", 3)
    return env_file


def test_every_start_prints_a_key_that_works(demo_env: Path) -> None:
    first, key1, _ = run.prepare()
    again, key2, _ = run.prepare()  # a restart: same data, a new key
    assert key1 == first["api_key"] and "api_key" not in again
    assert key1 != key2
    engine = default_engine()
    assert authenticate(engine, key1) == authenticate(engine, key2) == "ws_demo"


def test_partitions_start_on_the_first_seeded_day_and_stay(demo_env: Path) -> None:
    seeded, _, _ = run.prepare()
    line = f"EVENTSYNC_PARTITIONS_START=${{EVENTSYNC_PARTITIONS_START:-{seeded['first_day']}}}"
    assert demo_env.read_text().splitlines() == [line]
    assert str(settings.load().partitions_start) == seeded["first_day"]
    assert run.pin_partitions_start("2020-01-01") == seeded["first_day"]  # kept once set
    assert demo_env.read_text().splitlines() == [line]


def test_the_summary_ends_with_the_key_and_says_what_to_do(demo_env: Path, tmp_path) -> None:
    seeded, key, password = run.prepare()
    text = run.banner(seeded, key, password, ui_ok=True, api_ok=False, logs=tmp_path)
    lines = text.strip().splitlines()
    assert lines[-2] == f"API key (shown once, stored hashed): {key}"
    assert lines[-1] == f"Console {run.DEMO_OWNER} one-time password (shown once): {password}"
    assert "http://127.0.0.1:8000/console/" in text
    assert "NOT UP - see its log" in text  # the API did not answer
    assert f"KEY={key}" in text and ".venv/bin/eventsync sync status sync_demo_local" in text
    assert "Runs > Backfills" in text


def test_every_start_prints_a_one_time_owner_password(demo_env: Path) -> None:
    engine = default_engine()
    _, _, first = run.prepare()
    _, _, second = run.prepare()  # a restart: the first password stops working
    assert first != second
    with pytest.raises(SignInRefused):
        signin.check_password(engine, run.DEMO_OWNER, first, "127.0.0.1")
    account = signin.check_password(engine, run.DEMO_OWNER, second, "127.0.0.1")
    assert account.must_change_password  # one-time: the console asks for a new one first
    (membership,) = members.memberships(engine, account.id)
    assert (membership.workspace_id, membership.role) == ("ws_demo", "owner")


def test_a_taken_port_is_named_with_its_holder_and_the_demo_does_not_start(
    demo_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import os
    import socket

    from tests.fixtures.ports import free_port

    holder = socket.socket()
    holder.bind(("127.0.0.1", free_port()))
    holder.listen()
    port = holder.getsockname()[1]
    monkeypatch.setenv("EVENTSYNC_API_PORT", str(port))
    monkeypatch.setenv("EVENTSYNC_UI_PORT", str(free_port()))
    try:
        assert run.main() == 2
    finally:
        holder.close()
    err = capsys.readouterr().err
    assert f"error: port {port} for the HTTP API is taken by pid {os.getpid()} (" in err
    assert "EVENTSYNC_API_PORT" in err and "the demo did not start" in err
    assert "the Dagster UI" not in err  # its port is free
    assert not (settings.dagster_home() / "eventsync.db").exists()  # nothing was started


def test_a_restart_banner_promises_no_backfill(demo_env: Path, tmp_path) -> None:
    run.prepare()
    again, key, password = run.prepare()  # a restart: the sync is not new
    text = run.banner(again, key, password, ui_ok=True, api_ok=True, logs=tmp_path)
    assert "new-sync sensor starts" not in text
    assert f"eventsync sync backfill {again['sync_id']} --days" in text

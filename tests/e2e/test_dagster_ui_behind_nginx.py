"""docs/nginx-dagster-ui.conf, as shipped: nginx (from Debian) with a self-signed TLS
certificate and HTTP basic auth in front of a real dagster-webserver on 127.0.0.1
refuses without credentials (401) and proxies with them (200), the GraphQL endpoint
and its websocket (graphql-ws) included; a foreign Origin, a foreign Host and GraphQL
over GET are refused even with credentials."""

from __future__ import annotations

import base64
import json
import os
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.fixtures.nginx import nginx_binary, self_signed, write_main_conf
from tests.fixtures.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "docs" / "nginx-dagster-ui.conf"
USER, PASSWORD = "operator", "correct horse battery staple"


def wait_for(url: str, proc: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2, verify=False).status_code < 500:
                return
        except httpx.TransportError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.5)
    pytest.fail(f"{url} did not come up: {log.read_text(errors='replace')[-2000:]}")


@pytest.fixture
def webserver(es_home: Path) -> Iterator[str]:
    """A real dagster-webserver on 127.0.0.1 (trivial code location); its address."""
    port = free_port()
    log = es_home / "webserver.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "dagster-webserver"),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-m",
                "tests.dagster_code.trivial",
            ],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(f"http://127.0.0.1:{port}/server_info", proc, log)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def proxy(webserver: str, tmp_path: Path) -> Iterator[str]:
    """nginx with the shipped server block; its https address."""
    folder = tmp_path / "nginx"
    (folder / "logs").mkdir(parents=True)
    cert, key = self_signed(folder)
    hashed = subprocess.run(
        ["openssl", "passwd", "-6", "-stdin"], input=PASSWORD, text=True,
        check=True, capture_output=True,
    ).stdout.strip()  # fmt: skip
    htpasswd = folder / "htpasswd"
    htpasswd.write_text(f"{USER}:{hashed}\n")
    port = free_port()
    # Filled as docs/deploy.md says: envsubst with the seven placeholders named.
    filled = {
        "LISTEN": f"127.0.0.1:{port}", "CERT": str(cert), "KEY": str(key),
        "HTPASSWD": str(htpasswd), "UPSTREAM": str(webserver),
        "SERVER_NAME": "127.0.0.1", "ORIGIN": f"https://127.0.0.1:{port}",
    }  # fmt: skip
    server = subprocess.run(
        ["envsubst", "${LISTEN} ${CERT} ${KEY} ${HTPASSWD} ${UPSTREAM} ${SERVER_NAME} ${ORIGIN}"],
        input=CONF.read_text(), env={**os.environ, **filled},
        text=True, capture_output=True, check=True,
    ).stdout  # fmt: skip
    assert not [n for n in filled if f"${{{n}}}" in server]
    assert "$host" in server  # nginx's own variables kept
    (folder / "eventsync-ui.conf").write_text(server)
    write_main_conf(folder, folder / "eventsync-ui.conf")
    binary = nginx_binary()
    log = folder / "logs" / "error.log"
    proc = subprocess.Popen(
        [binary, "-p", str(folder), "-c", str(folder / "nginx.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(f"https://127.0.0.1:{port}/", proc, log, timeout=30)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.mark.slow
def test_dagster_ui_needs_credentials_and_tls(proxy: str) -> None:
    base = f"https://{proxy}"
    query = {"query": "{ version }"}
    with httpx.Client(base_url=base, verify=False, timeout=30) as anonymous:
        assert anonymous.get("/").status_code == 401
        assert anonymous.post("/graphql", json=query).status_code == 401
        wrong = anonymous.get("/", auth=(USER, "guess"))
        assert wrong.status_code == 401
    with httpx.Client(base_url=base, verify=False, timeout=30, auth=(USER, PASSWORD)) as ok:
        page = ok.get("/")
        assert page.status_code == 200 and "<html" in page.text.lower()
        answer = ok.post("/graphql", json=query)
        assert answer.status_code == 200 and answer.json()["data"]["version"]
        own = ok.post("/graphql", json=query, headers={"Origin": base})
        assert own.status_code == 200
        # What a foreign page could make an operator's browser send, refused even with
        # the operator's credentials: another site's Origin, GraphQL over GET, and a
        # foreign Host (DNS rebinding).
        other = ok.post("/graphql", json=query, headers={"Origin": "https://evil.test"})
        assert other.status_code == 403
        assert ok.get("/graphql", params=query).status_code == 405
        assert ok.get("/graphql").status_code == 400  # no query: the webserver answers
        rebound = ok.post("/graphql", json=query, headers={"Host": "evil.test"})
        assert rebound.status_code == 421
    # Plain HTTP on the TLS port gets nothing through.
    assert httpx.get(f"http://{proxy}/", timeout=10).status_code == 400

    tls = ssl.create_default_context()
    tls.check_hostname, tls.verify_mode = False, ssl.CERT_NONE
    with pytest.raises(InvalidStatus) as refused:
        connect(f"wss://{proxy}/graphql", ssl=tls, subprotocols=["graphql-ws"]).close()
    assert refused.value.response.status_code == 401
    token = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    with pytest.raises(InvalidStatus) as foreign:
        connect(
            f"wss://{proxy}/graphql",
            ssl=tls,
            subprotocols=["graphql-ws"],
            additional_headers={"Authorization": token},
            origin="https://evil.test",
        ).close()
    assert foreign.value.response.status_code == 403
    with connect(
        f"wss://{proxy}/graphql",
        ssl=tls,
        subprotocols=["graphql-ws"],
        additional_headers={"Authorization": token},
    ) as ws:
        ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(ws.recv(timeout=30))["type"] == "connection_ack"

"""docs/nginx-dagster-ui.conf, as shipped: nginx (from Debian) with a self-signed TLS
certificate and HTTP basic auth in front of a real dagster-webserver on 127.0.0.1
refuses without credentials (401) and proxies with them (200), the GraphQL endpoint
and its websocket (graphql-ws) included."""

from __future__ import annotations

import base64
import json
import os
import shutil
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from string import Template

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.pipeline.api.server import free_port

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "docs" / "nginx-dagster-ui.conf"
USER, PASSWORD = "operator", "correct horse battery staple"


def nginx_binary() -> str:
    """nginx from PATH or /usr/sbin; installed from Debian when missing and allowed."""
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "--no-install-recommends", "nginx"]
        if subprocess.run(install, env=env, capture_output=True).returncode != 0:
            subprocess.run(["apt-get", "update"], env=env, capture_output=True)
            subprocess.run(install, env=env, capture_output=True)
        found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
        if found:
            return found
    pytest.fail("nginx is needed for this test: apt-get install -y nginx", pytrace=False)


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
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    hashed = subprocess.run(
        ["openssl", "passwd", "-6", "-stdin"], input=PASSWORD, text=True,
        check=True, capture_output=True,
    ).stdout.strip()  # fmt: skip
    htpasswd = folder / "htpasswd"
    htpasswd.write_text(f"{USER}:{hashed}\n")
    port = free_port()
    server = Template(CONF.read_text()).safe_substitute(
        LISTEN=f"127.0.0.1:{port}", CERT=cert, KEY=key, HTPASSWD=htpasswd, UPSTREAM=webserver
    )
    (folder / "eventsync-ui.conf").write_text(server)
    user = "user root;\n" if os.geteuid() == 0 else ""
    (folder / "nginx.conf").write_text(
        f"{user}daemon off;\nworker_processes 1;\npid {folder}/nginx.pid;\n"
        f"error_log {folder}/logs/error.log;\nevents {{}}\n"
        f"http {{\n  access_log {folder}/logs/access.log;\n"
        f"  client_body_temp_path {folder}/body; proxy_temp_path {folder}/proxy;\n"
        f"  fastcgi_temp_path {folder}/fcgi; uwsgi_temp_path {folder}/uwsgi;\n"
        f"  scgi_temp_path {folder}/scgi;\n  include {folder}/eventsync-ui.conf;\n}}\n"
    )
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
    # Plain HTTP on the TLS port gets nothing through.
    assert httpx.get(f"http://{proxy}/", timeout=10).status_code == 400

    tls = ssl.create_default_context()
    tls.check_hostname, tls.verify_mode = False, ssl.CERT_NONE
    with pytest.raises(InvalidStatus) as refused:
        connect(f"wss://{proxy}/graphql", ssl=tls, subprotocols=["graphql-ws"]).close()
    assert refused.value.response.status_code == 401
    token = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    with connect(
        f"wss://{proxy}/graphql",
        ssl=tls,
        subprotocols=["graphql-ws"],
        additional_headers={"Authorization": token},
    ) as ws:
        ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(ws.recv(timeout=30))["type"] == "connection_ack"

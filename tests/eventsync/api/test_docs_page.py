"""The API docs page works offline: every script, style sheet and icon it loads is
served by the API itself (no CDN)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from eventsync.api import create_app


def test_docs_page_loads_only_local_assets(engine) -> None:
    client = TestClient(create_app(engine))
    page = client.get("/docs")
    assert page.status_code == 200
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    urls += re.findall(r"""url:\s*["']([^"']+)["']""", page.text)
    assert len(urls) >= 4, urls  # css, icon, script, /openapi.json
    for url in urls:
        assert url.startswith("/"), f"{url} is not served by the API"
        got = client.get(url)
        assert got.status_code == 200, url
        assert got.content, url
    assert "cdn" not in page.text.lower()
    assert "SwaggerUIBundle" in client.get("/docs/assets/swagger-ui-bundle.js").text
    assert client.get("/docs/oauth2-redirect").status_code == 200

"""The workspace the ingestion tests write to."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from eventsync.workspaces import create_workspace


@pytest.fixture
def ws(engine: Engine) -> str:
    return create_workspace(engine, "Ingest tests").workspace_id

"""A clean install: building the distribution prints no deprecation warning of the
build backend (the `project.license` table printed four of them per install)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # builds a wheel in an isolated build environment (~10 s)
def test_building_the_wheel_warns_about_nothing(tmp_path: Path) -> None:
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-v", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    output = built.stdout + built.stderr
    warnings = [
        line.strip()
        for line in output.splitlines()
        if "Warning" in line and "Editable installation" not in line
    ]
    assert warnings == [], warnings
    assert list(tmp_path.glob("eventsync-*.whl"))

"""The access-export CSV opened in a spreadsheet (LibreOffice Calc, headless): no cell
becomes a formula (OWASP's CSV-injection rule: a leading apostrophe), the text is exact
(UTF-8 with a byte-order mark, so `ünï` stays `ünï`), and removing one leading
apostrophe gives back every stored value. `make libreoffice` installs Debian's
libreoffice-calc (`make test` depends on it)."""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from sqlalchemy import Engine

from eventsync.ingest import ingest_events
from eventsync.privacy import access_export, request_store, runner
from eventsync.workspaces import create_workspace

pytestmark = pytest.mark.slow

USER = "=cmd|' /C calc'!A0"
HOSTILE = [
    "=SUM(1,2)",
    "+SUM(1,2)",
    "-2+3",
    "@SUM(1,2)",
    "\t=1+1",
    "\r=1+1",
    "'=1+1",
    '=HYPERLINK("http://evil.example","x")',
    "ünï - 用户 😀",
    'plain, with "quotes"',
]
NS = {
    "table": "urn:oasis:names:tc:opendocument:xmlns:table:1.0",
    "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0",
}
FORMULA = f"{{{NS['table']}}}formula"
REPEATED = f"{{{NS['table']}}}number-columns-repeated"
# What LibreOffice's Text Import dialog uses for this file: comma, double quote, the
# character set found by detection (the byte-order mark), first line 1.
CSV_FILTER = "CSV:44,34,,1"


def _libreoffice() -> str:
    found = shutil.which("libreoffice") or shutil.which("soffice")
    if found is None:
        pytest.fail(
            "this test needs LibreOffice Calc: run `make libreoffice` (installs Debian's "
            "libreoffice-calc) or apt-get install libreoffice-calc"
        )
    return found


def _odf_text(element: ET.Element) -> str:
    """The text of an ODF paragraph: <text:tab/>, <text:s text:c="n"/> and
    <text:line-break/> stand for a tab, n spaces and a line break."""
    out = [element.text or ""]
    for child in element:
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "tab":
            out.append("\t")
        elif tag == "s":
            out.append(" " * int(child.get(f"{{{NS['text']}}}c", "1")))
        elif tag == "line-break":
            out.append("\n")
        else:
            out.append(_odf_text(child))
        out.append(child.tail or "")
    return "".join(out)


def _open_in_calc(csv_path: Path, work: Path) -> list[list[tuple[str, bool]]]:
    """Each row as [(cell text, is a formula)], as Calc imported the file."""
    subprocess.run(
        [
            _libreoffice(),
            f"-env:UserInstallation=file://{work / 'lo-profile'}",
            "--headless",
            f"--infilter={CSV_FILTER}",
            "--convert-to",
            "fods",
            "--outdir",
            str(work),
            str(csv_path),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    tree = ET.parse(work / f"{csv_path.stem}.fods")
    rows = []
    for row in tree.iter(f"{{{NS['table']}}}table-row"):
        cells: list[tuple[str, bool]] = []
        for c in row.findall("table:table-cell", NS):
            text = "\n".join(_odf_text(p) for p in c.findall("text:p", NS))
            cells += [(text, c.get(FORMULA) is not None)] * int(c.get(REPEATED, "1"))
        rows.append(cells)
    return rows


def test_calc_evaluates_no_cell_and_shows_the_text_exactly(
    engine: Engine, es_home: Path, tmp_path: Path
) -> None:
    ws = create_workspace(engine, "acme").workspace_id
    batch = [
        {
            "event_id": f"e{i}",
            "event_type": "track",
            "event_name": value,
            "user_id": USER,
            "pathname": value,
            "occurred_at": f"2025-03-01T10:00:{i:02d}Z",
            "properties": {"v": value},
        }
        for i, value in enumerate(HOSTILE)
    ]
    assert ingest_events(engine, ws, batch).accepted == len(HOSTILE)
    req = request_store.create_request(engine, ws, "access_export", [USER], [], "test")
    done = runner.run_all(engine, req.id, "test")
    assert done.status == "completed", done.error
    path = Path(done.progress.output.local_path)  # type: ignore[union-attr]
    assert path.read_bytes().startswith(b"\xef\xbb\xbfrecord,")

    rows = _open_in_calc(path, tmp_path)
    assert not [(r, c) for r, row in enumerate(rows) for c, (_, f) in enumerate(row) if f]
    header = [text for text, _ in rows[0]]
    assert header[: len(access_export.HEADER)] == list(access_export.HEADER)  # no "ï»¿"
    col = {name: header.index(name) for name in ("record", "event_name", "user_id", "pathname")}
    events = [row for row in rows[1:] if row and row[col["record"]][0] == "event"]
    assert len(events) == len(HOSTILE)
    for row, value in zip(events, HOSTILE, strict=True):
        shown_name, shown_user = row[col["event_name"]][0], row[col["user_id"]][0]
        neutral = "'" + value if value.startswith(access_export.FORMULA_TRIGGERS) else value
        # Calc keeps a cell's CR as a line break: compare what it shows with line ends
        # normalised, and the apostrophe rule exactly.
        assert shown_name.replace("\r", "\n") == neutral.replace("\r", "\n"), (value, shown_name)
        assert row[col["pathname"]][0].replace("\r", "\n") == neutral.replace("\r", "\n")
        assert shown_user == "'" + USER
        # one leading apostrophe removed gives the stored value back
        assert shown_user[1:] == USER
        assert (shown_name[1:] if value != neutral else shown_name).replace(
            "\r", "\n"
        ) == value.replace("\r", "\n")

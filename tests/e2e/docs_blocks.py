"""The shell commands of README.md and docs/*.md, as a shell reads them: fenced
``sh``/``bash``/``shell`` blocks, their marker comment (tests/e2e/docs_harness.py says
what each marker means), and commands shown as indented text, which are not run."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHELL_LANGS = {"sh", "bash", "shell"}
FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w-]*)[ \t]*$")
MARKER = re.compile(r"^\s*<!--\s*docs-test:\s*(?P<body>.*?)\s*-->\s*$")
HEREDOC = re.compile(r"<<-?\s*['\"]?(?P<word>\w+)['\"]?")
# Indented (4-space) blocks that are commands: they must be fenced, so they are run.
COMMAND_WORDS = ("eventsync ", ".venv/bin/", "make ", "curl ", "dagster", "psql ", "gcloud ")


@dataclass
class Block:
    path: Path
    line: int  # of the opening fence, 1-based
    lang: str
    options: dict[str, str]
    commands: list[str]

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def _options(body: str) -> dict[str, str]:
    for whole in ("skip", "expect-fail"):  # a reason: the rest of the comment, `;` and all
        if body.startswith(whole + ":"):
            return {whole: body[len(whole) + 1 :].strip()}
    out = {}
    for part in filter(None, (p.strip() for p in body.split(";"))):
        name, _, value = part.partition(":")
        out[name.strip()] = value.strip()
    return out


def split_commands(text: str) -> list[str]:
    """Logical commands: blank and comment-only lines dropped, `\\` continuations and
    here-documents kept with their command."""
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cmd = [line]
        while cmd[-1].rstrip().endswith("\\") and i < len(lines):
            cmd.append(lines[i])
            i += 1
        heredoc = HEREDOC.search(" ".join(cmd))
        if heredoc:
            while i < len(lines):
                cmd.append(lines[i])
                i += 1
                if cmd[-1].strip() == heredoc["word"]:
                    break
        out.append("\n".join(cmd))
    return out


def blocks(path: Path) -> list[Block]:
    lines = path.read_text().splitlines()
    found = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        start, indent, lang = i, m["indent"], m["lang"]
        i += 1
        body = []
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i][len(indent) :] if lines[i].startswith(indent) else lines[i])
            i += 1
        i += 1
        if lang not in SHELL_LANGS:
            continue
        before = start - 1
        while before >= 0 and not lines[before].strip():
            before -= 1
        marker = MARKER.match(lines[before]) if before >= 0 else None
        options = _options(marker["body"]) if marker else {}
        found.append(Block(path, start + 1, lang, options, split_commands("\n".join(body))))
    return found


def indented_commands(path: Path) -> list[str]:
    """Commands shown in 4-space indented blocks (not run: they should be fenced)."""
    out = []
    previous_blank = True
    for line in path.read_text().splitlines():
        if previous_blank and line.startswith("    ") and line.strip().startswith(COMMAND_WORDS):
            out.append(line.strip())
        previous_blank = not line.strip() or (previous_blank and line.startswith("    "))
    return out


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

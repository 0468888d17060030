"""README.md and docs/*.md are tests: every shell command in them runs as written, in a
fresh copy of the project where only `make install` has run (tests/e2e/docs_harness.py
says how), or is marked as not runnable here with the reason."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.docs_blocks import ROOT, Block, blocks, documents, indented_commands
from tests.e2e.docs_harness import Namespace, Result, Session, clean_env, fresh_copy

KNOWN_OPTIONS = {"skip", "background", "ready", "retry", "expect-fail"}
# Commands that fail for a reason being fixed elsewhere, with that reason; each must
# still fail (strict), so the entry is removed when the fix lands.
KNOWN_FAILING: dict[str, str] = {}
PRIVATE_PATHS = ("/tmp/es_deploy",)
ALL_BLOCKS = [b for doc in documents() for b in blocks(doc)]


def test_every_shell_block_runs_or_says_why_not() -> None:
    assert ALL_BLOCKS, "no shell blocks found"
    for block in ALL_BLOCKS:
        assert set(block.options) <= KNOWN_OPTIONS, (block.where, block.options)
        assert block.commands, f"{block.where}: an empty shell block"
        if "skip" in block.options:
            assert len(block.options["skip"]) > 10, f"{block.where}: say why it is not run"
        if "expect-fail" in block.options:
            assert block.options["expect-fail"], f"{block.where}: say why it must fail"


@pytest.mark.parametrize("doc", ["README.md", "docs/deploy.md"])
def test_commands_are_fenced_so_that_they_are_run(doc: str) -> None:
    assert indented_commands(ROOT / doc) == []


def test_the_harness_splits_commands_as_a_shell_reads_them() -> None:
    from tests.e2e.docs_blocks import split_commands

    text = (
        "# a comment\n\nexport A=1\ncurl -s \\\n  -d x \\\n  http://h\n"
        "cat > f <<'EOF'\na: 1\nEOF\nls"
    )
    assert split_commands(text) == [
        "export A=1",
        "curl -s \\\n  -d x \\\n  http://h",
        "cat > f <<'EOF'\na: 1\nEOF",
        "ls",
    ]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Namespace, Path, Path]]:
    """The fresh copy, and the namespace with PostgreSQL and Redis docs/deploy.md uses."""
    base = tmp_path_factory.mktemp("docs")
    copy = fresh_copy(base / "eventsync")
    (base / "home").mkdir()
    with Namespace() as ns:
        servers = base / "servers"
        servers.mkdir()
        ns.start_postgres()
        ns.start_redis(servers)
        yield ns, copy, base


def _run_block(session: Session, block: Block) -> list[str]:
    """Run a block's commands; the failures, each with its output."""
    failures = []
    for command in block.commands:
        known = next((why for text, why in KNOWN_FAILING.items() if text in command), None)
        if "background" in block.options:
            result = session.start(command, block.options.get("ready", ""))
        elif "retry" in block.options:
            result = _retry(session, command, float(block.options["retry"] or 120))
        else:
            result = session.run(command)
        if "expect-fail" in block.options:
            ok = result.status != 0 and len(result.output.strip().splitlines()) == 1
        else:
            ok = result.status == 0
        if known:
            if ok:
                failures.append(f"{block.where}: passes now, drop it from KNOWN_FAILING: {command}")
            continue
        if not ok:
            failures.append(
                f"{block.where}: exit {result.status}: {command}\n{result.output[-3000:]}"
            )
    return failures


def _retry(session: Session, command: str, seconds: float) -> Result:
    import time

    deadline = time.monotonic() + seconds
    while True:
        result = session.run(command)
        if result.status == 0 or time.monotonic() > deadline:
            return result
        time.sleep(3)


RUNNABLE_DOCS = [
    str(d.relative_to(ROOT)) for d in documents() if any("skip" not in b.options for b in blocks(d))
]


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("doc", RUNNABLE_DOCS)
def test_docs_commands_run_as_written(sandbox, doc: str) -> None:
    ns, copy, base = sandbox
    runnable = [b for b in blocks(ROOT / doc) if "skip" not in b.options]
    private = {}
    for target in PRIVATE_PATHS:
        private[target] = base / "private" / doc.replace("/", "_") / target.strip("/")
        private[target].mkdir(parents=True)
    session = Session(ns, copy, clean_env(copy, base / "home"), base / "logs" / doc, private)
    failures: list[str] = []
    try:
        for block in runnable:
            failures += _run_block(session, block)
    finally:
        session.close()
    assert not failures, "\n\n".join(failures)

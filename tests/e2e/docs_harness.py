"""Run the shell commands of README.md and docs/*.md as written.

Every fenced ``sh``/``bash``/``shell`` block is a list of commands (continued lines
and here-documents joined). A block may be preceded by one marker comment, invisible
in the rendered page, saying how it runs:

    <!-- docs-test: skip: REASON -->            not run here; the reason is required
    <!-- docs-test: background; ready: TEXT --> each command is a server started in the
                                                background; go on once its output shows TEXT
    <!-- docs-test: retry: SECONDS -->          re-run each command until it succeeds
    <!-- docs-test: expect-fail: REASON -->     must fail with exactly one line of output

Commands run in a fresh copy of the project (what `git clone` gives plus what
`make install` does), in a bash session per document, so `export`s and variables carry
from one command to the next as in a terminal. Everything runs in a private network
namespace: the pages' fixed ports (3000, 8000, 5432...) are free whatever else runs on
the machine, and nothing the pages start can reach outside it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

from tests.e2e.docs_blocks import ROOT


# --- a fresh copy of the project ------------------------------------------------------------
def project_files() -> list[str]:
    """What a clone of the current work tree holds (tracked and new, not ignored files)."""
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    return [p for p in out.decode().split("\0") if p and (ROOT / p).is_file()]


def fresh_copy(dest: Path) -> Path:
    """The project as cloned, with the shared virtualenv standing in for the one
    `make install` would build (pip would take minutes and the network): its marker is
    newer than pyproject.toml, so `make install` only does the rest (.env)."""
    for rel in project_files():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, target)
    shared = Path(os.path.realpath(ROOT / ".venv"))
    venv = dest / ".venv"
    (venv / "bin").mkdir(parents=True)
    for entry in (shared / "bin").iterdir():
        (venv / "bin" / entry.name).symlink_to(entry)
    (venv / "lib").symlink_to(shared / "lib")
    shutil.copy2(shared / "pyvenv.cfg", venv / "pyvenv.cfg")
    (venv / ".installed").touch()
    return dest


def clean_env(copy: Path, home: Path) -> dict[str, str]:
    """Nothing exported but what a login shell has (PYTHONPATH makes the shared
    virtualenv import the copy's code, as `make install`'s editable install would)."""
    return {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(copy),
        "NO_GCE_CHECK": "True",
    }


# --- a private network namespace with the servers docs/deploy.md expects ----------------
@dataclass
class Namespace:
    name: str = field(default_factory=lambda: f"esdocs{uuid.uuid4().hex[:8]}")
    pg_data: Path | None = None

    def __enter__(self) -> Namespace:
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        self.exec(["ip", "link", "set", "lo", "up"])
        return self

    def exec(self, cmd: list[str], **kwargs) -> subprocess.CompletedProcess:  # type: ignore[no-untyped-def]
        return subprocess.run(["ip", "netns", "exec", self.name, *cmd], check=True, **kwargs)

    def start_postgres(self) -> None:
        """PostgreSQL on 127.0.0.1:5432, user postgres, trust auth (docs/deploy.md). In a
        folder of its own the postgres user can reach (pytest's tmp is root-only)."""
        where = Path(tempfile.mkdtemp(prefix="esdocs-pg-"))
        where.chmod(0o755)
        shutil.chown(where, "postgres")
        self.pg_data = where / "data"
        as_pg = ["runuser", "-u", "postgres", "--"]
        self.exec(
            [*as_pg, "initdb", "-D", str(self.pg_data), "-A", "trust", "-U", "postgres"],
            capture_output=True,
        )
        self.exec(
            [
                *as_pg,
                "pg_ctl",
                "-D",
                str(self.pg_data),
                "-l",
                str(where / "pg.log"),
                "-w",
                "-o",
                f"-h 127.0.0.1 -p 5432 -k {where}",
                "start",
            ],
            capture_output=True,
        )

    def start_redis(self, where: Path) -> None:
        self.exec(
            [
                "redis-server",
                "--port",
                "6379",
                "--bind",
                "127.0.0.1",
                "--daemonize",
                "yes",
                "--dir",
                str(where),
                "--logfile",
                str(where / "redis.log"),
            ]
        )

    def __exit__(self, *exc: object) -> None:
        # Everything still running in the namespace (servers the pages started), then it.
        pids = subprocess.run(["ip", "netns", "pids", self.name], capture_output=True, text=True)
        for pid in pids.stdout.split():
            with suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        time.sleep(1)
        subprocess.run(["ip", "netns", "delete", self.name], check=False)
        if self.pg_data is not None:
            shutil.rmtree(self.pg_data.parent, ignore_errors=True)


# --- a bash session --------------------------------------------------------------------------
@dataclass
class Result:
    command: str
    status: int
    output: str


class Session:
    """One document's terminal: a bash inside the namespace, fed one command at a time."""

    def __init__(
        self, ns: Namespace, cwd: Path, env: dict[str, str], logs: Path, private: dict[str, Path]
    ) -> None:
        self.logs = logs
        logs.mkdir(parents=True, exist_ok=True)
        self.n = 0
        self.background: list[int] = []
        # Fixed paths the pages use (e.g. /tmp/es_deploy) get a folder of this run's own,
        # bind-mounted in a private mount namespace: parallel runs never share them.
        mounts = " && ".join(
            f"mkdir -p {target} && mount --bind {source} {target}"
            for target, source in private.items()
        )
        setup = (mounts + " && " if mounts else "") + "exec bash --noprofile --norc"
        self.proc = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                ns.name,
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "bash",
                "--noprofile",
                "--norc",
                "-c",
                setup,
            ],
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )

    def _send(self, script: str, token: str, timeout: float) -> str:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(script + f"\necho {token} $__rc\n")
        self.proc.stdin.flush()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("the bash session ended")
            if line.startswith(token):
                return line.split()[1]
        raise TimeoutError

    def run(self, command: str, timeout: float = 600) -> Result:
        self.n += 1
        out = self.logs / f"cmd{self.n:03d}.log"
        (self.logs / f"cmd{self.n:03d}.sh").write_text(command + "\n")
        script = f"{{ {command}\n}} > {out} 2>&1 < /dev/null; __rc=$?"
        try:
            status = int(self._send(script, f"__DONE{self.n}__", timeout))
        except TimeoutError:
            return Result(command, 124, out.read_text(errors="replace") + "\n(timed out)")
        return Result(command, status, out.read_text(errors="replace"))

    def start(self, command: str, ready: str, timeout: float = 300) -> Result:
        """A server in the background (its own process group); wait for `ready` in its
        output when given."""
        self.n += 1
        out = self.logs / f"bg{self.n:03d}.log"
        script = self.logs / f"bg{self.n:03d}.sh"
        script.write_text(command + "\n")
        pid = self._send(
            f"setsid bash {script} > {out} 2>&1 < /dev/null & __rc=$!", f"__BG{self.n}__", 30
        )
        self.background.append(int(pid))
        deadline = time.monotonic() + timeout
        while ready and time.monotonic() < deadline:
            text = out.read_text(errors="replace") if out.exists() else ""
            if ready in text:
                return Result(command, 0, text)
            with suppress(ProcessLookupError):
                os.kill(int(pid), 0)
                time.sleep(1)
                continue
            return Result(command, 1, text + "\n(exited)")
        text = out.read_text(errors="replace") if out.exists() else ""
        return Result(command, 0 if not ready else 124, text)

    def _leftovers(self, mnt: str) -> list[int]:
        """Every process of this session (they share its mount namespace)."""
        pids = []
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit():
                with suppress(OSError):
                    if os.readlink(proc / "ns" / "mnt") == mnt:
                        pids.append(int(proc.name))
        return pids

    def close(self) -> None:
        """Stop the servers the way a user would (Ctrl-C), then whatever is left."""
        mnt = os.readlink(f"/proc/{self.proc.pid}/ns/mnt")
        for pid in self.background:
            with suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGINT)
        deadline = time.monotonic() + 30
        for pid in self.background:
            while time.monotonic() < deadline:
                try:
                    os.killpg(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.5)
        with suppress(Exception):
            self.proc.stdin.close()  # type: ignore[union-attr]
        with suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        for pid in self._leftovers(mnt):  # servers' own process groups (dagster dev's)
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)

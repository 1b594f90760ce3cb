"""Generate a project from this checkout and run its server: shared by tests, demo and bench."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

TEMPLATE_ROOT = Path(__file__).resolve().parent.parent
# uv and copier live in the template's own virtualenv; generated projects need both.
TOOLS_BIN = Path(sys.executable).parent
# The MCP Inspector, and Node 22 for it and the CDK (package.json), the Node the generated
# README asks for. On a platform npm has no Node 22 package for, the `node` on PATH is used.
NODE_BIN = TEMPLATE_ROOT / "node_modules" / ".bin"


def tool_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for running uv, copier, make and Node, with this checkout's tools first."""
    path = os.pathsep.join([str(TOOLS_BIN), str(NODE_BIN), os.environ.get("PATH", "")])
    env = {**os.environ, "PATH": path}
    # A generated project must use its own .venv, never the template's; and its make runs as
    # from a shell, not as a sub-make of ours (which would print "Entering directory" lines).
    for name in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "MAKELEVEL", "MAKEFLAGS", "MFLAGS"):
        env.pop(name, None)
    env.update(extra or {})
    return env


def run(args: list[str], cwd: Path, *, check: bool = True, timeout: float = 600):
    """Run a command with tool_env(); on failure, raise with its whole output."""
    result = subprocess.run(
        args, cwd=cwd, env=tool_env(), capture_output=True, text=True, timeout=timeout
    )
    if check and result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args)} failed with {result.returncode} in {cwd}\n"
            f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
        )
    return result


def copier_copy(dest: Path, answers: Mapping[str, str] | None = None, *, check: bool = True):
    """`copier copy --defaults` from this checkout (uncommitted work included), without --trust."""
    args = [str(TOOLS_BIN / "copier"), "copy", "--defaults", "--vcs-ref", "HEAD"]
    for question, answer in (answers or {}).items():
        args += ["--data", f"{question}={answer}"]
    return run([*args, str(TEMPLATE_ROOT), str(dest)], cwd=TEMPLATE_ROOT, check=check)


def generate_project(dest: Path, answers: Mapping[str, str] | None = None) -> Path:
    """A fresh generated project at `dest`, with its .venv synced."""
    if dest.exists():
        shutil.rmtree(dest)
    copier_copy(dest, answers)
    run(["uv", "sync", "--quiet"], cwd=dest)
    return dest


# A Jinja expression, statement or comment opener: "{{ name", "{% if", "{# note". GitHub
# Actions expressions, "${{ github.ref }}", are meant to stay.
UNRENDERED_JINJA = re.compile(r"(?<!\$){{-?\s*[A-Za-z_][\w.]*\s*(\||}}|\()|{%-?\s|{#-?\s")


def generated_files(project: Path) -> list[Path]:
    skipped = {".venv", ".git", "__pycache__", ".pytest_cache", ".ruff_cache"}
    return [
        path
        for path in sorted(project.rglob("*"))
        if path.is_file() and not skipped.intersection(path.relative_to(project).parts)
    ]


def check_generated_files(project: Path) -> None:
    """Every generated file is fully rendered, ends with a newline and has no trailing spaces."""
    for path in generated_files(project):
        text = path.read_text(encoding="utf-8")
        name = path.relative_to(project)
        assert not UNRENDERED_JINJA.search(text), f"unrendered Jinja in {name}"
        assert text.endswith("\n"), f"{name} does not end with a newline"
        trailing = [n for n, line in enumerate(text.splitlines(), 1) if line != line.rstrip()]
        assert not trailing, f"trailing whitespace in {name} on lines {trailing}"
    assert not list(project.rglob("*.jinja"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def mcp_url(self) -> str:
        return f"{self.url}/mcp"


def answers_of(project: Path) -> dict[str, str]:
    """The Copier answers a generated project was made with."""
    return yaml.safe_load((project / ".copier-answers.yml").read_text(encoding="utf-8"))


@contextmanager
def serve(
    project: Path, *, env: Mapping[str, str] | None = None, timeout: float = 60
) -> Iterator[Server]:
    """Run `python -m <package>` from the project's .venv on a free loopback port."""
    package = answers_of(project)["package_name"]
    port = free_port()
    env = tool_env({**(env or {}), "HOST": "127.0.0.1", "PORT": str(port)})
    log_path = project / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(project / ".venv" / "bin" / "python"), "-m", package],
            cwd=project,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(url=f"http://127.0.0.1:{port}", process=process, log_path=log_path)
    try:
        wait_until_healthy(server, timeout)
        yield server
    finally:
        process.terminate()
        process.wait(timeout=10)


def wait_until_healthy(server: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{server.log_path.read_text()}")
        try:
            with urllib.request.urlopen(f"{server.url}/health", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server not healthy after {timeout} s:\n{server.log_path.read_text()}")


def inspector(*args: str) -> subprocess.CompletedProcess[str]:
    """The MCP Inspector CLI from this checkout's node_modules, on the Node beside it."""
    return run([str(NODE_BIN / "mcp-inspector"), "--cli", *args], cwd=TEMPLATE_ROOT, timeout=120)

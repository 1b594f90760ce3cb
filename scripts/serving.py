"""Generate a project from this checkout and run its server: shared by tests, demo and bench."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import jinja2
import yaml

TEMPLATE_ROOT = Path(__file__).resolve().parent.parent
# uv and copier live in the template's own virtualenv; generated projects need both.
TOOLS_BIN = Path(sys.executable).parent
# The MCP Inspector, and Node 22 for it and the CDK (package.json), the Node the generated
# README asks for. On a platform npm has no Node 22 package for, the `node` on PATH is used.
NODE_BIN = TEMPLATE_ROOT / "node_modules" / ".bin"
# The detail tests of template-owned plumbing (README.md says which): the template runs them in
# its answer-set projects instead of shipping them in every project.
PLUMBING_TESTS = TEMPLATE_ROOT / "tests" / "plumbing"


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


def fresh_machine_env() -> dict[str, str]:
    """tool_env() as on a machine with python3, make, git and node, but no uv anywhere on PATH."""
    env = tool_env()
    env["PATH"] = os.pathsep.join(
        folder for folder in env["PATH"].split(os.pathsep) if not (Path(folder) / "uv").exists()
    )
    assert shutil.which("uv", path=env["PATH"]) is None
    return env


def run(
    args: list[str],
    cwd: Path,
    *,
    check: bool = True,
    timeout: float = 600,
    env: Mapping[str, str] | None = None,
):
    """Run a command with tool_env() (or `env`); on failure, raise with its whole output."""
    result = subprocess.run(
        args, cwd=cwd, env=env or tool_env(), capture_output=True, text=True, timeout=timeout
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


def generated_files(project: Path) -> dict[str, str]:
    """Every file a `copier copy` wrote, by its path in the project: call it before anything
    runs there (setup adds .venv, node_modules, uv.lock)."""
    return {
        str(path.relative_to(project)): path.read_text(encoding="utf-8")
        for path in sorted(project.rglob("*"))
        if path.is_file() and ".git" not in path.relative_to(project).parts
    }


def check_generated_files(files: Mapping[str, str]) -> None:
    """Every generated file is fully rendered, ends with a newline and has no trailing spaces."""
    for name, text in files.items():
        assert not name.endswith(".jinja"), name
        assert not UNRENDERED_JINJA.search(text), f"unrendered Jinja in {name}"
        assert text.endswith("\n"), f"{name} does not end with a newline"
        trailing = [n for n, line in enumerate(text.splitlines(), 1) if line != line.rstrip()]
        assert not trailing, f"trailing whitespace in {name} on lines {trailing}"


def answers_of(project: Path) -> dict[str, str]:
    """The Copier answers a generated project was made with."""
    return yaml.safe_load((project / ".copier-answers.yml").read_text(encoding="utf-8"))


def add_plumbing_tests(project: Path) -> list[str]:
    """Writes the plumbing tests that apply into the project's tests/, rendered with its answers
    as Copier renders template files (an empty name is a file those answers do not get)."""
    answers = answers_of(project)
    jinja = jinja2.Environment(keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    added = []
    for source in sorted(PLUMBING_TESTS.glob("*.jinja")):
        name = jinja.from_string(source.stem).render(answers)
        if name:
            text = jinja.from_string(source.read_text(encoding="utf-8")).render(answers)
            (project / "tests" / name).write_text(text, encoding="utf-8")
            added.append(name)
    return added


def load_template_module(path: str) -> ModuleType:
    """A plain (non-Jinja) module of the generated project, loaded from template/ by path: its
    package is called `tests` too, and the template's tests use its helpers rather than copies."""
    source = TEMPLATE_ROOT / "template" / path
    spec = importlib.util.spec_from_file_location(f"template_{source.stem}", source)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while they are made
    spec.loader.exec_module(module)
    return module


support = load_template_module("tests/support.py")


@contextmanager
def serve(
    project: Path, *, env: Mapping[str, str] | None = None
) -> Iterator[support.RunningServer]:
    """Run `python -m <package>` from the project's .venv on a free loopback port."""
    command = [str(project / ".venv" / "bin" / "python"), "-m", answers_of(project)["package_name"]]
    with support.serve_process(command, tool_env(env), project / "server.log") as server:
        yield server


def inspector(*args: str) -> subprocess.CompletedProcess[str]:
    """The MCP Inspector CLI from this checkout's node_modules, on the Node beside it."""
    return run([str(NODE_BIN / "mcp-inspector"), "--cli", *args], cwd=TEMPLATE_ROOT, timeout=120)

"""A project installed as three image recipes install it, each under build/bench/<kind>.

Each starts from the files a Dockerfile copies in (sources without __pycache__); dependencies
are installed again only when the project's uv.lock has changed (uv syncs only what changed). The servers
run with PYTHONDONTWRITEBYTECODE=1: Lambda's filesystem is read-only, so only the .pyc files
made at build time help a cold start.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

from bench.harness import BUILD
from scripts.serving import answers_of, run, tool_env

LAMBDA_ENV = {"PYTHONDONTWRITEBYTECODE": "1"}
BUILD_INPUTS = ("pyproject.toml", "uv.lock", "README.md")
UV_SYNC = ("uv", "sync", "--quiet", "--locked", "--no-default-groups")


def copy_sources(project: Path, dest: Path, *files: str) -> None:
    """Copy the project's sources (without __pycache__) and `files` to `dest`, as the
    Dockerfile's COPY lines do: a fresh copy every time, so no stale module is left."""
    shutil.rmtree(dest / "src", ignore_errors=True)
    shutil.copytree(project / "src", dest / "src", ignore=shutil.ignore_patterns("__pycache__"))
    for name in files:
        shutil.copy(project / name, dest)


def generated(project: Path, kind: str) -> tuple[Path, Mapping[str, str]]:
    """The generated Dockerfile's build: locked runtime dependencies and the project itself,
    not editable, into an environment of its own, with bytecode compiled at build time."""
    dest = BUILD / kind
    copy_sources(project, dest, *BUILD_INPUTS)
    environment = dest / "app"
    package = answers_of(project)["package_name"]
    env = {"UV_COMPILE_BYTECODE": "1", "UV_PROJECT_ENVIRONMENT": str(environment)}
    # The project is reinstalled every time: uv would not notice its changed sources.
    command = [*UV_SYNC, "--no-editable", "--reinstall-package", package]
    run(command, cwd=dest, env=tool_env(env))
    return environment / "bin" / "python", LAMBDA_ENV


def naive_uv(project: Path) -> tuple[Path, Mapping[str, str]]:
    """`uv sync` as a Dockerfile might run it without the generated one's care: the project
    editable, no bytecode compiled, so every module is compiled again on each cold start."""
    dest = BUILD / "naive-uv"
    copy_sources(project, dest, *BUILD_INPUTS)
    run(list(UV_SYNC), cwd=dest)
    return dest / ".venv" / "bin" / "python", LAMBDA_ENV


def pip_recipe(project: Path) -> tuple[Path, Mapping[str, str]]:
    """The recipe of the AWS Lambda Web Adapter's Python examples (examples/fastapi/app/
    Dockerfile): `pip install -r requirements.txt` into the image's Python (here a venv of the
    project's), pip compiling bytecode as it installs. The requirements are the project's lock,
    exported; the example copies its app's .py files in beside them, uncompiled, and here the
    project is `-e .` in them: as uncompiled, and installed, for its metadata (its version)."""
    dest = BUILD / "pip-recipe"
    built_from = dest / "venv" / "uv.lock"
    if not built_from.exists() or built_from.read_bytes() != (project / "uv.lock").read_bytes():
        shutil.rmtree(dest, ignore_errors=True)
        copy_sources(project, dest, *BUILD_INPUTS)
        export = ["uv", "export", "--quiet", "--locked", "--no-default-groups", "--no-hashes"]
        run([*export, "--output-file", "requirements.txt"], cwd=dest)
        run([str(project / ".venv" / "bin" / "python"), "-m", "venv", "venv"], cwd=dest)
        pip = ["venv/bin/python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        run([*pip, "-r", "requirements.txt"], cwd=dest)
        shutil.copy(project / "uv.lock", built_from)  # last: only a finished build is reused
    copy_sources(project, dest)
    return dest / "venv" / "bin" / "python", LAMBDA_ENV

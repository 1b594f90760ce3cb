"""Fixtures shared by the template's tests: each answer set's project, made once per worker."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from scripts.serving import copier_copy, fresh_machine_env, generated_files, run, tool_env
from tests.projects import ANSWER_SETS, Generated


@pytest.fixture(scope="session")
def copied(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Generated]:
    """The project of an answer set as `copier copy` wrote it, copied on first use."""
    projects: dict[str, Generated] = {}

    def project(name: str) -> Generated:
        if name not in projects:
            path = tmp_path_factory.mktemp(name) / "project"
            result = copier_copy(path, ANSWER_SETS[name])
            projects[name] = Generated(path, generated_files(path), result.stdout + result.stderr)
        return projects[name]

    return project


@pytest.fixture(scope="session")
def generated(copied: Callable[[str], Generated]) -> Callable[[str], Generated]:
    """The copied project, set up on first use. The default one is set up as on a fresh
    machine, with no uv on PATH: make setup installs its own."""
    ready: set[str] = set()

    def project(name: str) -> Generated:
        if name not in ready:
            env = fresh_machine_env() if name == "defaults" else tool_env()
            run(["make", "setup"], copied(name).path, env=env)
            ready.add(name)
        return copied(name)

    return project


@pytest.fixture(scope="session")
def default_project(generated: Callable[[str], Generated]) -> Path:
    """The project of the default answers, set up."""
    return generated("defaults").path

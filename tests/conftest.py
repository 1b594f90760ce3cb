"""Fixtures shared by the template's tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.serving import generate_project


@pytest.fixture(scope="session")
def default_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One project generated with every default answer, its .venv synced."""
    return generate_project(tmp_path_factory.mktemp("default") / "my-mcp-server")

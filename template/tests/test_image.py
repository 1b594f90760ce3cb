"""The Dockerfile, checked without a Docker engine.

hadolint lints it. Then the build stage's install steps are replayed into a temporary
directory, with the same uv commands, flags and environment and /app mapped to that
directory; the server starts from there with the final stage's CMD and environment, and
an MCP client lists its tools.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx2
import pytest
from mcp.client import Client

from infra.token_authorizer import AUTHORIZER_COMMAND
from ops.local_issuer import AUDIENCE, SCOPE, Issuer
from tests.support import RunningServer, serve_process

PROJECT = Path(__file__).resolve().parent.parent
DOCKERFILE = PROJECT / "Dockerfile"
IMAGE_ROOT = "/app"


@dataclass
class Stage:
    env: dict[str, str] = field(default_factory=dict)
    copied: list[str] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)


def parse_stages(dockerfile: str) -> dict[str, Stage]:
    """The instructions this Dockerfile uses, by stage name; the unnamed last stage is "final"."""
    stages: dict[str, Stage] = {}
    stage = Stage()
    for line in dockerfile.replace("\\\n", " ").splitlines():
        instruction, _, args = line.strip().partition(" ")
        if instruction == "FROM":
            words = args.split()
            stage = stages.setdefault(words[-1] if "AS" in words else "final", Stage())
        elif instruction == "ENV":
            stage.env.update(pair.split("=", 1) for pair in shlex.split(args))
        elif instruction == "COPY" and not args.startswith("--from"):
            stage.copied.extend(shlex.split(args)[:-1])
        elif instruction == "RUN":
            stage.runs.append(args)
        elif instruction == "CMD":
            stage.cmd = json.loads(args)
    return stages


STAGES = parse_stages(DOCKERFILE.read_text(encoding="utf-8"))


def in_image(value: str, root: Path) -> str:
    """An image path or variable, as it is in the replay: /app is `root`, $PATH the host's."""
    return value.replace(IMAGE_ROOT, str(root)).replace("$PATH", os.environ["PATH"])


@pytest.fixture(scope="module")
def replayed_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The build stage's uv steps, run for real into a temporary /app."""
    uv = shutil.which("uv")
    assert uv, "uv is not on PATH: install it (https://docs.astral.sh/uv/) and run make setup"
    assert (PROJECT / "uv.lock").is_file(), "uv.lock is missing: run make setup"
    build = STAGES["build"]
    context = tmp_path_factory.mktemp("context")
    for name in build.copied:
        copy = shutil.copytree if (PROJECT / name).is_dir() else shutil.copy2
        copy(PROJECT / name, context / name)
    app = tmp_path_factory.mktemp("image") / "app"
    # The image's Python is the base image's; here it is the one running the tests.
    env = {**os.environ, "UV_PYTHON": sys.executable}
    env.update({name: in_image(value, app) for name, value in build.env.items()})
    for command in build.runs:
        args = shlex.split(command)
        assert args[0] == "uv", f"the replay only knows uv steps, not: {command}"
        subprocess.run([uv, *args[1:]], cwd=context, env=env, check=True, capture_output=True)
    return app


def test_hadolint_reports_nothing() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run([hadolint, DOCKERFILE], capture_output=True, text=True)

    assert result.returncode == 0, result.stdout + result.stderr


def test_image_holds_runtime_dependencies_only(replayed_image: Path) -> None:
    site_packages = next(replayed_image.glob("lib/python*/site-packages"))
    installed = {path.name.split("-")[0].lower() for path in site_packages.glob("*.dist-info")}

    assert {"mcp", "uvicorn"} <= installed
    assert not installed & {"pytest", "ruff", "aws_cdk_lib", "cdk_nag", "moto", "cfn_lint"}


def test_image_has_compiled_bytecode(replayed_image: Path) -> None:
    package = STAGES["final"].cmd[-1]
    site_packages = next(replayed_image.glob("lib/python*/site-packages"))

    assert list((site_packages / package / "__pycache__").glob("app.*.pyc"))
    assert list((site_packages / "mcp" / "server" / "__pycache__").glob("*.pyc"))


@pytest.mark.anyio
async def test_image_cmd_serves_mcp(replayed_image: Path, tmp_path: Path) -> None:
    final = STAGES["final"]
    env = {name: in_image(value, replayed_image) for name, value in final.env.items()}
    env["HOME"] = str(tmp_path)

    with serve_process(final.cmd, env, tmp_path / "stdout.log") as server:
        await list_tools_over_http(server)


@pytest.mark.anyio
async def test_image_starts_the_token_authorizer(
    replayed_image: Path, tmp_path: Path, issuer: Issuer
) -> None:
    """The stack starts the REST API's token authorizer from this image with its own command."""
    env = {name: in_image(value, replayed_image) for name, value in STAGES["final"].env.items()}
    env.update(
        HOME=str(tmp_path),
        AUTH_PROVIDER="oidc",
        AUTH_ISSUER=issuer.url,
        AUTH_AUDIENCE=AUDIENCE,
        AUTH_REQUIRED_SCOPES=SCOPE,
        AUTH_JWKS_URL=issuer.jwks_url,
        MCP_RESOURCE_URL="https://abc123.execute-api.eu-west-1.amazonaws.com/prod/mcp",
    )
    event = {"type": "TOKEN", "methodArn": "arn:aws:execute-api:eu-west-1:1:abc/prod/POST/mcp"}

    with serve_process(AUTHORIZER_COMMAND, env, tmp_path / "stdout.log") as server:
        async with httpx2.AsyncClient(base_url=server.url) as client:
            answer = await client.post(
                "/events", json={**event, "authorizationToken": f"Bearer {issuer.token()}"}
            )

    assert answer.json()["policyDocument"]["Statement"][0]["Effect"] == "Allow"


async def list_tools_over_http(server: RunningServer) -> None:
    async with Client(server.mcp_url) as client:
        listed = await client.list_tools()
    assert listed.tools, "the image's server lists no tools"

"""The Lambda image's request path on loopback: a generated server behind the real Lambda Web
Adapter (built with cargo, the version the Dockerfile pins), invoked through cargo-lambda's
runtime emulator as API Gateway invokes the function."""

from __future__ import annotations

import fcntl
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from scripts.serving import TEMPLATE_ROOT, TOOLS_BIN, support

ADAPTER_VERSION = re.search(
    r"aws-lambda-adapter:([\w.-]+)@", (TEMPLATE_ROOT / "includes" / "versions.jinja").read_text()
)[1]
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mcp-lambda-template"
ADAPTER = CACHE / f"lambda-adapter-{ADAPTER_VERSION}" / "bin" / "lambda-adapter"
# What Lambda sets in every function's environment; the adapter's runtime client needs them.
LAMBDA_ENV = {
    "AWS_LAMBDA_FUNCTION_NAME": "mcp",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
    "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/mcp",
    "AWS_LAMBDA_LOG_STREAM_NAME": "local",
    "AWS_REGION": "eu-west-1",
}
# Headers that describe one hop of a connection, not the message: never forwarded.
# Ends the prelude of a streamed response (the status and headers API Gateway answers with).
SEPARATOR = b"\0" * 8
HOP_BY_HOP = {"connection", "content-length", "host", "keep-alive", "transfer-encoding"}


def lambda_adapter() -> Path:
    """The adapter binary: `cargo install` builds it once per version into the user's cache
    (a few minutes), and a lock keeps parallel test workers from building it twice."""
    if not ADAPTER.exists() and not shutil.which("cargo"):
        raise RuntimeError("cargo not found: install Rust (rustup.rs) to build the adapter")
    ADAPTER.parent.parent.mkdir(parents=True, exist_ok=True)
    with (ADAPTER.parent.parent / "install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not ADAPTER.exists():
            subprocess.run(
                ["cargo", "install", "--quiet", "--locked", "lambda_web_adapter",
                 "--version", ADAPTER_VERSION, "--root", str(ADAPTER.parent.parent)],
                check=True,
            )  # fmt: skip
    return ADAPTER


def image_start(project: Path) -> tuple[dict[str, str], list[str]]:
    """The environment and command the image starts with: its final stage's ENV and CMD, with
    the project's .venv where the image has /app (its virtualenv)."""
    final = (project / "Dockerfile").read_text().replace("\\\n", " ").split("\nFROM ")[-1]
    env, command = {}, []
    for instruction, _, args in (line.partition(" ") for line in final.splitlines()):
        if instruction == "ENV":
            env.update(pair.split("=", 1) for pair in shlex.split(args))
        elif instruction == "CMD":
            command = json.loads(args)
    venv = str(project / ".venv")
    return {
        k: v.replace("/app", venv).replace("$PATH", os.environ["PATH"]) for k, v in env.items()
    }, command


def runtime_api(emulator: str, timeout_seconds: float) -> Starlette:
    """The runtime API as Lambda serves it, in front of the emulator's: at the root path (the
    emulator's is under /.rt, which the adapter's extension client cannot reach), and with a
    real deadline on each invocation (the emulator sends a constant 600000 ms since 1970)."""
    client = httpx2.AsyncClient(timeout=None)

    async def forward(request: Request) -> Response:
        url = f"{emulator}/.rt{request.url.path}"
        headers = {k: v for k, v in request.headers.items() if k not in HOP_BY_HOP}
        if request.headers.get("lambda-runtime-function-response-mode") == "streaming":
            body = prelude_apart(request.stream())
        else:  # Whole: a stream goes out chunked, and the emulator answers a GET /next without
            # reading the chunked body's end, then resets the connection, cutting a big event.
            body = await request.body()
        upstream = await client.request(request.method, url, headers=headers, content=body)
        answer = {k: v for k, v in upstream.headers.items() if k not in HOP_BY_HOP}
        if "lambda-runtime-deadline-ms" in answer:
            answer["lambda-runtime-deadline-ms"] = str(int((time.time() + timeout_seconds) * 1000))
        return Response(upstream.content, upstream.status_code, answer)

    return Starlette(routes=[Route("/{path:path}", forward, methods=["GET", "POST", "PUT"])])


async def prelude_apart(body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """A streamed response, passed on as it arrives, with its prelude (status and headers, as
    JSON) and the 8 NUL bytes after it in chunks of their own, as the adapter sends them: the
    emulator reads them as the first two chunks, and a proxy may have merged them."""
    start = b""
    async for chunk in body:
        if start is None:
            yield chunk
            continue
        start += chunk
        prelude, separator, rest = start.partition(SEPARATOR)
        if separator:
            yield prelude
            yield separator
            if rest:
                yield rest
            start = None
    if start:
        yield start


@contextmanager
def serve_in_thread(app: Starlette) -> Iterator[str]:
    port = support.free_port()
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = server.force_exit = True
        thread.join(timeout=10)


@contextmanager
def process(command: list[str], env: Mapping[str, str], log: Path, cwd: Path) -> Iterator[None]:
    with log.open("wb") as output:
        running = subprocess.Popen(
            command, env=env, cwd=cwd, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        yield
    finally:
        running.terminate()
        running.wait(timeout=10)


@contextmanager
def wait_for_port(port: int, timeout: float = 30) -> Iterator[None]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    yield


@dataclass
class LambdaFunction:
    invoke_url: str  # the emulator's Invoke API: POST an event, read the (streamed) response
    function_url: str  # the emulator's function URL: plain HTTP, sent as a v2 event
    server: support.RunningServer
    env: Mapping[str, str]  # the function's own, besides Lambda's


@contextmanager
def lambda_function(
    project: Path,
    env: Mapping[str, str],
    work: Path,
    *,
    command: list[str] | None = None,
    timeout_seconds: float = 60,
) -> Iterator[LambdaFunction]:
    """Run the project's image as Lambda does: its CMD (or the function's `command`) with its
    ENV, Lambda's and the function's `env`, and the adapter (an extension) with the same
    environment, which waits for the readiness path, polls the runtime API and turns each
    invocation into an HTTP request. The logs go to `work`."""
    # The emulator reads a Cargo manifest at start, though with --only-lambda-apis it builds
    # nothing: an empty package serves.
    (work / "src").mkdir(parents=True, exist_ok=True)
    (work / "Cargo.toml").write_text('[package]\nname = "mcp"\nversion = "0.0.0"\n')
    (work / "src" / "main.rs").write_text("fn main() {}\n")
    port = support.free_port()
    emulator = [str(TOOLS_BIN / "cargo-lambda"), "lambda", "watch", "--only-lambda-apis",
                "--invoke-address", "127.0.0.1", "--invoke-port", str(port)]  # fmt: skip
    image_env, cmd = image_start(project)
    function_env = {**image_env, **LAMBDA_ENV, "HOME": str(work), **env}
    with (
        process(emulator, os.environ, work / "emulator.log", work),
        wait_for_port(port),
        serve_in_thread(runtime_api(f"http://127.0.0.1:{port}", timeout_seconds)) as api,
        # On a free port (PORT), and on loopback only (HOST).
        support.serve_process(command or cmd, function_env, work / "server.log") as server,
        process(
            [str(lambda_adapter())],
            {**function_env, "AWS_LAMBDA_RUNTIME_API": api, "PORT": server.url.rsplit(":", 1)[1]},
            work / "adapter.log",
            work,
        ),
    ):
        yield LambdaFunction(
            invoke_url=f"http://127.0.0.1:{port}/2015-03-31/functions/_/invocations",
            function_url=f"http://127.0.0.1:{port}/lambda-url/_",
            server=server,
            env=env,
        )


if __name__ == "__main__":  # make setup: build the adapter before the tests need it
    print(lambda_adapter())

"""Plain helpers with no project names in them (the template's own tests use them too):
MCP requests, and the server as a real process on a free loopback port."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

STARTUP_TIMEOUT_SECONDS = 60
JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


def initialize(version: str = "2025-11-25") -> dict[str, object]:
    """The JSON-RPC `initialize` request of the handshake, as clients send it."""
    client = {"capabilities": {}, "clientInfo": {"name": "test", "version": "1.0"}}
    params = {"protocolVersion": version, **client}
    return {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": params}


@dataclass
class RunningServer:
    url: str
    log_path: Path

    @property
    def mcp_url(self) -> str:
        return f"{self.url}/mcp"

    def log_lines(self) -> list[str]:
        return self.log_path.read_text(encoding="utf-8").splitlines()


@contextmanager
def serve_process(
    command: list[str], env: Mapping[str, str], log_path: Path
) -> Iterator[RunningServer]:
    """Start the server command on a free loopback port; stop it and all it started afterwards
    (`make dev` runs uv, which runs the server and its reloader)."""
    port = free_port()
    env = {**env, "HOST": "127.0.0.1", "PORT": str(port)}
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            command, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = RunningServer(url=f"http://127.0.0.1:{port}", log_path=log_path)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not is_healthy(server.url):
            if process.poll() is not None or time.monotonic() > deadline:
                status = f"exited with {process.returncode}" if process.returncode else "too slow"
                pytest.fail(f"server not healthy ({status}):\n{log_path.read_text()}")
            time.sleep(0.05)
        yield server
    finally:
        # The group may be gone already (the server exited): its log says why, not this.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def is_healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False

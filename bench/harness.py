"""What both benchmarks share: the servers under test, how to start one, interleaved rounds."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from scripts.serving import TEMPLATE_ROOT, answers_of, generate_project, support, tool_env

BASELINE_SCRIPT = Path(__file__).with_name("baseline_server.py")
STREAMED_ENV = {"AWS_LWA_INVOKE_MODE": "response_stream"}
Sample = TypeVar("Sample")


@dataclass(frozen=True)
class Server:
    """One kind of server: a project's own (`python -m <package>`), or with `baseline_options`
    bench/baseline_server.py serving that project's tools, from the project's interpreter."""

    kind: str
    project: Path
    env: Mapping[str, str] = field(default_factory=dict)
    baseline_options: tuple[str, ...] | None = None

    def command(self, port: int) -> tuple[list[str], dict[str, str]]:
        python = str(self.project / ".venv" / "bin" / "python")
        package = answers_of(self.project)["package_name"]
        if self.baseline_options is not None:
            script = [str(BASELINE_SCRIPT), str(port), package, *self.baseline_options]
            return [python, *script], tool_env()
        own = {"HOST": "127.0.0.1", "PORT": str(port), "MCP_AUTH_DISABLED": "1", **self.env}
        return [python, "-m", package], tool_env(own)


def add_arguments(parser: argparse.ArgumentParser, rounds: int) -> None:
    parser.add_argument("--rounds", type=int, default=rounds, help="timed rounds of each server")
    parser.add_argument("--project", type=Path, help="a generated project (default: make one)")
    parser.add_argument("--before", type=Path, help="another generated project to compare")
    parser.add_argument(
        "--streamed",
        action="store_true",
        help="also the project with AWS_LWA_INVOKE_MODE=response_stream (SSE answers)",
    )


def servers(options: argparse.Namespace, baseline_options: tuple[str, ...]) -> list[Server]:
    """The kinds to compare, the baseline last: the ratios are to it."""
    project = options.project or generate_project(TEMPLATE_ROOT / "build" / "bench")
    found = [Server("generated", project)]
    if options.streamed:
        found.append(Server("streamed", project, env=STREAMED_ENV))
    if options.before:
        found.append(Server("before", options.before))
    return [*found, Server("baseline", project, baseline_options=baseline_options)]


@contextmanager
def running(server: Server) -> Iterator[str]:
    """Start the server on a free loopback port; yield its /mcp URL once the port is open."""
    port = support.free_port()
    command, env = server.command(port)
    process = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.05).close()
            return
        except OSError:
            time.sleep(0.002)
    raise RuntimeError(f"port {port} not open after {timeout} s")


def interleaved(
    kinds: list[Server], rounds: int, measure: Callable[[Server], Sample]
) -> dict[str, list[Sample]]:
    """Measure each kind once per round, in turns, so drift on the machine hits all alike."""
    samples: dict[str, list[Sample]] = {server.kind: [] for server in kinds}
    for _ in range(rounds):
        for server in kinds:
            samples[server.kind].append(measure(server))
    return samples


def median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    """The median of each metric over the rounds."""
    return {metric: statistics.median(run[metric] for run in runs) for metric in runs[0]}


def print_ratios(medians: Mapping[str, Mapping[str, float]]) -> None:
    """Each kind's median metrics over the baseline's (the last kind)."""
    *others, baseline = medians
    for kind in others:
        ratios = (
            f"{metric} {value / medians[baseline][metric]:.2f}"
            for metric, value in medians[kind].items()
        )
        print(f"  ratio {kind}/{baseline}: {', '.join(ratios)}")

"""What both benchmarks share: the servers under test, how to start one, interleaved rounds."""

from __future__ import annotations

import argparse
import itertools
import os
import re
import signal
import socket
import statistics
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from scripts.serving import TEMPLATE_ROOT, answers_of, generate_project, support, tool_env

BUILD = TEMPLATE_ROOT / "build" / "bench"
BASELINE_SCRIPT = Path(__file__).with_name("baseline_server.py")
STREAMED_ENV = {"AWS_LWA_INVOKE_MODE": "response_stream"}
Sample = TypeVar("Sample")


@dataclass(frozen=True)
class Server:
    """One kind of server, `python *args` with the server's settings in its environment: a
    project's own (`-m <package>`), or bench/baseline_server.py serving that project's tools."""

    kind: str
    python: Path
    args: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)

    def command(self) -> list[str]:
        return [str(self.python), *self.args]

    def environment(self, **extra: str) -> dict[str, str]:
        return tool_env({"HOST": "127.0.0.1", "MCP_AUTH_DISABLED": "1", **self.env, **extra})


# A project's interpreter and the environment it needs, for a kind's name: its .venv by
# default, or an install built as an image builds it (bench/installs.py).
Install = Callable[[Path, str], tuple[Path, Mapping[str, str]]]


def project_venv(project: Path, kind: str) -> tuple[Path, Mapping[str, str]]:
    return project / ".venv" / "bin" / "python", {}


def add_arguments(parser: argparse.ArgumentParser, rounds: int) -> None:
    parser.add_argument("--rounds", type=int, default=rounds, help="timed rounds of each server")
    parser.add_argument("--project", type=Path, help="a generated project (default: make one)")
    parser.add_argument("--before", type=Path, help="another generated project to compare")
    parser.add_argument(
        "--streamed",
        action="store_true",
        help="also the project with AWS_LWA_INVOKE_MODE=response_stream (SSE answers)",
    )


def servers(
    options: argparse.Namespace,
    baselines: Callable[[Path], list[Server]],
    install: Install = project_venv,
) -> list[Server]:
    """The kinds to compare, the project's own first, then the baselines made for the project."""
    project = (options.project or generate_project(BUILD / "project")).absolute()
    package = answers_of(project)["package_name"]
    python, env = install(project, "generated")
    found = [Server("generated", python, ("-m", package), env)]
    if options.streamed:
        found.append(Server("streamed", python, ("-m", package), {**env, **STREAMED_ENV}))
    if options.before:
        python, env = install(options.before.absolute(), "before")
        package = answers_of(options.before)["package_name"]
        found.append(Server("before", python, ("-m", package), env))
    return [*found, *baselines(project)]


def baseline(project: Path, *options: str) -> Server:
    """bench/baseline_server.py serving the project's tools from the project's interpreter."""
    package = answers_of(project)["package_name"]
    python, _ = project_venv(project, "baseline")
    return Server("baseline", python, (str(BASELINE_SCRIPT), package, *options))


@dataclass(frozen=True)
class Running:
    url: str
    pid: int

    def memory_mb(self, line: str = "VmHWM") -> float:
        return memory_mb(Path(f"/proc/{self.pid}/status").read_text(), line)

    def cpu_seconds(self) -> float:
        """CPU time the server has used, user and system (/proc/<pid>/stat, after its name)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_mb(proc_status: str, line: str = "VmHWM") -> float:
    """A line of /proc/<pid>/status in MB as Lambda counts them (MiB): by default the peak
    resident memory so far (VmHWM), or the resident memory now (VmRSS)."""
    return int(re.search(rf"{line}:\s+(\d+) kB", proc_status)[1]) / 1024


@contextmanager
def running(server: Server, port: int | None = None) -> Iterator[Running]:
    """Start the server on a loopback port (a free one by default); yield its /mcp URL once
    the port is open."""
    port = port or support.free_port()
    process = subprocess.Popen(
        server.command(),
        env=server.environment(PORT=str(port)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for_port(port, process)
        yield Running(f"http://127.0.0.1:{port}/mcp", process.pid)
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


def print_ratios(
    medians: Mapping[str, Mapping[str, float]], ours: Iterable[str], baselines: Iterable[str]
) -> None:
    """Each of our kinds' median metrics over each baseline's."""
    for kind, baseline in itertools.product(ours, baselines):
        ratios = (
            f"{metric} {value / medians[baseline][metric]:.2f}"
            for metric, value in medians[kind].items()
        )
        print(f"  ratio {kind}/{baseline}: {', '.join(ratios)}")

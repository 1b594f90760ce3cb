"""Cold start: time from process start to the first answered tools/list.

Runs the generated server (`python -m <package>`) and a baseline (the same tools on an
MCPServer with SDK defaults, bench/baseline_server.py) from the same interpreter, in
turns, and prints the medians and their ratio. The client does what an MCP client does
first: the initialize handshake, then tools/list.

    python -m bench.cold_start [--rounds N] [--project DIR]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import time
from pathlib import Path

import anyio
from mcp.client import Client

from scripts.serving import TEMPLATE_ROOT, answers_of, generate_project, support, tool_env

BASELINE_SCRIPT = Path(__file__).with_name("baseline_server.py")


def server_command(kind: str, project: Path, port: int) -> tuple[list[str], dict[str, str]]:
    python = str(project / ".venv" / "bin" / "python")
    package = answers_of(project)["package_name"]
    if kind == "generated":
        return [python, "-m", package], tool_env(
            {"HOST": "127.0.0.1", "PORT": str(port), "MCP_AUTH_DISABLED": "1"}
        )
    return [python, str(BASELINE_SCRIPT), str(port), package], tool_env()


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


async def first_tools_list(url: str) -> int:
    async with Client(url, mode="legacy") as client:
        return len((await client.list_tools()).tools)


def time_to_first_tools_list(kind: str, project: Path) -> float:
    port = support.free_port()
    command, env = server_command(kind, project, port)
    started = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for_port(port, process)
        tools = anyio.run(first_tools_list, f"http://127.0.0.1:{port}/mcp")
        elapsed = time.perf_counter() - started
    finally:
        process.terminate()
        process.wait(timeout=10)
    if tools < 1:
        raise RuntimeError(f"{kind} server listed no tools")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="timed runs of each server")
    parser.add_argument("--project", type=Path, help="a generated project (default: make one)")
    options = parser.parse_args()

    project = options.project or generate_project(TEMPLATE_ROOT / "build" / "bench")
    kinds = ("generated", "baseline")
    for kind in kinds:  # one untimed run each, so both start with compiled bytecode
        time_to_first_tools_list(kind, project)
    samples: dict[str, list[float]] = {kind: [] for kind in kinds}
    for _ in range(options.rounds):
        for kind in kinds:
            samples[kind].append(time_to_first_tools_list(kind, project))

    print(f"process start -> first tools/list answered ({options.rounds} rounds, median)")
    for kind in kinds:
        runs = samples[kind]
        print(
            f"  {kind:<10} {statistics.median(runs) * 1000:7.0f} ms"
            f"   (min {min(runs) * 1000:.0f}, max {max(runs) * 1000:.0f})"
        )
    ratio = statistics.median(samples["generated"]) / statistics.median(samples["baseline"])
    print(f"  ratio generated/baseline: {ratio:.2f}")


if __name__ == "__main__":
    main()

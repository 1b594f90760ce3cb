"""Cold start as Lambda pays it: time from process start to the first answered tools/list, and
the server's peak memory by then.

Every kind serves the same generated project's tools from an install built as its image would
build it (bench/installs.py), with Python forbidden to write bytecode:
  generated    the generated Dockerfile's recipe, bytecode compiled at build time
  naive uv     `uv sync` without compiled bytecode
  pip recipe   the AWS Lambda Web Adapter examples' `pip install -r requirements.txt`
  SDK import   not a server: the floor every such server pays, importing the SDK's server
               and uvicorn, from the generated install
Kinds run in turns; medians and ratios are printed. The client does what an MCP client does
first: the initialize handshake, then tools/list.

    python -m bench.cold_start [--rounds N] [--project DIR] [--before DIR] [--streamed]
"""

from __future__ import annotations

import argparse
import subprocess
import time
from pathlib import Path

import anyio
from mcp.client import Client

from bench import installs
from bench.harness import (
    Server,
    add_arguments,
    interleaved,
    median_of,
    memory_mb,
    print_ratios,
    running,
    servers,
)
from scripts.serving import answers_of

BASELINES = ("naive uv", "pip recipe")
FLOOR = "SDK import"
FLOOR_CODE = "import uvicorn, mcp.server.mcpserver"


async def first_tools_list(url: str) -> int:
    async with Client(url, mode="legacy") as client:
        return len((await client.list_tools()).tools)


def cold_start(server: Server) -> dict[str, float]:
    started = time.perf_counter()
    with running(server) as live:
        tools = anyio.run(first_tools_list, live.url)
        elapsed = time.perf_counter() - started
        peak_mb = live.memory_mb()
    if tools < 1:
        raise RuntimeError(f"{server.kind} server listed no tools")
    return {"ms": elapsed * 1000, "peak MB": peak_mb}


def import_floor(program: Server) -> dict[str, float]:
    """Time until the imports are done, not until exit: a server never tears its modules down."""
    started = time.perf_counter()
    code = f"{FLOOR_CODE}; print(open('/proc/self/status').read(), flush=True)"
    process = subprocess.Popen(
        [str(program.python), "-c", code], env=program.environment(), stdout=subprocess.PIPE
    )
    # One read: the status (under the pipe's atomic 4 KiB) arrives in one piece once printed.
    status = process.stdout.read1().decode()
    elapsed = time.perf_counter() - started
    if process.wait() != 0:
        raise RuntimeError(f"{FLOOR} failed with {process.returncode}")
    return {"ms": elapsed * 1000, "peak MB": memory_mb(status)}


def baselines(project: Path) -> list[Server]:
    found = []
    for kind, install in zip(BASELINES, (installs.naive_uv, installs.pip_recipe), strict=True):
        python, env = install(project)
        found.append(Server(kind, python, ("-m", answers_of(project)["package_name"]), env))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser, rounds=7)
    options = parser.parse_args()

    kinds = servers(options, baselines, install=installs.generated)
    generated = kinds[0]
    kinds.append(Server(FLOOR, generated.python, (), generated.env))

    def measure(server: Server) -> dict[str, float]:
        return import_floor(server) if server.kind == FLOOR else cold_start(server)

    for server in kinds:  # one untimed run each, so all start with their files in the page cache
        measure(server)
    samples = interleaved(kinds, options.rounds, measure)

    medians = {kind: median_of(runs) for kind, runs in samples.items()}
    print(
        "process start -> first tools/list answered, installs built as images build them,"
        f" no bytecode written at run time ({options.rounds} rounds, median)"
    )
    for kind, runs in samples.items():
        times = [run["ms"] for run in runs]
        print(
            f"  {kind:<11} {medians[kind]['ms']:6.0f} ms (min {min(times):4.0f}, max"
            f" {max(times):4.0f})  peak {medians[kind]['peak MB']:4.0f} MB"
        )
    print(f"  ({FLOOR} is `python -c '{FLOOR_CODE}'`, which every such server pays)")
    share = medians["generated"]["ms"] - medians[FLOOR]["ms"]
    print(
        f"  generated - {FLOOR} = {share:.0f} ms: the template's imports, app, server start and first answers"
    )
    ours = [kind for kind in medians if kind not in (*BASELINES, FLOOR)]
    print_ratios(medians, ours, BASELINES)


if __name__ == "__main__":
    main()

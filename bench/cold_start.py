"""Cold start: time from process start to the first answered tools/list.

Runs the generated server (`python -m <package>`) and a baseline (the same tools on an
MCPServer with SDK defaults, bench/baseline_server.py) from the same interpreter, in
turns, and prints the medians and their ratio. The client does what an MCP client does
first: the initialize handshake, then tools/list.

    python -m bench.cold_start [--rounds N] [--project DIR] [--before DIR] [--streamed]
"""

from __future__ import annotations

import argparse
import statistics
import time

import anyio
from mcp.client import Client

from bench.harness import Server, add_arguments, interleaved, print_ratios, running, servers


async def first_tools_list(url: str) -> int:
    async with Client(url, mode="legacy") as client:
        return len((await client.list_tools()).tools)


def time_to_first_tools_list(server: Server) -> float:
    started = time.perf_counter()
    with running(server) as url:
        tools = anyio.run(first_tools_list, url)
        elapsed = time.perf_counter() - started
    if tools < 1:
        raise RuntimeError(f"{server.kind} server listed no tools")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser, rounds=7)
    options = parser.parse_args()

    kinds = servers(options, baseline_options=())
    for server in kinds:  # one untimed run each, so all start with compiled bytecode
        time_to_first_tools_list(server)
    samples = interleaved(kinds, options.rounds, time_to_first_tools_list)

    print(f"process start -> first tools/list answered ({options.rounds} rounds, median)")
    for kind, runs in samples.items():
        print(
            f"  {kind:<10} {statistics.median(runs) * 1000:7.0f} ms"
            f"   (min {min(runs) * 1000:.0f}, max {max(runs) * 1000:.0f})"
        )
    print_ratios({kind: {"time": statistics.median(runs)} for kind, runs in samples.items()})


if __name__ == "__main__":
    main()

"""Warm requests: tools/call per second and its latency on servers already started and warmed.

Starts each server once, then, in turns, times a cheap tools/call (convert_units) sent one
after another and from concurrent clients over keep-alive connections, as an MCP client sends
it in stateless JSON mode. Every answer's result is checked. The baseline is the same tools on
the SDK's own stateless JSON app (bench/baseline_server.py --stateless-json).

    python -m bench.warm_requests [--rounds N] [--requests N] [--clients N]
                                  [--project DIR] [--before DIR] [--streamed]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from contextlib import ExitStack

import anyio
import httpx2

from bench.harness import (
    add_arguments,
    baseline,
    interleaved,
    median_of,
    print_ratios,
    running,
    servers,
)

HEADERS = {
    "Content-Type": "application/json",
    "Accept": "application/json, text/event-stream",
    "MCP-Protocol-Version": "2025-11-25",
}
ARGUMENTS = {"value": 3, "from_unit": "km", "to_unit": "m"}
EXPECTED_RESULT = 3000.0
BODY = json.dumps(
    {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "convert_units", "arguments": ARGUMENTS},
    }
)
WARM_UP_REQUESTS = 50


def tool_result(response: httpx2.Response) -> float:
    """The conversion's result from a JSON answer, or from the last event of a streamed one."""
    if response.headers["content-type"].startswith("text/event-stream"):
        events = [line[5:] for line in response.text.splitlines() if line.startswith("data:")]
        message = json.loads(events[-1])
    else:
        message = response.json()
    return message["result"]["structuredContent"]["result"]


async def call_tool(client: httpx2.AsyncClient, url: str, latencies: list[float]) -> None:
    started = time.perf_counter()
    response = await client.post(url, content=BODY, headers=HEADERS)
    latencies.append(time.perf_counter() - started)
    if response.status_code != 200 or tool_result(response) != EXPECTED_RESULT:
        raise RuntimeError(f"{url} answered {response.status_code}: {response.text[:300]}")


async def calls(url: str, requests: int, clients: int) -> dict[str, float]:
    """Requests per second and latency percentiles of `requests` calls from `clients` tasks."""
    latencies: list[float] = []

    async def client_task(client: httpx2.AsyncClient, count: int) -> None:
        for _ in range(count):
            await call_tool(client, url, latencies)

    limits = httpx2.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx2.AsyncClient(limits=limits, timeout=30) as client:
        # Untimed: open every keep-alive connection and let the server settle.
        async with anyio.create_task_group() as group:
            for _ in range(clients):
                group.start_soon(client_task, client, WARM_UP_REQUESTS // clients + 1)
        latencies.clear()
        started = time.perf_counter()
        async with anyio.create_task_group() as group:
            for _ in range(clients):
                group.start_soon(client_task, client, requests // clients)
        elapsed = time.perf_counter() - started
    percentiles = statistics.quantiles(latencies, n=100)
    return {
        "req/s": len(latencies) / elapsed,
        "p50 ms": percentiles[49] * 1000,
        "p99 ms": percentiles[98] * 1000,
    }


def measure(url: str, requests: int, clients: int) -> dict[str, float]:
    sequential = anyio.run(calls, url, requests, 1)
    concurrent = anyio.run(calls, url, requests, clients)
    return {
        **sequential,
        **{f"{clients}x {metric}": value for metric, value in concurrent.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser, rounds=7)
    parser.add_argument("--requests", type=int, default=1000, help="timed calls per measurement")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients")
    options = parser.parse_args()

    kinds = servers(options, lambda project: [baseline(project, "--stateless-json")])
    with ExitStack() as stack:
        urls = {server.kind: stack.enter_context(running(server)).url for server in kinds}
        samples = interleaved(
            kinds,
            options.rounds,
            lambda server: measure(urls[server.kind], options.requests, options.clients),
        )

    medians = {kind: median_of(runs) for kind, runs in samples.items()}
    print(
        f"tools/call convert_units, warm, keep-alive: {options.requests} calls one after another,"
        f" then from {options.clients} clients ({options.rounds} rounds, median)"
    )
    metrics = list(medians["baseline"])
    print(f"  {'':<10}" + "".join(f"{metric:>12}" for metric in metrics))
    for kind, values in medians.items():
        print(f"  {kind:<10}" + "".join(f"{values[metric]:>12.2f}" for metric in metrics))
    print_ratios(medians, [kind for kind in medians if kind != "baseline"], ["baseline"])


if __name__ == "__main__":
    main()

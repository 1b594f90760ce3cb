"""Soak: many clients calling a tool for a minute, against the generated server as `make dev`
runs it (auth on, request logs on) and the SDK's own stateless JSON app, in the same run.

The generated server checks a token from the local issuer `make dev` starts (ops/dev.py, here
in a process of its own: bench/dev_services.py); the token is the one `make token` prints.
The baseline is the same tools on the SDK's bare app, no auth (bench/baseline_server.py
--stateless-json). Both serve from the project's .venv, and take turns under load, so drift on
the machine hits both alike. Reported per server: tools/call answered per second, p50 and p99
latency, errors (a transport error, an HTTP status other than 200 or a wrong result), the
server's resident memory after warm-up and at the end, and its CPU time per request.

    python -m bench.soak [--seconds N] [--turns N] [--clients N] [--project DIR]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import httpx2

from bench.harness import BUILD, Running, Server, baseline, interleaved, running
from bench.warm_requests import BODY, EXPECTED_RESULT, HEADERS, tool_result
from scripts.serving import answers_of, generate_project, run, support, tool_env

DEV_SERVICES = Path(__file__).with_name("dev_services.py")
WARM_UP_SECONDS = 2.0


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)  # of the right answers
    errors: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0  # under load
    server_cpu: float = 0.0
    client_cpu: float = 0.0


@dataclass
class Target:
    server: Server
    live: Running
    headers: dict[str, str]
    tally: Tally = field(default_factory=Tally)
    rss_start_mb: float = 0.0


def error_of(response: httpx2.Response) -> str | None:
    if response.status_code != 200:
        return f"HTTP {response.status_code}"
    try:
        return None if tool_result(response) == EXPECTED_RESULT else "wrong result"
    except (KeyError, ValueError):
        return "wrong result"


async def load(target: Target, tally: Tally, clients: int, seconds: float) -> None:
    """`clients` tasks, each on its own keep-alive connection, call the tool one call after
    another until `seconds` have passed."""
    deadline = time.perf_counter() + seconds

    async def client_task(client: httpx2.AsyncClient) -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                response = await client.post(target.live.url, content=BODY, headers=target.headers)
            except httpx2.HTTPError as error:
                tally.errors[type(error).__name__] += 1
                continue
            if error := error_of(response):
                tally.errors[error] += 1
            else:
                tally.latencies.append(time.perf_counter() - started)

    limits = httpx2.Limits(max_connections=clients, max_keepalive_connections=clients)
    server_cpu, client_cpu = target.live.cpu_seconds(), time.process_time()
    started = time.perf_counter()
    async with (
        httpx2.AsyncClient(limits=limits, timeout=30) as client,
        anyio.create_task_group() as group,
    ):
        for _ in range(clients):
            group.start_soon(client_task, client)
    tally.seconds += time.perf_counter() - started
    tally.server_cpu += target.live.cpu_seconds() - server_cpu
    tally.client_cpu += time.process_time() - client_cpu


def turn(target: Target, clients: int, seconds: float) -> float:
    """One turn under load; its requests per second."""
    answered = len(target.tally.latencies)
    elapsed = target.tally.seconds
    anyio.run(load, target, target.tally, clients, seconds)
    return (len(target.tally.latencies) - answered) / (target.tally.seconds - elapsed)


@contextmanager
def with_auth(project: Path) -> Iterator[Target]:
    """The generated server with the environment `make dev` gives it, and a token it accepts."""
    python = project / ".venv" / "bin" / "python"
    port = support.free_port()
    env = tool_env({"PORT": str(port), "PYTHONPATH": str(project)})
    services = subprocess.Popen(
        [str(python), str(DEV_SERVICES)],
        cwd=project,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        handed_over = services.stdout.readline()
        if not handed_over:
            raise RuntimeError(f"{DEV_SERVICES.name} exited with {services.wait()}")
        # The harness switches auth off unless told otherwise.
        dev_env = {**json.loads(handed_over), "MCP_AUTH_DISABLED": "false"}
        package = answers_of(project)["package_name"]
        server = Server("generated", python, ("-m", package), dev_env)
        with running(server, port) as live:
            token = run([str(python), "-m", "ops.dev", "--token", str(port)], cwd=project)
            headers = {**HEADERS, "Authorization": f"Bearer {token.stdout.strip()}"}
            yield Target(server, live, headers)
    finally:
        services.stdin.close()
        services.wait(timeout=10)


def summary(target: Target) -> dict[str, float]:
    tally = target.tally
    percentiles = statistics.quantiles(tally.latencies, n=100)
    rss_end_mb = target.live.memory_mb("VmRSS")
    return {
        "req/s": len(tally.latencies) / tally.seconds,
        "p50 ms": percentiles[49] * 1000,
        "p99 ms": percentiles[98] * 1000,
        "errors": sum(tally.errors.values()),
        "RSS MB": target.rss_start_mb,
        "end MB": rss_end_mb,
        "growth %": (rss_end_mb / target.rss_start_mb - 1) * 100,
        "CPU ms/req": tally.server_cpu / len(tally.latencies) * 1000,
        "client CPU%": tally.client_cpu / tally.seconds * 100,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60, help="under load, per server")
    parser.add_argument("--turns", type=int, default=6, help="turns the seconds are split into")
    parser.add_argument("--clients", type=int, default=64, help="concurrent clients")
    parser.add_argument("--project", type=Path, help="a generated project (default: make one)")
    options = parser.parse_args()
    project = (options.project or generate_project(BUILD / "project")).absolute()
    auth = answers_of(project)["auth"]
    if auth not in ("cognito", "oidc"):
        parser.error(f"--project {project}: auth is {auth}; use one with auth cognito or oidc")

    with ExitStack() as stack:
        generated = stack.enter_context(with_auth(project))
        bare = baseline(project, "--stateless-json")
        targets = {
            "generated": generated,
            "baseline": Target(bare, stack.enter_context(running(bare)), HEADERS),
        }
        for target in targets.values():
            warm_up = Tally()
            anyio.run(load, target, warm_up, options.clients, WARM_UP_SECONDS)
            target.tally.errors += warm_up.errors
            target.rss_start_mb = target.live.memory_mb("VmRSS")
        per_turn = interleaved(
            [target.server for target in targets.values()],
            options.turns,
            lambda server: turn(
                targets[server.kind], options.clients, options.seconds / options.turns
            ),
        )
        results = {kind: summary(target) for kind, target in targets.items()}

    print(
        f"tools/call convert_units from {options.clients} clients on keep-alive connections,"
        f" {options.seconds:.0f} s per server in {options.turns} interleaved turns, after"
        f" {WARM_UP_SECONDS:.0f} s of warm-up; generated: auth {auth}, request logs on;"
        " baseline: the SDK's stateless JSON app, no auth"
    )
    metrics = list(results["baseline"])
    print(f"  {'':<10}" + "".join(f"{metric:>12}" for metric in metrics))
    for kind, values in results.items():
        print(f"  {kind:<10}" + "".join(f"{values[metric]:>12.2f}" for metric in metrics))
    for kind, target in targets.items():
        if target.tally.errors:
            print(f"  {kind} errors: {dict(target.tally.errors)}")
    ratio = results["generated"]["req/s"] / results["baseline"]["req/s"]
    cpu = results["generated"]["CPU ms/req"] / results["baseline"]["CPU ms/req"]
    turns = zip(per_turn["generated"], per_turn["baseline"], strict=True)
    print(
        f"  ratio generated/baseline: req/s {ratio:.2f} (want at least 0.95; per turn"
        f" {' '.join(f'{ours / theirs:.2f}' for ours, theirs in turns)}),"
        f" server CPU per request {cpu:.2f}"
    )


if __name__ == "__main__":
    main()

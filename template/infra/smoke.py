"""`make smoke`: a real MCP client calls the deployed server; any failure exits non-zero.

It negotiates like any client (discover, or the initialize handshake), lists the tools,
and calls the tool named in deploy.toml's [smoke] with its arguments.

    python -m infra.smoke [--url URL] [--profile PROFILE]
"""

from __future__ import annotations

import argparse
import sys

import anyio
from mcp.client import Client

from .settings import DeployConfigError, DeploySettings, SmokeSettings, load_settings


class SmokeFailure(RuntimeError):
    """The server answered, but not as a working MCP server should."""


async def smoke(url: str, check: SmokeSettings) -> None:
    async with Client(url) as client:
        print(f"connected to {url} (protocol {client.protocol_version})")
        names = [tool.name for tool in (await client.list_tools()).tools]
        print(f"tools/list: {', '.join(names) or '(none)'}")
        if not check.tool:
            return
        if check.tool not in names:
            raise SmokeFailure(
                f"[smoke] tool = {check.tool!r} is not among the server's tools; set it in "
                'deploy.toml to one of them, or to "" to only list tools'
            )
        result = await client.call_tool(check.tool, check.arguments)
        text = " ".join(getattr(block, "text", "") for block in result.content)
        if result.is_error:
            raise SmokeFailure(f"tools/call {check.tool} returned an error: {text}")
        print(f"tools/call {check.tool}: {result.structured_content or text}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m infra.smoke", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--url", help="MCP endpoint; default: the stack's McpEndpoint output")
    parser.add_argument("--profile", help="AWS profile for reading the stack outputs")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        url = args.url or _deployed_endpoint(settings, args.profile)
        anyio.run(smoke, url, settings.smoke)
    except (DeployConfigError, SmokeFailure) as error:
        sys.exit(f"smoke failed: {error}")
    except Exception as error:  # any transport or protocol failure is a failed smoke test
        cause = _innermost(error)
        sys.exit(f"smoke failed: {type(cause).__name__}: {cause}")
    print("smoke passed")


def _innermost(error: BaseException) -> BaseException:
    """The first real error inside the task groups the client runs in."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    return error


def _deployed_endpoint(settings: DeploySettings, profile: str | None) -> str:
    # boto3 is only needed here, to read the stack outputs.
    from .ops import session, stack_outputs

    return stack_outputs(settings, session(settings, profile))["McpEndpoint"]


if __name__ == "__main__":
    main()

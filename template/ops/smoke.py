"""`make smoke`: a real MCP client calls the deployed server; any failure exits non-zero.

It authenticates as deploy.toml's [auth] asks (a Cognito machine token, a token you pass
in MCP_TOKEN, or a SigV4 signature), negotiates like any client (discover, or the initialize handshake),
lists the tools, and calls the tool named in [smoke] with its arguments.

    MCP_TOKEN=... python -m ops.smoke [--url URL] [--auth none] [--profile PROFILE]
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Generator

import anyio
import httpx2
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

from infra.settings import DeployConfigError, DeploySettings, SmokeSection, load_settings

# A bearer token to send instead of fetching one.
TOKEN_VARIABLE = "MCP_TOKEN"


class SmokeFailure(RuntimeError):
    """The server answered, but not as a working MCP server should."""


class SigV4(httpx2.Auth):
    """Signs each request for API Gateway's IAM authorization (service execute-api)."""

    requires_request_body = True

    def __init__(self, credentials, region: str) -> None:
        self.credentials = credentials
        self.region = region

    def auth_flow(
        self, request: httpx2.Request
    ) -> Generator[httpx2.Request, httpx2.Response, None]:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        signable = AWSRequest(
            method=request.method,
            url=str(request.url),
            data=request.content,
            headers={
                "host": request.headers["host"],
                "content-type": request.headers.get("content-type", ""),
            },
        )
        SigV4Auth(self.credentials, "execute-api", self.region).add_auth(signable)
        for name in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token"):
            if name in signable.headers:
                request.headers[name] = signable.headers[name]
        yield request


async def smoke(url: str, check: SmokeSection, http_client: httpx2.AsyncClient) -> None:
    async with Client(streamable_http_client(url, http_client=http_client)) as client:
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


def http_client_for(settings: DeploySettings, args: argparse.Namespace) -> httpx2.AsyncClient:
    """An HTTP client that authenticates the way deploy.toml's [auth] asks."""
    provider = args.auth or settings.auth.provider
    timeout = httpx2.Timeout(30, read=120)
    # From the environment, never the command line, where make, shells and CI logs echo it;
    # and not when AUTH=none asks to send no credentials.
    if args.auth != "none" and (token := os.environ.get(TOKEN_VARIABLE)):
        return httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=timeout)
    if provider == "cognito":
        from .deployed import machine_token, session

        token = machine_token(settings, session(settings, args.profile))
        return httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=timeout)
    if provider == "oidc":
        raise SmokeFailure(
            f'with [auth] provider = "oidc", pass a token: {TOKEN_VARIABLE}=<access token> make smoke'
        )
    if provider == "iam":
        from .deployed import session

        aws = session(settings, args.profile)
        return httpx2.AsyncClient(
            auth=SigV4(aws.get_credentials(), settings.region), timeout=timeout
        )
    return httpx2.AsyncClient(timeout=timeout)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m ops.smoke", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--url", help="MCP endpoint; default: the stack's McpEndpoint output")
    parser.add_argument("--auth", choices=["none"], help="send no credentials (for a local server)")
    parser.add_argument("--profile", help="AWS profile for the stack outputs and credentials")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        url = args.url or _deployed_endpoint(settings, args.profile)
        anyio.run(_run, url, settings, args)
    except (DeployConfigError, SmokeFailure) as error:
        sys.exit(f"smoke failed: {error}")
    except Exception as error:  # any transport or protocol failure is a failed smoke test
        cause = _innermost(error)
        sys.exit(f"smoke failed: {type(cause).__name__}: {cause}")
    print("smoke passed")


async def _run(url: str, settings: DeploySettings, args: argparse.Namespace) -> None:
    async with http_client_for(settings, args) as http_client:
        await smoke(url, settings.smoke, http_client)


def _innermost(error: BaseException) -> BaseException:
    """The first real error inside the task groups the client runs in."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    return error


def _deployed_endpoint(settings: DeploySettings, profile: str | None) -> str:
    # boto3 is only needed here, to read the stack outputs.
    from .deployed import session, stack_outputs

    return stack_outputs(settings, session(settings, profile))["McpEndpoint"]


if __name__ == "__main__":
    main()

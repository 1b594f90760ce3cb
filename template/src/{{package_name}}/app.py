"""The ASGI app: MCP at /mcp, a health route, and the HTTP rules around them.

The same app runs under `make dev` and behind the Lambda Web Adapter; only
environment variables (see config.py) tell the two apart.
"""

from __future__ import annotations

import logging

from mcp.server.transport_security import TransportSecuritySettings
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from .config import Settings
from .contract import (
    CORS_ALLOW_HEADERS,
    CORS_EXPOSE_HEADERS,
    CORS_MAX_AGE_SECONDS,
    HEALTH_PATH,
    MCP_METHODS,
    MCP_PATH,
)
from .logs import RequestLogMiddleware, configure_logging
from .server import build_server

logger = logging.getLogger(__name__)

LOOPBACK_HOSTS = ["127.0.0.1:*", "localhost:*", "[::1]:*"]
LOOPBACK_ORIGINS = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]
AUTH_DISABLED_WARNING = (
    "AUTH IS OFF: MCP_AUTH_DISABLED=1 switched off the %s checks, so anyone who can reach "
    "this server can call its tools. Use it only on your own machine."
)


def create_app(settings: Settings | None = None) -> ASGIApp:
    """Build the app; uvicorn calls this as a factory (`--factory`)."""
    settings = settings or Settings.from_env()
    configure_logging(settings.log_level)
    access = settings.auth
    if access.disabled and access.provider != "none":
        logger.warning(AUTH_DISABLED_WARNING, access.provider)
    checks_tokens = access.enforced in ("cognito", "oidc")
    if access.enforced != "none":
        # Imported only when checks are on: its modules add about 0.1 s to a cold start.
        from . import auth
    server = build_server(**(auth.server_options(access) if checks_tokens else {}))
    server.custom_route(HEALTH_PATH, methods=["GET"])(health)
    if checks_tokens:
        auth.add_root_metadata_route(server, access)
    mcp_app = server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        # One POST in, one JSON answer out: nothing is kept between requests,
        # so any Lambda instance can serve any request.
        stateless_http=True,
        json_response=True,
        transport_security=transport_security(settings),
    )
    if checks_tokens and access.required_scopes:
        mcp_app = auth.ScopeChallenge(mcp_app, access.required_scopes)
    if access.enforced == "iam":
        mcp_app = auth.RequireGatewayIdentity(mcp_app, MCP_PATH, access.allowed_principals)
    app: ASGIApp = McpHttpRules(mcp_app)
    if settings.cors_allow_origins:
        app = CORSMiddleware(
            app,
            allow_origins=list(settings.cors_allow_origins),
            allow_methods=[*MCP_METHODS, "OPTIONS"],
            allow_headers=list(CORS_ALLOW_HEADERS),
            expose_headers=list(CORS_EXPOSE_HEADERS),
            max_age=CORS_MAX_AGE_SECONDS,
        )
    return RequestLogMiddleware(app)


async def health(_request: Request) -> Response:
    """Readiness check for the Lambda Web Adapter (and for you)."""
    return JSONResponse({"status": "ok"})


def transport_security(settings: Settings) -> TransportSecuritySettings:
    """Which Host headers the server answers.

    Locally, DNS-rebinding protection stops a web page from reaching this
    server through a hostile domain name. Deployed, requests arrive through API
    Gateway with its own or a custom domain in Host, and the gateway is the
    front door, so any Host is accepted.
    """
    if settings.on_lambda:
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    extra = list(settings.extra_allowed_hosts)
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=LOOPBACK_HOSTS + extra,
        allowed_origins=LOOPBACK_ORIGINS + [f"http://{host}" for host in extra],
    )


class McpHttpRules:
    """HTTP rules the SDK's streamable-HTTP endpoint does not apply by itself.

    - Only POST reaches /mcp. The SDK answers GET with an event stream that
      never ends; behind Lambda that would burn the whole function timeout.
      A stateless server has nothing to stream or delete, so GET, DELETE and
      the rest get 405 at once, as the MCP spec allows.
    - /mcp/ is served as /mcp instead of redirecting (clients differ on the slash).
    - A request without an Accept header accepts anything (RFC 9110), so it
      gets JSON rather than 406.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in (MCP_PATH, MCP_PATH + "/"):
            if scope["method"] != "POST":
                await method_not_allowed(scope, receive, send)
                return
            scope = dict(scope, path=MCP_PATH, headers=_with_default_accept(scope["headers"]))
        await self.app(scope, receive, send)


async def method_not_allowed(scope: Scope, receive: Receive, send: Send) -> None:
    body = {
        "jsonrpc": "2.0",
        "id": None,
        "error": {
            "code": -32600,
            "message": (
                f"{scope['method']} is not allowed on {MCP_PATH}: this stateless server "
                "answers JSON-RPC requests sent with POST and keeps no event stream"
            ),
        },
    }
    response = JSONResponse(body, status_code=405, headers={"Allow": "POST"})
    await response(scope, receive, send)


def _with_default_accept(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    if any(name == b"accept" for name, _ in headers):
        return headers
    return [*headers, (b"accept", b"application/json")]

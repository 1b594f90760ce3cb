"""Who may call /mcp, checked in the app as well as at the gateway (defense in depth).

- cognito / oidc: every /mcp request needs a JWT access token, checked by tokens.py
  (signature, issuer, audience, expiry) and here for the required scopes. A missing or bad token
  gets 401 with `WWW-Authenticate: Bearer resource_metadata="..."`, which points MCP
  clients at the RFC 9728 metadata; a token without the scopes gets 403.
- iam: API Gateway has checked the SigV4 signature; the app only makes sure the request
  came through it with a caller identity.
- none: no check. MCP_AUTH_DISABLED=1 also means none, locally only, with a warning.
"""

from __future__ import annotations

import json
from typing import Any

from mcp.server.auth.handlers.metadata import ProtectedResourceMetadataHandler
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from mcp.shared.auth import ProtectedResourceMetadata
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .config import AuthConfig
from .tokens import TokenChecker, client_of, scopes_of

METADATA_PATH = "/.well-known/oauth-protected-resource"
LAMBDA_REQUEST_CONTEXT = b"x-amzn-request-context"


class JwtVerifier:
    """The SDK's TokenVerifier for JWT access tokens: None refuses the token (401)."""

    def __init__(self, config: AuthConfig) -> None:
        self.checker = TokenChecker(config)

    async def verify_token(self, token: str) -> AccessToken | None:
        claims = await self.checker.claims(token)
        if claims is None:
            return None
        return AccessToken(
            token=token,
            client_id=client_of(claims),
            scopes=scopes_of(claims),
            expires_at=int(claims["exp"]),
            subject=claims.get("sub"),
            claims={"iss": claims["iss"]},
        )


def server_options(config: AuthConfig) -> dict[str, Any]:
    """The MCPServer arguments that turn token checks on for /mcp."""
    return {
        "token_verifier": JwtVerifier(config),
        "auth": AuthSettings(
            issuer_url=config.issuer,
            resource_server_url=config.resource_url,
            required_scopes=list(config.required_scopes) or None,
            # The verifier checks the audience (or Cognito client id) itself.
            validate_token_resource=False,
        ),
    }


def add_root_metadata_route(server: MCPServer, config: AuthConfig) -> None:
    """The SDK serves RFC 9728 metadata at the path-suffixed address
    (.../oauth-protected-resource/mcp); clients that look at the root find it there too."""
    metadata = ProtectedResourceMetadata(
        resource=config.resource_url,
        authorization_servers=[config.issuer],
        scopes_supported=list(config.required_scopes) or None,
    )
    server.custom_route(METADATA_PATH, methods=["GET"])(
        ProtectedResourceMetadataHandler(metadata).handle
    )


class ScopeChallenge:
    """Adds `scope="..."` to the 401/403 Bearer challenge, so clients ask for the right scopes."""

    def __init__(self, app: ASGIApp, scopes: tuple[str, ...]) -> None:
        self.app = app
        self.scope_param = f', scope="{" ".join(scopes)}"'.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_scope(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] in (401, 403):
                message["headers"] = [
                    (name, value + self.scope_param if name == b"www-authenticate" else value)
                    for name, value in message["headers"]
                ]
            await send(message)

        await self.app(scope, receive, send_with_scope)


class RequireGatewayIdentity:
    """With AUTH_PROVIDER=iam: /mcp requests must carry the caller identity API Gateway adds
    after checking the SigV4 signature. The Lambda Web Adapter writes that context header
    itself, so a client cannot forge it."""

    def __init__(self, app: ASGIApp, protected_path: str) -> None:
        self.app = app
        self.protected_path = protected_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"] == self.protected_path
            and not _signed_caller(scope)
        ):
            response = JSONResponse(
                {"error": "unauthorized", "error_description": "sign the request with AWS SigV4"},
                status_code=401,
                headers={"WWW-Authenticate": "AWS4-HMAC-SHA256"},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _signed_caller(scope: Scope) -> bool:
    raw = next((value for name, value in scope["headers"] if name == LAMBDA_REQUEST_CONTEXT), None)
    try:
        context = json.loads(raw) if raw else {}
    except ValueError:
        return False
    iam = (context.get("authorizer") or {}).get("iam") or {}  # HTTP API
    identity = context.get("identity") or {}  # REST API
    return bool(
        iam.get("userArn")
        or iam.get("callerId")
        or identity.get("userArn")
        or identity.get("caller")
    )

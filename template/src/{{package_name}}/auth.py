"""Who may call /mcp, checked in the app as well as at the gateway (defense in depth).

- cognito / oidc: every /mcp request needs a JWT access token, checked by tokens.py
  (signature, issuer, audience, expiry) and here for the required scopes. A missing or bad token
  gets 401 with `WWW-Authenticate: Bearer resource_metadata="..."`, which points MCP
  clients at the RFC 9728 metadata; a token without the scopes gets 403.
- iam: API Gateway has checked the SigV4 signature; the app makes sure the request came
  through it with a caller identity, and that the caller is one of AUTH_ALLOWED_PRINCIPALS
  when that is set (403 otherwise).
- none: no check. MCP_AUTH_DISABLED=1 also means none, locally only, with a warning.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from mcp.server.auth.handlers.metadata import ProtectedResourceMetadataHandler
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from mcp.shared.auth import ProtectedResourceMetadata
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .config import AuthConfig
from .contract import METADATA_PATHS
from .logs import add_request_fields
from .tokens import TokenChecker, client_of, scopes_of

LAMBDA_REQUEST_CONTEXT = b"x-amzn-request-context"
SIGV4 = "AWS4-HMAC-SHA256"
UNSIGNED = {"error": "unauthorized", "error_description": "sign the request with AWS SigV4"}
# Names neither the caller nor who is allowed.
NOT_ALLOWED = {"error": "forbidden", "error_description": "this AWS caller is not allowed"}


class JwtVerifier:
    """The SDK's TokenVerifier for JWT access tokens: None refuses the token (401)."""

    def __init__(self, config: AuthConfig) -> None:
        self.checker = TokenChecker(config)

    async def verify_token(self, token: str) -> AccessToken | None:
        claims = await self.checker.claims(token)
        if claims is None:
            return None
        client_id = client_of(claims)
        add_request_fields(client_id=client_id, subject=str(claims.get("sub", "")))
        return AccessToken(
            token=token,
            client_id=client_id,
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
    server.custom_route(METADATA_PATHS[0], methods=["GET"])(
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
    after checking the SigV4 signature (401 without it), and that caller must match one of
    `allowed_principals`, account ids or ARN patterns with `*`, when any are given (403).
    The Lambda Web Adapter writes that context header itself from the gateway's event."""

    def __init__(
        self, app: ASGIApp, protected_path: str, allowed_principals: tuple[str, ...]
    ) -> None:
        self.app = app
        self.protected_path = protected_path
        self.allowed_principals = allowed_principals

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == self.protected_path:
            refusal = self._refusal(gateway_caller(scope))
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _refusal(self, caller: GatewayCaller | None) -> Response | None:
        if caller is None:
            return JSONResponse(UNSIGNED, status_code=401, headers={"WWW-Authenticate": SIGV4})
        add_request_fields(caller_arn=caller.arn, account_id=caller.account)
        return None if self._allowed(caller) else JSONResponse(NOT_ALLOWED, status_code=403)

    def _allowed(self, caller: GatewayCaller) -> bool:
        return not self.allowed_principals or any(
            caller.account == pattern if pattern.isdigit() else fnmatchcase(caller.arn, pattern)
            for pattern in self.allowed_principals
        )


@dataclass(frozen=True)
class GatewayCaller:
    arn: str
    account: str


def gateway_caller(scope: Scope) -> GatewayCaller | None:
    """The SigV4 caller API Gateway names in the request context: HTTP APIs put it under
    authorizer.iam, REST APIs under identity. None unless its ARN and account agree."""
    raw = next((value for name, value in scope["headers"] if name == LAMBDA_REQUEST_CONTEXT), b"")
    try:
        context = json.loads(raw or b"{}")
        identity = (context.get("authorizer") or {}).get("iam") or context.get("identity") or {}
        arn, account = identity.get("userArn"), identity.get("accountId")
    except (ValueError, AttributeError):
        return None
    # arn:aws:iam::<account>:user/..., arn:aws:sts::<account>:assumed-role/...
    if isinstance(arn, str) and isinstance(account, str) and arn.split(":")[4:5] == [account]:
        return GatewayCaller(arn, account)
    return None

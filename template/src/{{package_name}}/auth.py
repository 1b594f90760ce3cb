"""Who may call /mcp, checked in the app as well as at the gateway (defense in depth).

- cognito / oidc: every /mcp request needs a JWT access token. Its signature is checked
  against the issuer's JWKS (cached; refetched when a token names an unknown key, at most
  once per `jwks_refresh_seconds`), then its issuer, audience (or Cognito `client_id`),
  expiry and not-before (with clock skew), and the required scopes. A missing or bad token
  gets 401 with `WWW-Authenticate: Bearer resource_metadata="..."`, which points MCP
  clients at the RFC 9728 metadata; a token without the scopes gets 403.
- iam: API Gateway has checked the SigV4 signature; the app only makes sure the request
  came through it with a caller identity.
- none: no check. MCP_AUTH_DISABLED=1 also means none, locally only, with a warning.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import anyio
import httpx2
import jwt
from mcp.server.auth.handlers.metadata import ProtectedResourceMetadataHandler
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from mcp.shared.auth import ProtectedResourceMetadata
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .config import AuthConfig

logger = logging.getLogger(__name__)

METADATA_PATH = "/.well-known/oauth-protected-resource"
# Asymmetric algorithms only: a token must not choose HMAC with the public key as secret.
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384"]
CLOCK_SKEW_SECONDS = 60
JWKS_TIMEOUT_SECONDS = 3.0
LAMBDA_REQUEST_CONTEXT = b"x-amzn-request-context"


class JwksCache:
    """The issuer's signing keys by `kid`, fetched on first use and kept."""

    def __init__(self, config: AuthConfig) -> None:
        self.config = config
        self._keys: dict[str, Any] = {}
        self._jwks_url = config.jwks_url
        self._last_fetch = float("-inf")
        self._lock = anyio.Lock()

    async def key_for(self, kid: str | None) -> Any | None:
        if kid in self._keys:
            return self._keys[kid]
        async with self._lock:
            # A token naming an unknown key may mean the issuer rotated its keys; refetch,
            # but not more often than jwks_refresh_seconds, however many such tokens arrive.
            since_last = time.monotonic() - self._last_fetch
            if kid not in self._keys and since_last >= self.config.jwks_refresh_seconds:
                self._last_fetch = time.monotonic()
                await self._refresh()
        return self._keys.get(kid)

    async def _refresh(self) -> None:
        try:
            async with httpx2.AsyncClient(timeout=JWKS_TIMEOUT_SECONDS) as client:
                url = self._jwks_url or await self._discover_jwks_url(client)
                response = await client.get(url)
                response.raise_for_status()
                keys = response.json()["keys"]
        except (httpx2.HTTPError, ValueError, KeyError, TypeError) as error:
            logger.error(
                "could not fetch the signing keys (JWKS) of %s: %s", self.config.issuer, error
            )
            return
        self._jwks_url = url
        self._keys = {key["kid"]: jwt.PyJWK(key).key for key in keys if _usable(key)}

    async def _discover_jwks_url(self, client: httpx2.AsyncClient) -> str:
        if self.config.provider == "cognito":
            return f"{self.config.issuer}/.well-known/jwks.json"
        response = await client.get(f"{self.config.issuer}/.well-known/openid-configuration")
        response.raise_for_status()
        return response.json()["jwks_uri"]


def _usable(key: dict[str, Any]) -> bool:
    try:
        jwt.PyJWK(key)
    except (jwt.PyJWKError, jwt.InvalidKeyError, KeyError):
        return False
    return "kid" in key and key.get("use", "sig") == "sig"


class JwtVerifier:
    """The SDK's TokenVerifier for JWT access tokens: None refuses the token (401)."""

    def __init__(self, config: AuthConfig, keys: JwksCache) -> None:
        self.config = config
        self.keys = keys

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.InvalidTokenError:
            return None
        key = await self.keys.key_for(kid)
        if key is None:
            logger.info("refused a bearer token: its key %r is not in the issuer's JWKS", kid)
            return None
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=ALGORITHMS,
                issuer=self.config.issuer,
                audience=self.config.audience or None,
                leeway=CLOCK_SKEW_SECONDS,
                options={"require": ["exp", "iss"], "verify_aud": bool(self.config.audience)},
            )
        except jwt.InvalidTokenError as error:
            logger.info("refused a bearer token: %s", error)
            return None
        if not self._client_allowed(claims):
            logger.info("refused a bearer token: client %r is not allowed", claims.get("client_id"))
            return None
        return AccessToken(
            token=token,
            client_id=str(claims.get("client_id") or claims.get("azp") or claims.get("sub", "")),
            scopes=_scopes(claims),
            expires_at=int(claims["exp"]),
            subject=claims.get("sub"),
            claims={"iss": claims["iss"]},
        )

    def _client_allowed(self, claims: dict[str, Any]) -> bool:
        if self.config.provider != "cognito":
            return True
        # Cognito access tokens carry no `aud`; `client_id` names the app client instead,
        # and `token_use` tells them apart from ID tokens, which must not open the API.
        return (
            claims.get("token_use") == "access"
            and claims.get("client_id") in self.config.client_ids
        )


def _scopes(claims: dict[str, Any]) -> list[str]:
    scope = claims.get("scope", claims.get("scp", ""))
    return scope.split() if isinstance(scope, str) else [str(item) for item in scope]


def server_options(config: AuthConfig) -> dict[str, Any]:
    """The MCPServer arguments that turn token checks on for /mcp."""
    return {
        "token_verifier": JwtVerifier(config, JwksCache(config)),
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

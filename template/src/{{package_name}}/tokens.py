"""JWT access tokens: is this token from our issuer, for us, and still valid?

Shared by the server's own checks (auth.py) and the REST API's token authorizer
(authorizer.py), so both refuse exactly the same tokens. Only PyJWT and httpx2 here:
the authorizer imports this without the MCP SDK and starts faster for it.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import anyio
import httpx2
import jwt

from .config import AuthConfig

logger = logging.getLogger(__name__)

# Asymmetric algorithms only: a token must not choose HMAC with the public key as secret.
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384"]
CLOCK_SKEW_SECONDS = 60
JWKS_TIMEOUT_SECONDS = 3.0


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
        # OpenID Discovery appends to the issuer without its trailing slash, if any.
        base = self.config.issuer.rstrip("/")
        if self.config.provider == "cognito":
            return f"{base}/.well-known/jwks.json"
        response = await client.get(f"{base}/.well-known/openid-configuration")
        response.raise_for_status()
        return response.json()["jwks_uri"]


def _usable(key: dict[str, Any]) -> bool:
    try:
        jwt.PyJWK(key)
    except (jwt.PyJWKError, jwt.InvalidKeyError, KeyError):
        return False
    return "kid" in key and key.get("use", "sig") == "sig"


class TokenChecker:
    """Checks signature, issuer, audience (or Cognito client id), expiry and not-before.
    `claims()` answers the token's claims, or None for a token to refuse."""

    def __init__(self, config: AuthConfig) -> None:
        self.config = config
        self.keys = JwksCache(config)

    async def claims(self, token: str) -> dict[str, Any] | None:
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
        return claims

    def _client_allowed(self, claims: dict[str, Any]) -> bool:
        if self.config.provider != "cognito":
            return True
        # Cognito access tokens carry no `aud`; `client_id` names the app client instead,
        # and `token_use` tells them apart from ID tokens, which must not open the API.
        return (
            claims.get("token_use") == "access"
            and claims.get("client_id") in self.config.client_ids
        )


def scopes_of(claims: dict[str, Any]) -> list[str]:
    scope = claims.get("scope", claims.get("scp", ""))
    return scope.split() if isinstance(scope, str) else [str(item) for item in scope]


def client_of(claims: dict[str, Any]) -> str:
    return str(claims.get("client_id") or claims.get("azp") or claims.get("sub", ""))

"""JWT access tokens: is this token from our issuer, for us, and still valid?

Shared by the server's own checks (auth.py) and the REST API's token authorizer
(authorizer.py), so both refuse exactly the same tokens. Only PyJWT and httpx2 here:
the authorizer imports this without the MCP SDK and starts faster for it.
"""

from __future__ import annotations

import logging
import re
from time import monotonic
from typing import Any

import anyio
import httpx2
import jwt

from .config import AuthConfig, is_secure_url

logger = logging.getLogger(__name__)

# Asymmetric algorithms only: a token must not choose HMAC with the public key as secret.
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384"]
CLOCK_SKEW_SECONDS = 60
JWKS_TIMEOUT_SECONDS = 3.0
# Keys are kept as long as the JWKS response's Cache-Control allows, at most this long,
# so a key the issuer withdrew stops working within the hour.
KEYS_MAX_LIFETIME_SECONDS = 3600
MAX_AGE = re.compile(r"max-age=(\d+)")


class JwksCache:
    """The issuer's signing keys by `kid`, fetched on first use and again when they expire."""

    def __init__(self, config: AuthConfig) -> None:
        self.config = config
        self._keys: dict[str, Any] = {}
        self._jwks_url = config.jwks_url
        self._fetched_at = float("-inf")
        self._expires_at = float("-inf")
        self._lock = anyio.Lock()

    async def key_for(self, kid: str | None) -> Any | None:
        if kid in self._keys and monotonic() < self._expires_at:
            return self._keys[kid]
        async with self._lock:
            now = monotonic()
            # Expired keys, or a token naming an unknown key (the issuer may have rotated its
            # keys): refetch, but not more often than jwks_refresh_seconds, however many
            # such tokens arrive.
            stale = now >= self._expires_at or kid not in self._keys
            if stale and now - self._fetched_at >= self.config.jwks_refresh_seconds:
                await self._refresh(now)
        return self._keys.get(kid)

    async def _refresh(self, now: float) -> None:
        self._fetched_at = now
        try:
            async with httpx2.AsyncClient(timeout=JWKS_TIMEOUT_SECONDS) as client:
                url = self._jwks_url or await self._discover_jwks_url(client)
                response = await client.get(url)
                response.raise_for_status()
                keys = response.json()["keys"]
        except (httpx2.HTTPError, ValueError, KeyError, TypeError, AttributeError) as error:
            logger.error(
                "could not fetch the signing keys (JWKS) of %s: %s", self.config.issuer, error
            )
            if now >= self._expires_at:
                # Expired keys are dropped, not kept through the outage: a key the issuer
                # withdrew must stop working, so tokens are refused until the issuer answers.
                self._keys = {}
            return
        self._jwks_url = url
        self._keys = {key["kid"]: jwt.PyJWK(key).key for key in keys if _usable(key)}
        self._expires_at = now + self._lifetime(response.headers.get("cache-control", ""))

    def _lifetime(self, cache_control: str) -> float:
        """Seconds to keep the keys: max-age, at most an hour, at least jwks_refresh_seconds
        (so no-store or max-age=0 do not mean a fetch per request); an hour without a header."""
        directives = cache_control.lower()
        seconds = KEYS_MAX_LIFETIME_SECONDS
        if "no-store" in directives or "no-cache" in directives:
            seconds = 0
        elif match := MAX_AGE.search(directives):
            seconds = int(match[1])
        return max(self.config.jwks_refresh_seconds, min(seconds, KEYS_MAX_LIFETIME_SECONDS))

    async def _discover_jwks_url(self, client: httpx2.AsyncClient) -> str:
        # OpenID Discovery appends to the issuer without its trailing slash, if any.
        base = self.config.issuer.rstrip("/")
        if self.config.provider == "cognito":
            return f"{base}/.well-known/jwks.json"
        response = await client.get(f"{base}/.well-known/openid-configuration")
        response.raise_for_status()
        document = response.json()
        issuer, jwks_uri = document.get("issuer"), document.get("jwks_uri")
        # OpenID Discovery 1.0 section 4.3: the document must name the issuer asked for.
        if issuer != self.config.issuer:
            raise ValueError(
                f"its discovery document's issuer {issuer!r} is not AUTH_ISSUER "
                f"{self.config.issuer!r}: refused"
            )
        if not isinstance(jwks_uri, str) or not is_secure_url(jwks_uri):
            raise ValueError(
                f"its discovery document's jwks_uri {jwks_uri!r} is not allowed: it must be "
                "https (http only on a loopback host)"
            )
        return jwks_uri


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
        except jwt.InvalidTokenError as error:
            logger.info("refused a bearer token: %s", error)
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

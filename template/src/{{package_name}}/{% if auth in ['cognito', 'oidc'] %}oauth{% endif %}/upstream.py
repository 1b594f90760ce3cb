"""The upstream identity provider (Cognito's hosted page, or your OIDC issuer) as this server
sees it: an OpenID provider where people sign in, reached as its public client with PKCE, so
there is no client secret to keep."""

from __future__ import annotations

from collections.abc import Sequence

import anyio
import httpx2
from mcp.shared.auth import OAuthToken
from pydantic import BaseModel, Field, ValidationError

from ..config import SecureUrl
from ..tokens import discover

TIMEOUT_SECONDS = 5.0


class UpstreamError(Exception):
    """A step with the upstream failed. The message names the step and the upstream's reason,
    never a code, token or verifier: it may reach the logs."""


class Endpoints(BaseModel):  # what sign-in uses of the upstream's discovery document
    authorization_endpoint: SecureUrl = Field(min_length=1)
    token_endpoint: SecureUrl = Field(min_length=1)
    # Without one, a refresh token lives until it expires.
    revocation_endpoint: SecureUrl | None = None
    scopes_supported: list[str] = []


class Upstream:
    def __init__(
        self, issuer: str, client_id: str, redirect_uri: str, scopes: Sequence[str]
    ) -> None:
        self.issuer = issuer
        self.client_id = client_id
        self.redirect_uri = redirect_uri
        self.scopes = scopes
        self.discovered: Endpoints | None = None

    async def endpoints(self) -> Endpoints:  # a failed discovery is tried again next call
        if self.discovered is None:
            try:
                document = await anyio.to_thread.run_sync(discover, self.issuer)
            except (httpx2.HTTPError, ValueError) as error:
                raise UpstreamError(f"discovery: {self.issuer} failed: {error!r}") from None
            try:
                self.discovered = Endpoints.model_validate(document)
            except ValidationError as error:
                name = str(error.errors()[0]["loc"][0])
                raise UpstreamError(
                    f"discovery: {self.issuer}'s {name} {document.get(name)!r} is not allowed: "
                    "use an https URL (http only on a loopback host)"
                ) from None
        return self.discovered

    async def authorization_url(self, state: str, code_challenge: str) -> str:
        endpoints = await self.endpoints()
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": " ".join(self.scopes),
            "state": state,
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
        }
        # A provider that lists offline_access issues refresh tokens only with it, and OpenID
        # Connect grants it only with prompt=consent. Cognito issues them unasked.
        if "offline_access" in endpoints.scopes_supported:
            query |= {"scope": query["scope"] + " offline_access", "prompt": "consent"}
        return str(httpx2.URL(endpoints.authorization_endpoint).copy_merge_params(query))

    async def exchange_code(self, code: str, code_verifier: str) -> OAuthToken:
        form = {"code": code, "code_verifier": code_verifier, "redirect_uri": self.redirect_uri}
        return await self.tokens("code exchange", grant_type="authorization_code", **form)

    async def refresh(self, refresh_token: str) -> OAuthToken:
        return await self.tokens("refresh", grant_type="refresh_token", refresh_token=refresh_token)

    async def revoke(self, refresh_token: str) -> None:
        if endpoint := (await self.endpoints()).revocation_endpoint:
            form = {"token": refresh_token, "token_type_hint": "refresh_token"}
            await self.post("revocation", endpoint, form)

    async def tokens(self, step: str, **form: str) -> OAuthToken:
        response = await self.post(step, (await self.endpoints()).token_endpoint, form)
        try:
            return OAuthToken.model_validate_json(response.content)
        except ValidationError:
            raise UpstreamError(f"{step}: {self.issuer} answered no usable tokens") from None

    async def post(self, step: str, url: str, form: dict[str, str]) -> httpx2.Response:
        try:
            async with httpx2.AsyncClient(timeout=TIMEOUT_SECONDS) as client:
                response = await client.post(url, data={"client_id": self.client_id, **form})
        except httpx2.HTTPError as error:
            raise UpstreamError(f"{step}: {self.issuer} did not answer: {error!r}") from None
        if response.is_error:
            try:  # an OAuth error response (RFC 6749 section 5.2)
                refusal = response.json()
                error, description = refusal["error"], refusal.get("error_description")
                reason = f"{error}: {description}" if description else str(error)
            except (ValueError, KeyError, TypeError, AttributeError):
                reason = f"HTTP {response.status_code}"
            raise UpstreamError(f"{step}: {self.issuer} refused it: {reason}")
        return response

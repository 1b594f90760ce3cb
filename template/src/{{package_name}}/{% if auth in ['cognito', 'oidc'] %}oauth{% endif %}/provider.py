"""What the SDK's OAuth handlers (mcp.server.auth) ask of this server: its clients, its
authorization requests, and its own codes and refresh grants. The access tokens are the
upstream's, passed through, so the gateway and tokens.py keep checking every one."""

from __future__ import annotations

import logging
import secrets
import time
from urllib.parse import urlencode, urlsplit

from mcp.client.auth import PKCEParameters
from mcp.server.auth.provider import (
    AccessToken,
    AuthorizationCode,
    AuthorizationParams,
    AuthorizeError,
    OAuthAuthorizationServerProvider,
    RefreshToken,
    RegistrationError,
    TokenError,
    construct_redirect_uri,
)
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken
from pydantic import BaseModel

from ..config import Settings
from ..contract import CALLBACK_PATH, CONSENT_PATH
from ..tokens import IssuerUnavailableError, TokenChecker
from . import cimd
from .store import OAuthStore, digest
from .upstream import Upstream, UpstreamError

logger = logging.getLogger(__name__)

CLIENT_SECONDS = 90 * 24 * 3600  # a registration unused this long is forgotten
PENDING_SECONDS = 10 * 60
CODE_SECONDS = 5 * 60
GRANT_SECONDS = 30 * 24 * 3600
# Schemes a redirect must never use: they run or read something in the browser itself.
UNSAFE_SCHEMES = ("javascript", "data", "file", "blob", "vbscript", "about")
REDIRECT_RULES = {
    "web": "https off loopback",
    "native": "http on 127.0.0.1, localhost or [::1], https, or an app's own scheme",
}


class Pending(BaseModel):  # an authorization request awaiting consent, then the upstream
    client_id: str
    params: AuthorizationParams
    upstream_verifier: str | None = None  # set when the person approves


class Code(AuthorizationCode):
    upstream: OAuthToken  # what the code is exchanged for


class Grant(RefreshToken):
    family: str  # every refresh token rotated from one sign-in: revoked together
    upstream_refresh_token: str


def is_document(client_id: str) -> bool:  # a URL names a Client ID Metadata Document
    return urlsplit(client_id).scheme in ("https", "http")


class SignInProvider(OAuthAuthorizationServerProvider[Code, Grant, AccessToken]):
    def __init__(self, settings: Settings) -> None:
        self.store = OAuthStore(settings.oauth_table)
        self.issuer = settings.public_url
        self.resource = settings.resource_url
        self.scopes = list(settings.auth_required_scopes)
        self.allow_loopback = settings.oauth_allow_loopback_clients
        self.redirect_uris = settings.oauth_redirect_uris
        self.checker = TokenChecker(settings)
        self.upstream = Upstream(
            settings.auth_issuer,
            settings.auth_upstream_client_id,
            self.issuer + CALLBACK_PATH,
            ["openid", *self.scopes],
        )

    async def get_client(self, client_id: str) -> OAuthClientInformationFull | None:
        if is_document(client_id):
            try:
                client = await cimd.fetch_client(client_id, allow_loopback=self.allow_loopback)
            except cimd.ClientMetadataError as error:
                logger.info("refused a client: %s", error)
                return None
            # A document cannot grant itself scopes: it gets this server's.
            client = client.model_copy(update={"scope": " ".join(self.scopes)})
        elif data := await self.store.get("client", client_id):
            client = OAuthClientInformationFull.model_validate(data)
        else:
            return None
        # Checked on every use: a URI taken out of [auth] callback_urls stops working at once.
        kind = client.application_type or "native"
        redirects = []
        for uri in client.redirect_uris or []:
            if refusal := self.redirect_refusal(str(uri), kind):
                logger.info("a client's redirect URI is refused: %s", refusal)
            else:
                redirects.append(uri)
        return client.model_copy(update={"redirect_uris": redirects}) if redirects else None

    async def register_client(self, client_info: OAuthClientInformationFull) -> None:
        kind = client_info.application_type or "native"
        for uri in map(str, client_info.redirect_uris or []):
            if refusal := self.redirect_refusal(uri, kind):
                raise RegistrationError("invalid_redirect_uri", refusal)
        data = client_info.model_dump(mode="json", exclude_none=True)
        await self.store.put("client", client_info.client_id, data, CLIENT_SECONDS)

    def redirect_refusal(self, uri: str, kind: str) -> str | None:
        parts = urlsplit(uri)
        loopback = parts.hostname in cimd.LOOPBACK_HOSTS
        if "#" in uri or parts.scheme in UNSAFE_SCHEMES:
            fits = False
        elif parts.scheme == "http":  # RFC 8252: a native app listens on loopback, any port
            fits = loopback and (kind != "web" or self.allow_loopback)
        else:
            fits = kind != "web" or (parts.scheme == "https" and not loopback)
        if not fits:
            rules = REDIRECT_RULES[kind]
            return f"redirect_uri {uri!r} is not allowed for application_type {kind!r}: use {rules}"
        # Web addresses only where the deployer chose: a sign-in sent to any other site would
        # hand it the person's tokens. Loopback and an app's own scheme stay on their device.
        if parts.scheme == "https" and not loopback and uri not in self.redirect_uris:
            return (
                f"redirect_uri {uri!r} is not allowed: add it to [auth] callback_urls in "
                f"deploy.toml (now {', '.join(self.redirect_uris) or 'none'}, and loopback)"
            )
        return None

    async def authorize(
        self, client: OAuthClientInformationFull, params: AuthorizationParams
    ) -> str:
        if not self.upstream.client_id:
            why = "sign-in is not set up yet: [auth] client_id in the server's deploy.toml is empty"
            raise AuthorizeError("server_error", why)
        if params.resource not in (None, self.resource):
            raise AuthorizeError(
                "invalid_target",
                f"resource {params.resource!r} is not allowed: only {self.resource!r}",
            )
        request_id = secrets.token_urlsafe(32)
        await self.keep_pending(request_id, Pending(client_id=client.client_id, params=params))
        return f"{self.issuer}{CONSENT_PATH}?{urlencode({'request': request_id})}"

    async def keep_pending(self, request_id: str, pending: Pending) -> None:
        data = pending.model_dump(mode="json")
        await self.store.put("pending", digest(request_id), data, PENDING_SECONDS)

    async def pending(self, request_id: str, *, take: bool = False) -> Pending | None:
        read = self.store.take if take else self.store.get
        data = await read("pending", digest(request_id))
        return Pending.model_validate(data) if data else None

    async def approve(self, request_id: str) -> str | None:  # None: unknown request
        if (pending := await self.pending(request_id)) is None:
            return None
        pkce = PKCEParameters.generate()
        pending.upstream_verifier = pkce.code_verifier
        await self.keep_pending(request_id, pending)
        return await self.upstream.authorization_url(request_id, pkce.code_challenge)

    async def deny(self, request_id: str) -> str | None:
        if (pending := await self.pending(request_id, take=True)) is None:
            return None
        return self.answer(pending.params, error="access_denied")

    async def finish(self, state: str, code: str, error: str) -> str | None:
        """The upstream sent the person back: on to the client with our code or an error, or
        None for a request that is unknown, used, or never approved."""
        pending = await self.pending(state, take=True)
        if pending is None or pending.upstream_verifier is None:
            return None
        params = pending.params
        if error:
            return self.answer(params, error=error)
        try:
            upstream = await self.upstream.exchange_code(code, pending.upstream_verifier)
        except UpstreamError as failure:
            logger.warning("sign-in failed: %s", failure)
            return self.answer(params, error="server_error")
        try:
            claims = await self.checker.claims(upstream.access_token)
        except IssuerUnavailableError as unavailable:
            why = str(unavailable)
            return self.answer(params, error="temporarily_unavailable", error_description=why)
        if claims is None:
            why = "the upstream issued a token this server does not accept"
            return self.answer(params, error="access_denied", error_description=why)
        ours = secrets.token_urlsafe(32)
        stored = Code(
            code=ours,
            scopes=params.scopes or self.scopes,
            expires_at=time.time() + CODE_SECONDS,
            client_id=pending.client_id,
            code_challenge=params.code_challenge,
            redirect_uri=params.redirect_uri,
            redirect_uri_provided_explicitly=params.redirect_uri_provided_explicitly,
            resource=params.resource,
            subject=claims.get("sub"),
            upstream=upstream,
        )
        data = stored.model_dump(mode="json", exclude={"code"})
        await self.store.put("code", digest(ours), data, CODE_SECONDS)
        return self.answer(params, code=ours)

    def answer(self, params: AuthorizationParams, **fields: str) -> str:  # iss: RFC 9207
        return construct_redirect_uri(
            str(params.redirect_uri), **fields, state=params.state, iss=self.issuer
        )

    async def load_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: str
    ) -> Code | None:
        key = digest(authorization_code)
        if data := await self.store.get("code", key):
            return Code.model_validate({**data, "code": authorization_code})
        if used := await self.store.get("used", key):
            # A code used twice was stolen, or replayed: what it issued is revoked.
            await self.revoke_family(used["family"])
        return None

    async def exchange_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: Code
    ) -> OAuthToken:
        key = digest(authorization_code.code)
        if await self.store.take("code", key) is None:  # another request took it first
            raise TokenError("invalid_grant", "authorization code was already used")
        family = secrets.token_urlsafe(16)
        await self.store.put("used", key, {"family": family}, GRANT_SECONDS)
        # A registration in use is kept, as made: `client` lacks the redirect URIs unlisted now.
        if not is_document(client.client_id) and (
            registered := await self.store.get("client", client.client_id)
        ):
            await self.store.put("client", client.client_id, registered, CLIENT_SECONDS)
        upstream = authorization_code.upstream
        grant = Grant(
            token="",
            client_id=client.client_id,
            scopes=authorization_code.scopes,
            resource=authorization_code.resource,
            subject=authorization_code.subject,
            family=family,
            upstream_refresh_token=upstream.refresh_token or "",
        )
        return await self.issue(upstream, grant)

    async def issue(self, upstream: OAuthToken, grant: Grant) -> OAuthToken:
        # The upstream's access token, and a refresh token of ours if the upstream gave one.
        refresh_token = None
        if grant.upstream_refresh_token:
            refresh_token = secrets.token_urlsafe(32)
            grant.expires_at = int(time.time()) + GRANT_SECONDS
            data = grant.model_dump(mode="json", exclude={"token"})
            await self.store.put("refresh", digest(refresh_token), data, GRANT_SECONDS)
            current = {"refresh": digest(refresh_token)}
            await self.store.put("family", grant.family, current, GRANT_SECONDS)
        return OAuthToken(
            access_token=upstream.access_token,
            expires_in=upstream.expires_in,
            scope=" ".join(grant.scopes),
            refresh_token=refresh_token,
        )

    async def load_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: str
    ) -> Grant | None:
        key = digest(refresh_token)
        if data := await self.store.get("refresh", key):
            return Grant.model_validate({**data, "token": refresh_token})
        if rotated := await self.store.get("rotated", key):
            # A rotated token came back: one of two holders is not the client.
            await self.revoke_family(rotated["family"])
        return None

    async def exchange_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: Grant, scopes: list[str]
    ) -> OAuthToken:
        key = digest(refresh_token.token)
        if await self.store.take("refresh", key) is None:
            raise TokenError("invalid_grant", "refresh token was already used")
        await self.store.put("rotated", key, {"family": refresh_token.family}, GRANT_SECONDS)
        try:
            upstream = await self.upstream.refresh(refresh_token.upstream_refresh_token)
        except UpstreamError as error:
            logger.warning("refresh failed: %s", error)
            raise TokenError("invalid_grant", "the sign-in has ended: sign in again") from None
        # The upstream's token keeps the scopes of the sign-in, whatever `scopes` narrows.
        # Cognito returns no new refresh token: its first one stays valid.
        if upstream.refresh_token:
            refresh_token.upstream_refresh_token = upstream.refresh_token
        return await self.issue(upstream, refresh_token)

    async def load_access_token(self, token: str) -> AccessToken | None:
        return None  # access tokens are the upstream's: tokens.py checks them

    async def revoke_token(self, token: AccessToken | RefreshToken) -> None:
        if isinstance(token, Grant):
            await self.revoke_family(token.family)

    async def revoke_family(self, family: str) -> None:  # ours, and the upstream's behind it
        current = await self.store.take("family", family)
        grant = current and await self.store.take("refresh", current["refresh"])
        if grant:
            try:
                await self.upstream.revoke(grant["upstream_refresh_token"])
            except UpstreamError as error:
                logger.warning("upstream revocation failed: %s", error)

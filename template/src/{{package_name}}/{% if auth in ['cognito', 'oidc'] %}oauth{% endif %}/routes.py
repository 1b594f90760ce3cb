"""The OAuth endpoints MCP clients sign in through: the SDK's own (mcp.server.auth), with
this server's metadata, its `resource` check on /token and a rate limit on /register, plus
the consent page and the callback the upstream sends people back to."""

from __future__ import annotations

import logging
import time
from urllib.parse import parse_qs, urlsplit

from mcp.server.auth.handlers.metadata import MetadataHandler
from mcp.server.auth.provider import construct_redirect_uri
from mcp.server.auth.routes import build_metadata, cors_middleware, create_auth_routes
from mcp.server.auth.settings import ClientRegistrationOptions, RevocationOptions
from mcp.server.transport_security import (
    DEFAULT_MAX_REQUEST_BODY_SIZE,
    RequestBodyLimitMiddleware,
)
from mcp.shared.auth import OAuthMetadata
from pydantic import AnyHttpUrl
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..config import Settings
from ..contract import (
    AUTHORIZE_PATH,
    CALLBACK_PATH,
    CONSENT_PATH,
    OAUTH_METADATA_PATH,
    OPENID_METADATA_PATH,
    REGISTER_PATH,
    REVOKE_PATH,
    TOKEN_PATH,
)
from .consent import EXPIRED, ConsentPage, page
from .provider import SignInProvider
from .store import OAuthStore, StoreUnavailableError

logger = logging.getLogger(__name__)

REGISTRATIONS_PER_HOUR = 20  # per client address
# Public clients first: MCP clients have no secret.
AUTH_METHODS = ["none", "client_secret_post", "client_secret_basic"]
NO_STORE = {"Cache-Control": "no-store"}


def sign_in_routes(settings: Settings) -> list[Route]:
    provider = SignInProvider(settings)
    scopes = list(settings.auth_required_scopes) or None
    registration = ClientRegistrationOptions(
        enabled=True, valid_scopes=scopes, default_scopes=scopes
    )
    revocation = RevocationOptions(enabled=True)
    issuer = AnyHttpUrl(settings.public_url)
    routes = create_auth_routes(provider, issuer, None, registration, revocation)
    sdk_metadata = build_metadata(issuer, None, registration, revocation)
    metadata = OAuthMetadata.model_validate(
        sdk_metadata.model_dump(mode="json")
        | {
            # Exactly as the `iss` of the authorization responses names it (RFC 9207).
            "issuer": settings.public_url,
            "client_id_metadata_document_supported": True,
            "authorization_response_iss_parameter_supported": True,
            "token_endpoint_auth_methods_supported": AUTH_METHODS,
            "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
        }
    )
    serve_metadata = cors_middleware(MetadataHandler(metadata).handle, ["GET", "OPTIONS"])

    changes = {
        OAUTH_METADATA_PATH: lambda _: serve_metadata,
        AUTHORIZE_PATH: lambda app: issuer_on_errors(app, settings.public_url),
        TOKEN_PATH: lambda app: form_check(app, settings.resource_url),
        REVOKE_PATH: lambda app: form_check(app, settings.resource_url),
        REGISTER_PATH: lambda app: registration_limit(app, provider.store),
    }
    for route in routes:
        if route.path in changes:
            route.app = changes[route.path](route.app)
    consent = ConsentPage(provider)

    async def callback(request: Request) -> Response:
        query = request.query_params
        target = await provider.finish(
            query.get("state", ""), query.get("code", ""), query.get("error", "")
        )
        if target is None:
            return page(EXPIRED, 400)
        return RedirectResponse(target, status_code=302, headers=NO_STORE)

    routes += [
        # Where clients look when the issuer has a path that hides RFC 8414's own address (a
        # REST API's stage): appended to the issuer, as OpenID Connect discovery does.
        Route(OPENID_METADATA_PATH, serve_metadata, methods=["GET", "OPTIONS"]),
        Route(CONSENT_PATH, consent.show, methods=["GET"]),
        Route(CONSENT_PATH, consent.decide, methods=["POST"]),
        Route(CALLBACK_PATH, callback, methods=["GET"]),
    ]
    for route in routes:
        route.app = store_outage(route.app)
    return routes


def oauth_error(status: int, error: str, why: str, **headers: str) -> Response:
    body = {"error": error, "error_description": why}
    return JSONResponse(body, status_code=status, headers={**headers, **NO_STORE})


def store_outage(app: ASGIApp) -> ASGIApp:
    """The state table failing (store.py) is a 503 that says so, and one log line: not a 500
    with a traceback. Sign-in works again as soon as the table answers."""

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await app(scope, receive, send)
        except StoreUnavailableError as error:
            logger.error("sign-in is unavailable: %s", error)
            why = "sign-in is unavailable: its state store does not answer; try again in a minute"
            await oauth_error(503, "temporarily_unavailable", why, **{"Retry-After": "60"})(
                scope, receive, send
            )

    return guarded


def form_check(app: ASGIApp, resource: str) -> ASGIApp:
    """On /token and /revoke: refuses a `resource` other than this server's (RFC 8707), which
    the SDK's handlers ignore, and lets a public client revoke without the client_secret the
    SDK's revocation handler requires (an empty one is what it accepts)."""

    async def checked(scope: Scope, receive: Receive, send: Send) -> None:
        body = await Request(scope, receive).body()
        form = parse_qs(body.decode(errors="replace"))
        asked = form.get("resource", [])
        if any(value != resource for value in asked):
            why = f"resource {asked[0]!r} is not allowed: only {resource!r}"
            return await oauth_error(400, "invalid_target", why)(scope, receive, send)
        if scope["method"] == "POST" and "client_secret" not in form:
            body += b"&client_secret=" if body else b"client_secret="

        async def replay() -> Message:
            return {"type": "http.request", "body": body, "more_body": False}

        await app(scope, replay, send)

    return RequestBodyLimitMiddleware(checked, DEFAULT_MAX_REQUEST_BODY_SIZE)


def issuer_on_errors(app: ASGIApp, issuer: str) -> ASGIApp:
    """RFC 9207: the metadata promises `iss` in every authorization response, and the SDK's
    /authorize sends its errors (a bad scope or PKCE, the provider's) back without it."""

    async def with_issuer(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_issuer(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 302:
                headers = MutableHeaders(scope=message)
                if "error" in parse_qs(urlsplit(headers["location"]).query):
                    headers["location"] = construct_redirect_uri(headers["location"], iss=issuer)
            await send(message)

        await app(scope, receive, send_with_issuer)

    return with_issuer


def registration_limit(app: ASGIApp, store: OAuthStore) -> ASGIApp:
    """Each registration is a stored item: at most REGISTRATIONS_PER_HOUR per client address."""

    async def limited(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] == "POST":
            request = Request(scope)
            # API Gateway appends the caller's address to X-Forwarded-For: the last one is true.
            forwarded = request.headers.get("x-forwarded-for", "").split(",")[-1].strip()
            address = forwarded or (request.client.host if request.client else "unknown")
            if await store.count("register", address, 3600) > REGISTRATIONS_PER_HOUR:
                why = f"more than {REGISTRATIONS_PER_HOUR} registrations an hour from {address}"
                retry = str(3600 - int(time.time()) % 3600)
                refusal = oauth_error(429, "too_many_requests", why, **{"Retry-After": retry})
                return await refusal(scope, receive, send)
        await app(scope, receive, send)

    return limited

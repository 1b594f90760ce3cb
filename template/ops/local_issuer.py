"""A token issuer on loopback, shaped like Cognito and any OIDC provider: OpenID discovery, a
JWKS, and a client-credentials token endpoint, signing with an RSA key made when it starts.

`make dev` runs one so the local server checks tokens as the deployed one does, before
anything is deployed; the tests run one to sign tokens of every kind. The Lambda image never
holds it (it copies src/ only). It gives a token to anyone on this machine who asks: that is
all a development issuer is for.
"""

from __future__ import annotations

import functools
import json
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

AUDIENCE = "mcp-api"
SCOPE = "mcp/tools"
CLIENT_ID = "local-client"
TOKEN_LIFETIME_SECONDS = 3600


@dataclass
class SigningKey:
    kid: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    private: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(65537, 2048)
    )

    def jwk(self) -> dict:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key()))
        return {**public, "kid": self.kid, "use": "sig", "alg": "RS256"}


class Issuer:
    """Serves on 127.0.0.1 at `url`, which keeps `path` as given: "/realms/x", "/" or "".

    `keys` may be replaced to rotate them, `down = True` answers 503 to everything,
    `jwks_cache_control` is the JWKS's Cache-Control header (none when empty), and
    `discovery_changes` are merged into the OpenID discovery document.
    """

    def __init__(
        self,
        *,
        audience: str = AUDIENCE,
        scopes: tuple[str, ...] = (SCOPE,),
        path: str = "",
    ) -> None:
        self.audience = audience
        self.scopes = scopes
        self.keys = [SigningKey()]
        self.fetches = 0  # of the JWKS
        self.down = False
        self.jwks_cache_control = ""
        self.discovery_changes: dict[str, object] = {}
        routes = functools.partial(IssuerRoutes, issuer=self)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), routes)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.url = self.origin + path
        # OpenID Discovery appends its paths to the issuer without a trailing slash.
        base = self.url.rstrip("/")
        self.discovery_url = f"{base}/.well-known/openid-configuration"
        self.jwks_url = f"{base}/.well-known/jwks.json"  # where Cognito serves it
        self.token_url = f"{base}/token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def token(self, key: SigningKey | None = None, **overrides: object) -> str:
        """An access token that Cognito's and OIDC's checks both accept; `None` drops a claim."""
        now = int(time.time())
        claims = {
            "iss": self.url,
            "aud": self.audience or None,  # Cognito's access tokens carry none
            "sub": CLIENT_ID,
            "client_id": CLIENT_ID,
            "token_use": "access",
            "scope": " ".join(self.scopes),
            "iat": now,
            "nbf": now,
            "exp": now + TOKEN_LIFETIME_SECONDS,
        }
        claims.update(overrides)
        claims = {name: value for name, value in claims.items() if value is not None}
        key = key or self.keys[0]
        return jwt.encode(claims, key.private, algorithm="RS256", headers={"kid": key.kid})


class IssuerRoutes(BaseHTTPRequestHandler):
    def __init__(self, *args: object, issuer: Issuer) -> None:
        self.issuer = issuer
        super().__init__(*args)  # answers the request

    def do_GET(self) -> None:
        url = self.issuer.origin + self.path
        if url == self.issuer.jwks_url:
            self.issuer.fetches += 1
            keys = {"keys": [key.jwk() for key in self.issuer.keys]}
            self.answer(200, keys, cache_control=self.issuer.jwks_cache_control)
        elif url == self.issuer.discovery_url:
            self.answer(
                200,
                {
                    "issuer": self.issuer.url,
                    "jwks_uri": self.issuer.jwks_url,
                    "token_endpoint": self.issuer.token_url,
                    "grant_types_supported": ["client_credentials"],
                    "token_endpoint_auth_methods_supported": ["none"],
                    **self.issuer.discovery_changes,
                },
            )
        else:
            self.answer(404, {"error": "not_found"})

    def do_POST(self) -> None:
        url = self.issuer.origin + self.path
        length = int(self.headers.get("Content-Length") or 0)
        form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
        if url != self.issuer.token_url:
            self.answer(404, {"error": "not_found"})
        elif form.get("grant_type") != "client_credentials":
            self.answer(400, {"error": "unsupported_grant_type"})
        else:
            token = self.issuer.token(
                client_id=form.get("client_id", CLIENT_ID),
                scope=form.get("scope") or " ".join(self.issuer.scopes),
            )
            body = {"access_token": token, "token_type": "Bearer"}
            self.answer(200, {**body, "expires_in": TOKEN_LIFETIME_SECONDS})

    def answer(self, status: int, body: dict[str, object], cache_control: str = "") -> None:
        if self.issuer.down:
            status, body = 503, {"error": "temporarily_unavailable"}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        if cache_control:
            self.send_header("Cache-Control", cache_control)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass

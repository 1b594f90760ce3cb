"""A generated auth=oidc project, run as a real process, signs people in through its OAuth front
against a real OpenID provider upstream (npm oidc-provider, tests/oidc_provider.mjs): the SDK's
OAuth client registers (DCR), the person's browser, played by an HTTP client, approves on the
server's consent page and signs in on the provider's own pages, and the client calls a tool,
refreshes and revokes."""

from __future__ import annotations

import base64
import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import httpx2
import pytest
from mcp.client import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthToken,
)

from scripts.serving import NODE_BIN, TEMPLATE_ROOT, answers_of, support, tool_env
from tests.projects import OIDC

pytestmark = [pytest.mark.xdist_group(OIDC), pytest.mark.anyio]

CLIENT_ID = "mcp-server"  # the server's public client at the provider (oidc_provider.mjs)
RESOURCE = "https://weather.example.com/mcp"  # the provider's resource indicator for the server
SCOPE = "mcp/tools"
PERSON = "alice"
REDIRECT_URI = "http://127.0.0.1:33418/callback"  # the MCP client's; the browser stops there
# The server with the project's own DynamoDB stand-in and OAuth table (ops/local_dynamodb.py).
SERVE = """
import os, runpy
from ops.local_dynamodb import local_oauth_table
with local_oauth_table() as table:
    os.environ.update(table)
    runpy.run_module({package!r}, run_name="__main__")
"""


@dataclass
class Upstream:
    issuer: str
    log_path: Path

    def revoked_grants(self) -> int:
        return self.log_path.read_text().count("grant.revoked ")


@pytest.fixture(scope="module")
def upstream_port() -> int:
    return support.free_port()


@pytest.fixture(scope="module")
def server(generated, upstream_port: int) -> Iterator[support.RunningServer]:
    project = generated(OIDC).path
    audience = answers_of(project)["auth_audience"]
    env = tool_env(
        {
            "PYTHONPATH": str(project),
            "AUTH_ISSUER": f"http://127.0.0.1:{upstream_port}",
            "AUTH_AUDIENCE": audience,
            "AUTH_REQUIRED_SCOPES": SCOPE,
            "AUTH_UPSTREAM_CLIENT_ID": CLIENT_ID,
            "OAUTH_ALLOW_LOOPBACK_CLIENTS": "true",
        }
    )
    serve = SERVE.format(package=answers_of(project)["package_name"])
    command = [str(project / ".venv" / "bin" / "python"), "-c", serve]
    with support.serve_process(command, env, project / "server.log") as running:
        yield running


@pytest.fixture(scope="module")
def upstream(
    server: support.RunningServer, generated, upstream_port: int, tmp_path_factory
) -> Iterator[Upstream]:
    audience = answers_of(generated(OIDC).path)["auth_audience"]
    log_path = tmp_path_factory.mktemp("oidc-provider") / "log"
    command = [
        str(NODE_BIN / "node"), str(TEMPLATE_ROOT / "tests" / "oidc_provider.mjs"),
        str(upstream_port), f"{server.url}/oauth/callback", RESOURCE, audience, SCOPE,
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    issuer = f"http://127.0.0.1:{upstream_port}"
    try:
        wait_for(process, f"{issuer}/.well-known/openid-configuration", log_path)
        yield Upstream(issuer, log_path)
    finally:
        process.terminate()
        process.wait(timeout=10)


def wait_for(process: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"oidc-provider exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            if httpx2.get(url).status_code == 200:
                return
        except httpx2.TransportError:
            time.sleep(0.05)
    pytest.fail(f"oidc-provider not up after 30 s:\n{log_path.read_text()}")


class Form(HTMLParser):
    """A page's first form: where it posts, and what a person submits (hidden fields as they
    are, any login and password, the approve button)."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.action = ""
        self.fields: dict[str, str] = {}
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        if tag == "form" and not self.action:
            self.action = found.get("action", "")
        elif tag in ("input", "button") and "name" in found:
            typed = {"login": PERSON, "password": "any password"}.get(found["name"])
            if found.get("value", "") != "deny":
                self.fields[found["name"]] = typed or found.get("value", "")


@dataclass
class Browser:
    """The person's browser: it keeps cookies, follows redirects and submits every form, and
    stops where it is sent back to the MCP client. `forms` are those it submitted: where to,
    and what."""

    http: httpx2.AsyncClient
    forms: list[tuple[str, dict[str, str]]]

    async def sign_in(self, url: str) -> httpx2.URL:
        target = httpx2.URL(url)
        response = await self.http.get(target)
        while True:
            if response.is_redirect:
                target = response.url.join(response.headers["location"])
                if str(target).startswith(REDIRECT_URI):
                    return target
                response = await self.http.get(target)
            else:
                assert response.status_code == 200, response.text
                form = Form(response.text)
                action = response.url.join(form.action)
                self.forms.append((str(action.copy_with(query=None)), form.fields))
                response = await self.http.post(action, data=form.fields)


class Memory:
    """The SDK client's TokenStorage, in memory."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


@dataclass
class SignedIn:
    auth: OAuthClientProvider
    storage: Memory
    landed: list[httpx2.URL]
    forms: list[tuple[str, dict[str, str]]]

    @property
    def tokens(self) -> OAuthToken:
        assert self.storage.tokens
        return self.storage.tokens

    @property
    def client_id(self) -> str:
        assert self.storage.client_info
        return self.storage.client_info.client_id


def signed_in(server: support.RunningServer, browser: httpx2.AsyncClient) -> SignedIn:
    """The SDK's OAuth client, ready to sign in through the server when a call needs it."""
    landed: list[httpx2.URL] = []
    forms: list[tuple[str, dict[str, str]]] = []

    async def open_browser(url: str) -> None:
        landed.append(await Browser(browser, forms).sign_in(url))

    async def callback() -> AuthorizationCodeResult:
        params = dict(landed[-1].params)
        assert "code" in params, f"the sign-in ended in an error: {params}"
        return AuthorizationCodeResult.model_validate(params)

    storage = Memory()
    metadata = OAuthClientMetadata(
        client_name="Test client",
        redirect_uris=[REDIRECT_URI],  # pyright: ignore[reportArgumentType]
        token_endpoint_auth_method="none",
    )
    auth = OAuthClientProvider(server.mcp_url, metadata, storage, open_browser, callback)
    return SignedIn(auth, storage, landed, forms)


async def convert(server: support.RunningServer, auth: httpx2.Auth) -> object:
    async with (
        httpx2.AsyncClient(auth=auth) as http,
        Client(streamable_http_client(server.mcp_url, http_client=http)) as client,
    ):
        result = await client.call_tool(
            "convert_units", {"value": 1.5, "from_unit": "km", "to_unit": "m"}
        )
    assert not result.is_error, result
    return (result.structured_content or {}).get("result")


def claims(jwt: str) -> dict[str, object]:
    """A JWT's payload, unverified: the server verified it when it let the call through."""
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


async def post(server: support.RunningServer, path: str, **form: str) -> httpx2.Response:
    async with httpx2.AsyncClient() as http:
        return await http.post(server.url + path, data=form)


async def refresh(server: support.RunningServer, session: SignedIn, token: str) -> httpx2.Response:
    form = {"grant_type": "refresh_token", "refresh_token": token, "client_id": session.client_id}
    return await post(server, "/token", **form)


async def test_the_sdk_client_signs_in_at_the_provider_and_calls_a_tool(
    server: support.RunningServer, upstream: Upstream, generated
) -> None:
    async with httpx2.AsyncClient() as browser:
        session = signed_in(server, browser)
        converted = await convert(server, session.auth)

    assert converted == 1500.0
    # The server's consent page first, then the provider's own login and consent pages.
    (consent, approved), (login, signed), (grant, granted) = session.forms
    assert consent == f"{server.url}/oauth/consent"
    assert approved["decision"] == "approve" and approved["csrf"]
    assert login.startswith(f"{upstream.issuer}/interaction/")
    assert signed["prompt"] == "login" and signed["login"] == PERSON
    assert grant.startswith(f"{upstream.issuer}/interaction/")
    assert granted["prompt"] == "consent"
    (landed,) = session.landed
    assert str(landed.copy_with(query=None)) == REDIRECT_URI
    assert landed.params["iss"] == server.url  # RFC 9207: this server issued the code
    # The provider's own access token, passed through: for this server, with its scope.
    access = claims(session.tokens.access_token)
    assert access["iss"] == upstream.issuer
    assert access["aud"] == answers_of(generated(OIDC).path)["auth_audience"]
    assert access["client_id"] == CLIENT_ID
    assert access["sub"] == PERSON
    assert SCOPE in str(access["scope"]).split()
    # The refresh token is the server's own, opaque; the provider's stays with the server.
    assert session.tokens.refresh_token and "." not in session.tokens.refresh_token


async def test_the_sdk_client_refreshes_twice_then_revokes(
    server: support.RunningServer, upstream: Upstream
) -> None:
    async with httpx2.AsyncClient() as browser:
        session = signed_in(server, browser)
        await convert(server, session.auth)
        seen = [session.tokens]
        for _ in range(2):
            # Expired, as the SDK sees it: it refreshes before the call, with no browser.
            session.auth.context.token_expiry_time = time.time() - 1
            assert await convert(server, session.auth) == 1500.0
            seen.append(session.tokens)
    revoked_before = upstream.revoked_grants()
    revoked = await post(
        server, "/revoke", token=session.tokens.refresh_token or "", client_id=session.client_id
    )
    after_revoke = await refresh(server, session, session.tokens.refresh_token or "")

    assert len(session.landed) == 1, "a refresh needs no new sign-in"
    assert len({tokens.refresh_token for tokens in seen}) == 3
    # A new access token from the provider each time: the server kept the provider's rotated
    # refresh token, or the second refresh would have been refused as a replay.
    assert len({claims(tokens.access_token)["jti"] for tokens in seen}) == 3
    assert {claims(tokens.access_token)["sub"] for tokens in seen} == {PERSON}
    assert revoked.status_code == 200
    assert after_revoke.status_code == 400
    assert after_revoke.json()["error"] == "invalid_grant"
    assert upstream.revoked_grants() == revoked_before + 1  # the provider's grant ended too


async def test_a_replayed_refresh_token_ends_the_sign_in_here_and_upstream(
    server: support.RunningServer, upstream: Upstream
) -> None:
    async with httpx2.AsyncClient() as browser:
        session = signed_in(server, browser)
        await convert(server, session.auth)
    first = session.tokens.refresh_token or ""
    rotated = await refresh(server, session, first)
    revoked_before = upstream.revoked_grants()
    replayed = await refresh(server, session, first)
    after_replay = await refresh(server, session, rotated.json()["refresh_token"])

    assert rotated.status_code == 200
    assert claims(rotated.json()["access_token"])["sub"] == PERSON
    assert [replayed.status_code, after_replay.status_code] == [400, 400]
    assert [replayed.json()["error"], after_replay.json()["error"]] == ["invalid_grant"] * 2
    assert upstream.revoked_grants() == revoked_before + 1

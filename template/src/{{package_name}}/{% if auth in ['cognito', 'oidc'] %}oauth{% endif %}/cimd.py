"""Client ID Metadata Documents: an MCP client may name itself by an https URL, and the JSON
document there says who it is and where its sign-ins may return to. Anyone can send any URL,
so the fetch must never reach into the network this server runs in (SSRF): only public
addresses, checked before connecting and again on the connection itself, since DNS may answer
differently the second time.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import ssl
import time
from collections import OrderedDict
from urllib.parse import urlsplit

import anyio
import httpx2
from mcp.shared.auth import OAuthClientInformationFull
from pydantic import ValidationError

TIMEOUT_SECONDS = 5.0
MAX_BYTES = 5 * 1024
CACHE_SECONDS = 300  # when the response names no max-age
CACHE_SECONDS_RANGE = (60, 24 * 3600)
CACHE_ENTRIES = 256
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")

# (url, allow_loopback) -> (time.monotonic() it expires, client), oldest use first.
cache: OrderedDict[tuple[str, bool], tuple[float, OAuthClientInformationFull]] = OrderedDict()


class ClientMetadataError(Exception):
    """A client id URL, or the document behind it, that this server refuses. Messages quote
    the URL as repr() does: it comes from anyone, control characters and all."""


async def fetch_client(url: str, *, allow_loopback: bool = False) -> OAuthClientInformationFull:
    """The client the document at `url` describes. `allow_loopback` also lets http and
    loopback addresses through, for `make dev` and the tests; private ones stay refused."""
    key = (url, allow_loopback)
    if key in cache and cache[key][0] > time.monotonic():
        cache.move_to_end(key)
        return cache[key][1]
    host, port = check_url(url, allow_loopback)
    try:
        with anyio.fail_after(TIMEOUT_SECONDS):
            body, cache_control = await download(url, host, port, allow_loopback)
    except TimeoutError:
        raise ClientMetadataError(
            f"client id {url!r}: no document within {TIMEOUT_SECONDS} s (the time allowed)"
        ) from None
    except (OSError, httpx2.HTTPError, httpx2.InvalidURL) as error:
        raise ClientMetadataError(f"client id {url!r}: could not be fetched: {error}") from None
    client = parse(url, body)
    max_age = re.search(r"max-age=(\d+)", cache_control)
    seconds = int(max_age.group(1)) if max_age else CACHE_SECONDS
    shortest, longest = CACHE_SECONDS_RANGE
    cache[key] = (time.monotonic() + min(max(seconds, shortest), longest), client)
    while len(cache) > CACHE_ENTRIES:
        cache.popitem(last=False)
    return client


def check_url(url: str, allow_loopback: bool) -> tuple[str, int]:  # the host and port
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as error:
        raise ClientMetadataError(f"client id {url!r}: {error}") from None
    http_allowed = allow_loopback and parts.hostname in LOOPBACK_HOSTS
    if parts.scheme != "https" and not (parts.scheme == "http" and http_allowed):
        problem = f"scheme {parts.scheme!r} is not allowed: only https"
    elif parts.path in ("", "/") or {".", ".."} & set(parts.path.split("/")):
        problem = f"path {parts.path!r} is not allowed: it must name the document, without . or .."
    elif "#" in url:
        problem = "a fragment is not allowed"
    elif parts.username is not None or parts.password is not None:
        problem = "credentials (user:password@) are not allowed"
    elif not parts.hostname:
        problem = "it has no host"
    else:
        return parts.hostname, port
    raise ClientMetadataError(f"client id {url!r}: {problem}")


def check_address(url: str, address: str, allow_loopback: bool) -> None:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if (ip.is_global and not ip.is_multicast) or (allow_loopback and ip.is_loopback):
        return
    allowed = "public or loopback" if allow_loopback else "public"
    raise ClientMetadataError(
        f"client id {url!r}: its host is at {ip}, which is not allowed: only {allowed} addresses"
    )


async def download(url: str, host: str, port: int, allow_loopback: bool) -> tuple[bytes, str]:
    for *_, sockaddr in await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        check_address(url, sockaddr[0], allow_loopback)
    # The CAs in SSL_CERT_FILE where it is set, as httpx reads it (the tests trust their own CA
    # so), else the system's; trust_env=False: no proxy, so the peer is the document's host.
    cafile = os.environ.get("SSL_CERT_FILE")
    verify = ssl.create_default_context(cafile=cafile) if cafile else True
    async with (
        httpx2.AsyncClient(trust_env=False, verify=verify) as http,
        # identity: a compressed body could grow past MAX_BYTES in a single chunk.
        http.stream("GET", url, headers={"Accept-Encoding": "identity"}) as response,
    ):
        peer = response.extensions["network_stream"].get_extra_info("server_addr")
        check_address(url, peer[0], allow_loopback)
        if response.status_code != 200:
            raise ClientMetadataError(
                f"client id {url!r}: answered HTTP {response.status_code}: only 200 with the "
                "document (redirects are not followed)"
            )
        body = b""
        async for chunk in response.aiter_raw():
            body += chunk
            if len(body) > MAX_BYTES:
                raise ClientMetadataError(
                    f"client id {url!r}: its document is larger than the {MAX_BYTES} bytes allowed"
                )
        return body, response.headers.get("Cache-Control", "")


def parse(url: str, body: bytes) -> OAuthClientInformationFull:
    try:
        client = OAuthClientInformationFull.model_validate_json(body)
    except ValidationError as error:
        problem = error.errors()[0]
        field = ".".join(map(str, problem["loc"]))
        where = f"its document's {field}" if field else "its document (a JSON object)"
        raise ClientMetadataError(
            f"client id {url!r}: {where} is not valid: {problem['msg']}"
        ) from None
    method = client.token_endpoint_auth_method or "none"
    if client.client_id != url:
        problem = (
            f"its document's client_id {client.client_id!r} is not allowed: "
            "it must equal the document's URL"
        )
    elif client.client_secret is not None:
        problem = "its document holds a client_secret, which is not allowed: it is public"
    elif not client.redirect_uris:
        problem = "its document has no redirect_uris: it must list at least one"
    elif method != "none":
        problem = (
            f"its document's token_endpoint_auth_method {method!r} is not allowed: "
            "only 'none' (the client has no secret)"
        )
    else:
        return client.model_copy(update={"token_endpoint_auth_method": "none"})
    raise ClientMetadataError(f"client id {url!r}: {problem}")

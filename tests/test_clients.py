"""The generated server, started as a real process, driven by clients nobody here wrote."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx2
import pytest

from scripts.serving import (
    NODE_BIN,
    TEMPLATE_ROOT,
    fresh_machine_env,
    inspector,
    run,
    serve,
    support,
    tool_env,
)
from tests.projects import DEFAULTS

RunningServer = support.RunningServer

INSPECTOR_PACKAGE = "node_modules/@modelcontextprotocol/inspector/package.json"
EXAMPLE_TOOLS = ["convert_units", "count_slowly"]
CONSENT_FORM = re.compile(r'name="(request|csrf)" value="([^"]*)"')

# Step 4 of the reference deployment guide: what many users try first.
REFERENCE_BODY = (
    '{"jsonrpc":"2.0","method":"initialize","params":{"protocolVersion":"2024-11-05",'
    '"capabilities":{},"clientInfo":{"name":"test","version":"1.0"}},"id":1}'
)

pytestmark = DEFAULTS


@pytest.fixture(scope="module")
def server(default_project: Path) -> Iterator[RunningServer]:
    # The default project checks Cognito tokens; these clients come without one.
    with serve(default_project, env={"MCP_AUTH_DISABLED": "1"}) as running:
        yield running


def test_the_inspector_runs_on_the_node_it_and_the_readme_ask_for(default_project: Path) -> None:
    package = json.loads((TEMPLATE_ROOT / INSPECTOR_PACKAGE).read_text(encoding="utf-8"))
    required = package["engines"]["node"].removeprefix(">=")
    node = run(["node", "--version"], TEMPLATE_ROOT).stdout.strip().removeprefix("v")
    readme = (default_project / "README.md").read_text(encoding="utf-8")

    assert version(node) >= version(required), f"Node {node} is older than {required}"
    assert f"Node.js {required} or newer" in readme
    assert f"npx @modelcontextprotocol/inspector@{package['version']} --cli" in readme
    assert "npx @modelcontextprotocol/inspector " not in readme, "pin every Inspector command"


def version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def test_inspector_cli_lists_tools(server: RunningServer) -> None:
    result = inspector(server.mcp_url, "--transport", "http", "--method", "tools/list")

    tools = {tool["name"]: tool for tool in json.loads(result.stdout)["tools"]}
    assert list(tools) == EXAMPLE_TOOLS
    tool = tools["convert_units"]
    assert set(tool["inputSchema"]["required"]) == {"value", "from_unit", "to_unit"}
    assert "result" in tool["outputSchema"]["properties"]


def test_inspector_cli_calls_a_tool(server: RunningServer) -> None:
    result = inspector(
        server.mcp_url, "--transport", "http", "--method", "tools/call",
        "--tool-name", "convert_units",
        "--tool-arg", "value=100", "--tool-arg", "from_unit=C", "--tool-arg", "to_unit=F",
    )  # fmt: skip

    answer = json.loads(result.stdout)
    assert answer["isError"] is False
    assert answer["structuredContent"]["result"] == 212


def test_inspector_cli_reads_the_resource_template(server: RunningServer) -> None:
    result = inspector(
        server.mcp_url, "--transport", "http",
        "--method", "resources/read", "--uri", "units://time",
    )  # fmt: skip

    contents = json.loads(result.stdout)["contents"][0]
    assert json.loads(contents["text"])["units"] == ["ms", "s", "min", "h", "d"]


def test_reference_curl_gets_the_2024_11_05_handshake(server: RunningServer) -> None:
    result = subprocess.run(
        ["curl", "-sS", "-X", "POST", server.mcp_url,
         "-H", "Content-Type: application/json", "-d", REFERENCE_BODY],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip

    answer = json.loads(result.stdout)
    assert answer["id"] == 1
    assert answer["result"]["protocolVersion"] == "2024-11-05"
    assert answer["result"]["serverInfo"]["name"] == "my-mcp-server"


def test_raw_post_with_only_content_type_is_answered(server: RunningServer) -> None:
    # No Accept header at all (curl adds "Accept: */*"; other clients add nothing).
    host, port = server.url.removeprefix("http://").split(":")
    body = REFERENCE_BODY.encode()
    request = (
        f"POST /mcp HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(request)
        response = b""
        while chunk := connection.recv(65536):
            response += chunk

    head, _, payload = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert json.loads(payload)["result"]["protocolVersion"] == "2024-11-05"


def test_get_on_mcp_is_refused_within_a_second(server: RunningServer) -> None:
    request = urllib.request.Request(server.mcp_url, headers={"Accept": "text/event-stream"})
    started = time.monotonic()
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    elapsed = time.monotonic() - started

    assert refused.value.code == 405
    assert elapsed < 1, f"GET /mcp took {elapsed:.2f} s"


@pytest.fixture(scope="module")
def dev_server(default_project: Path, tmp_path_factory) -> Iterator[tuple[RunningServer, str]]:
    """`make dev` on a machine without uv: the default (Cognito) project served before any
    deploy, checking tokens from its local issuer; and a token from `make token`."""
    env = fresh_machine_env()
    log_path = tmp_path_factory.mktemp("dev") / "dev.log"
    with support.serve_process(
        ["make", "-C", str(default_project), "dev"], env, log_path
    ) as server:
        port = server.url.rsplit(":", 1)[1]
        token = run(["make", "-s", "token", f"PORT={port}"], default_project, env=env)
        yield server, token.stdout.strip().splitlines()[-1]


def test_make_dev_lets_in_a_make_token_client_and_nobody_else(dev_server) -> None:
    server, token = dev_server
    listed = inspector(
        server.mcp_url, "--transport", "http",
        "--header", f"Authorization: Bearer {token}", "--method", "tools/list",
    )  # fmt: skip
    refused = run(
        [str(NODE_BIN / "mcp-inspector"), "--cli", server.mcp_url,
         "--transport", "http", "--method", "tools/list"],
        cwd=TEMPLATE_ROOT, check=False, timeout=120,
    )  # fmt: skip
    anonymous = httpx2.post(
        server.mcp_url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    )

    assert [tool["name"] for tool in json.loads(listed.stdout)["tools"]] == EXAMPLE_TOOLS
    # Without a token the server's 401 challenge sends the Inspector to its OAuth sign-in.
    assert refused.returncode != 0
    assert '"code":"auth_required"' in refused.stdout + refused.stderr
    assert anonymous.status_code == 401
    assert "resource_metadata=" in anonymous.headers["www-authenticate"]


@pytest.fixture
def loopback_files(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A folder served over http on loopback, and its URL."""
    folder = tmp_path / "served"
    folder.mkdir()
    files = ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=folder)
    )
    threading.Thread(target=files.serve_forever, daemon=True).start()
    yield folder, f"http://127.0.0.1:{files.server_address[1]}"
    files.shutdown()
    files.server_close()


@pytest.mark.parametrize("registration", ["DCR", "CIMD"])
def test_make_dev_signs_the_inspector_in_through_its_own_oauth(
    dev_server, tmp_path: Path, loopback_files: tuple[Path, str], registration: str
) -> None:
    """The Inspector's interactive sign-in, as a registered client (DCR) or by its client id
    metadata document on loopback (CIMD; make dev allows that): it prints the authorization
    URL; a browser approves on the consent page, signs in at make dev's local issuer and
    lands on the Inspector's loopback listener, and then the Inspector lists the tools."""
    server, _ = dev_server
    callback = f"http://127.0.0.1:{support.free_port()}/oauth/callback"
    name, options = "MCP Inspector", []  # the name it registers with
    if registration == "CIMD":
        folder, origin = loopback_files
        name, document_url = "The Inspector by its document", f"{origin}/client.json"
        document = {"client_id": document_url, "client_name": name, "redirect_uris": [callback]}
        (folder / "client.json").write_text(json.dumps(document), encoding="utf-8")
        options = ["--client-metadata-url", document_url]
    # A person at a terminal, no browser opened for them, and all its state under tmp_path.
    env = {"HOME": str(tmp_path), "MCP_AUTO_OPEN_ENABLED": "false"}
    env["MCP_INSPECTOR_SECRET_STORE"] = "memory"  # never the OS keychain
    seen = len(server.log_lines())
    person, terminal = os.openpty()
    command = [
        str(NODE_BIN / "mcp-inspector"), "--cli", server.mcp_url, "--transport", "http",
        "--callback-url", callback, *options, "--method", "tools/list",
    ]  # fmt: skip
    with subprocess.Popen(
        command, cwd=TEMPLATE_ROOT, env=tool_env(env), stdin=terminal,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as inspector_cli:  # fmt: skip
        try:
            printed = []
            for line in inspector_cli.stderr:
                printed.append(line)
                if line.startswith("Please navigate to: "):
                    break
            else:
                pytest.fail(f"the Inspector printed no authorization URL:\n{''.join(printed)}")
            pages, landed = browse(server.url, line.split(": ", 1)[1].strip(), callback)
            assert httpx2.get(landed).status_code == 200  # the listener took the code
            listed, _ = inspector_cli.communicate(timeout=60)
        finally:
            inspector_cli.kill()
            os.close(person)
            os.close(terminal)

    assert inspector_cli.returncode == 0
    assert [tool["name"] for tool in json.loads(listed)["tools"]] == EXAMPLE_TOOLS
    log = server.log_lines()
    issuer = re.search(r"a local issuer at (\S+);", "\n".join(log))[1]
    assert [f"{page.request.method} {page.url.copy_with(query=None)}" for page in pages] == [
        f"GET {server.url}/oauth/consent",
        f"POST {server.url}/oauth/consent",
        f"GET {issuer}/authorize",  # signs the local user in at once
        f"GET {server.url}/oauth/callback",
    ]
    assert f"Allow {name} to use this server as you?" in pages[0].text
    assert f"<code>{callback}</code>" in pages[0].text
    assert httpx2.URL(landed).params["iss"] == server.url
    answers = "\n".join(log[seen:])
    assert ('"POST /register 201"' in answers) == (registration == "DCR")
    assert '"POST /token 200"' in answers


def browse(origin: str, url: str, client_callback: str) -> tuple[list[httpx2.Response], str]:
    """A browser that approves on the consent page: the pages it saw after the first, and the
    client's callback URL it was sent to."""
    pages: list[httpx2.Response] = []
    with httpx2.Client() as browser:
        response = browser.get(url)
        while not (location := response.headers.get("location", "")).startswith(client_callback):
            if 'name="csrf"' in response.text:
                form = dict(CONSENT_FORM.findall(response.text))
                form["decision"] = "approve"
                response = browser.post(f"{origin}/oauth/consent", data=form)
            else:
                assert response.is_redirect, f"{response.status_code} {response.text}"
                response = browser.get(location)
            pages.append(response)
    return pages, location

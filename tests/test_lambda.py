"""The Lambda image's request path on loopback: API Gateway's events, invoked through
cargo-lambda's runtime emulator, reach a generated server through the real Lambda Web Adapter
(tests/lambda_emulator.py), and its answers come back as API Gateway passes them on."""

from __future__ import annotations

import ast
import base64
import contextlib
import json
import re
import runpy
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp.client import Client
from mcp_types import TextContent

from scripts.serving import support
from tests.lambda_emulator import LambdaFunction, lambda_function
from tests.projects import OIDC, Generated

# Auth none: the events carry no token. The database is not touched by the tool used here.
PROJECT = "rest-none-existing-vpc-postgres"
# Behind an HTTP API, with IAM: the server checks the caller the gateway names in the event.
HTTP_PROJECT = "http-iam-endpoints-hosted-zone"
pytestmark = pytest.mark.anyio
# The worker that sets a project up runs its tests (pytest-xdist --dist loadgroup).
ON_PROJECT, ON_OIDC = pytest.mark.xdist_group(PROJECT), pytest.mark.xdist_group(OIDC)
# The deadline the runtime API gives each invocation, as a function's timeout_seconds does.
TIMEOUT_SECONDS = 8


@pytest.fixture(scope="module", params=["response_stream", "buffered"])
def function(
    request: pytest.FixtureRequest,
    generated: Callable[[str], Generated],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LambdaFunction]:
    project = generated(PROJECT).path
    env = {"AWS_LWA_INVOKE_MODE": request.param}
    work = tmp_path_factory.mktemp(request.param)
    with lambda_function(project, env, work, timeout_seconds=TIMEOUT_SECONDS) as running:
        yield running


@pytest.fixture(scope="module")
def patient_function(
    generated: Callable[[str], Generated], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LambdaFunction]:
    """Streamed, with time for a call to stay quiet longer than the SDK's 15 s keep-alive."""
    project, work = generated(PROJECT).path, tmp_path_factory.mktemp("patient")
    with lambda_function(
        project, {"AWS_LWA_INVOKE_MODE": "response_stream"}, work, timeout_seconds=30
    ) as running:
        yield running


@pytest.fixture(scope="module")
def http_function(
    generated: Callable[[str], Generated], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LambdaFunction]:
    project = generated(HTTP_PROJECT).path
    with lambda_function(project, {}, tmp_path_factory.mktemp("http")) as running:
        yield running


EXECUTE_API = "abc123.execute-api.eu-west-1.amazonaws.com"
CUSTOM_DOMAIN = "mcp.example.com"  # mapped at the root: no base path (infra/domain.py)
CALLER = {"accountId": "123456789012", "userArn": "arn:aws:iam::123456789012:user/ci"}
JSON_RPC_HEADERS = {
    "Accept": "application/json, text/event-stream",
    "Content-Type": "application/json",
}


def rest_event(
    body: object,
    *,
    method: str = "POST",
    path: str = "/mcp",
    host: str = EXECUTE_API,
    **headers: str,
) -> dict[str, object]:
    """A REST API (v1) proxy event of the stack's stage "prod", as API Gateway sends it: `path`
    is the resource path, without the stage (on a custom domain too)."""
    headers = {**JSON_RPC_HEADERS, "Host": host, **headers}
    context = {
        "accountId": "123456789012",
        "apiId": "abc123",
        "domainName": host,
        "httpMethod": method,
        "identity": {"sourceIp": "203.0.113.7"},
        "path": path if host == CUSTOM_DOMAIN else f"/prod{path}",
        "protocol": "HTTP/1.1",
        "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
        "resourcePath": "/mcp",
        "stage": "prod",
    }
    return {
        "resource": "/mcp",
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": context,
        **encoded(body),
    }


def http_event(
    body: object,
    *,
    method: str = "POST",
    path: str = "/mcp",
    host: str = EXECUTE_API,
    **headers: str,
) -> dict[str, object]:
    """An HTTP API (payload 2.0) event of the stack's $default stage, signed by CALLER (IAM)."""
    headers = {
        name.lower(): value for name, value in {**JSON_RPC_HEADERS, "Host": host, **headers}.items()
    }
    context = {
        "accountId": "123456789012",
        "apiId": "abc123",
        "authorizer": {
            "iam": {**CALLER, "accessKey": "AKIA0", "callerId": "AIDA0", "userId": "AIDA0"}
        },
        "domainName": host,
        "domainPrefix": host.split(".")[0],
        "http": {
            "method": method,
            "path": path,
            "protocol": "HTTP/1.1",
            "sourceIp": "203.0.113.7",
            "userAgent": "test",
        },
        "requestId": "JKJaXmPLvHcESHA=",
        "routeKey": f"{method} /mcp",
        "stage": "$default",
        "time": "25/Nov/2026:10:00:00 +0000",
        "timeEpoch": 1795600800000,
    }
    return {
        "version": "2.0",
        "routeKey": f"{method} /mcp",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": context,
        **encoded(body),
    }


def streamed(function: LambdaFunction) -> bool:
    return function.env.get("AWS_LWA_INVOKE_MODE") == "response_stream"


def encoded(body: object) -> dict[str, object]:
    """The body as API Gateway passes it: text as is, bytes base64-encoded, none absent."""
    if isinstance(body, bytes):
        return {"body": base64.b64encode(body).decode(), "isBase64Encoded": True}
    return {"body": None if body is None else json.dumps(body), "isBase64Encoded": False}


def answer(function: LambdaFunction, event: dict[str, object]) -> tuple[int, dict[str, str], bytes]:
    """The status, headers and body API Gateway answers with. Buffered, the function returns
    them in JSON (an HTTP API reads `headers` only); streamed, in a prelude the emulator, as
    API Gateway, sends as the HTTP response's own."""
    response = httpx2.post(function.invoke_url, json=event, timeout=60)
    if streamed(function):
        return response.status_code, dict(response.headers), response.content
    proxy = response.json()
    headers = (
        proxy["headers"]
        if "version" in event
        else {name: ",".join(values) for name, values in proxy["multiValueHeaders"].items()}
        | proxy["headers"]
    )
    body = proxy.get("body") or ""
    return (
        proxy["statusCode"],
        headers,
        base64.b64decode(body) if proxy["isBase64Encoded"] else body.encode(),
    )


def count_slowly(seconds: int, **meta: object) -> dict[str, object]:
    params = {"name": "count_slowly", "arguments": {"seconds": seconds}, "_meta": meta}
    return {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": params}


def invoke(function: LambdaFunction, body: dict[str, object]) -> tuple[httpx2.Response, list]:
    """Invoke with a REST event; the answer's lines, each with the second it arrived."""
    started = time.monotonic()
    with httpx2.stream("POST", function.invoke_url, json=rest_event(body), timeout=60) as response:
        lines = [(time.monotonic() - started, line) for line in response.iter_lines() if line]
    return response, lines


def messages(lines: list[tuple[float, str]]) -> list[tuple[float, dict]]:
    """The messages among the lines: SSE data; a buffered answer is one line of JSON."""
    return [
        (second, json.loads(line.removeprefix("data: ")))
        for second, line in lines
        if line.startswith(("data: ", "{"))
    ]


@ON_PROJECT
def test_a_long_call_answers_as_the_invoke_mode_says(function: LambdaFunction) -> None:
    response, lines = invoke(function, count_slowly(3, progressToken=7))
    arrived = messages(lines)

    if not streamed(function):  # API Gateway's proxy answer, all at the end
        [(second, answer)] = arrived
        assert (second > 3, answer["statusCode"]) == (True, 200)
        assert answer["multiValueHeaders"]["content-type"] == ["application/json"]
        result = json.loads(answer["body"])["result"]
    else:  # the status and headers first, then each message as it is sent
        assert response.headers["content-type"] == "text/event-stream"
        *progress, (second, message) = arrived
        assert [m["params"]["progress"] for _, m in progress] == [0, 1, 2]
        assert second - progress[0][0] > 2, "the first progress came while the tool ran"
        result = message["result"]
    assert result["content"] == [{"type": "text", "text": "counted 3 seconds"}]


@ON_PROJECT
def test_a_call_longer_than_the_function_stops_cleanly_before_its_deadline(
    function: LambdaFunction,
) -> None:
    _, lines = invoke(function, count_slowly(60, progressToken=7))

    second, answer = messages(lines)[-1]
    if not streamed(function):
        answer = json.loads(answer["body"])
    assert answer["result"]["isError"] is True
    assert "before the function's deadline" in answer["result"]["content"][0]["text"]
    assert second < TIMEOUT_SECONDS - 2


@ON_PROJECT
@pytest.mark.parametrize("function", ["response_stream"], indirect=True)
async def test_the_sdk_client_sees_progress_through_the_adapter(function: LambdaFunction) -> None:
    arrived: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        arrived.append(time.monotonic())

    async with Client(f"{function.function_url}/mcp") as client:
        result = await client.call_tool(
            "count_slowly", {"seconds": 2}, progress_callback=on_progress
        )
    finished = time.monotonic()

    assert result.content == [TextContent(type="text", text="counted 2 seconds")]
    assert len(arrived) == 2 and finished - arrived[0] > 1.5


@ON_PROJECT
def test_a_quiet_call_gets_the_sdks_keep_alive_within_api_gateways_idle_limit(
    patient_function: LambdaFunction,
) -> None:
    _, lines = invoke(patient_function, count_slowly(16))  # no progress token: nothing to say

    [(second, message)] = messages(lines)
    pings = [at for at, line in lines if line.startswith(": ping")]  # SSE comments
    assert pings and 14 < pings[0] < second, lines
    assert message["result"]["content"] == [{"type": "text", "text": "counted 16 seconds"}]


INITIALIZE = support.initialize("2024-11-05")
# 2026-07-28: no handshake; each request names its version in _meta and in its headers.
DISCOVER = {
    "jsonrpc": "2.0",
    "id": 2,
    "method": "server/discover",
    "params": {
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
        }
    },
}
DISCOVER_HEADERS = {"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "server/discover"}
JSON_RPC_EVENTS = {  # name: (body, event options, what the result holds)
    "initialize": (INITIALIZE, {}, ("protocolVersion", "2024-11-05")),
    "slash": (INITIALIZE, {"path": "/mcp/"}, ("protocolVersion", "2024-11-05")),
    "custom-domain": (INITIALIZE, {"host": CUSTOM_DOMAIN}, ("protocolVersion", "2024-11-05")),
    "base64": (json.dumps(INITIALIZE).encode(), {}, ("protocolVersion", "2024-11-05")),
    "discover": (DISCOVER, DISCOVER_HEADERS, ("supportedVersions", ["2026-07-28"])),
}


def check_json_rpc(function: LambdaFunction, event: dict[str, object], expected: tuple) -> None:
    status, headers, body = answer(function, event)

    # Streamed, a handshake-era answer is an event stream; 2026-07-28's discover is plain JSON.
    event_stream = streamed(function) and expected[0] != "supportedVersions"
    assert (status, headers["content-type"].split(";")[0]) == (
        200,
        "text/event-stream" if event_stream else "application/json",
    ), body
    text = body.decode()
    [message] = [
        json.loads(line.removeprefix("data: "))
        for line in text.splitlines()
        if line.startswith(("data: ", "{"))
    ]
    key, value = expected
    assert message["id"] == event_id(event)
    assert (
        set(value) <= set(message["result"][key])
        if isinstance(value, list)
        else message["result"][key] == value
    )


EACH_JSON_RPC_EVENT = pytest.mark.parametrize(
    ("body", "options", "expected"), JSON_RPC_EVENTS.values(), ids=JSON_RPC_EVENTS
)


def event_id(event: dict[str, object]) -> int:
    body = event["body"]
    return json.loads(base64.b64decode(body) if event["isBase64Encoded"] else body)["id"]


@ON_PROJECT
@EACH_JSON_RPC_EVENT
def test_rest_events_reach_mcp(
    function: LambdaFunction, body: object, options: dict, expected: tuple
) -> None:
    check_json_rpc(function, rest_event(body, **options), expected)


@ON_PROJECT
@EACH_JSON_RPC_EVENT
def test_http_api_events_reach_mcp(
    http_function: LambdaFunction, body: object, options: dict, expected: tuple
) -> None:
    check_json_rpc(http_function, http_event(body, **options), expected)


@ON_PROJECT
def test_a_get_is_refused_at_once(function: LambdaFunction) -> None:
    status, headers, body = answer(function, rest_event(None, method="GET"))

    assert (status, headers["allow"], headers["content-type"]) == (405, "POST", "application/json")
    assert json.loads(body)["error"]["code"] == -32600


@ON_PROJECT
def test_a_body_near_lambdas_6_mb_is_refused_by_the_servers_4_mib_limit(
    function: LambdaFunction,
) -> None:
    status, _, body = answer(function, rest_event({**INITIALIZE, "pad": "x" * 5_900_000}))

    assert (status, body) == (413, b"Request body too large")


METHOD_ARN = "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/POST/mcp"


@contextlib.contextmanager
def running_authorizer(project: Path, work: Path) -> Iterator[tuple[LambdaFunction, Any]]:
    """The REST API's TOKEN authorizer: the image started with the stack's command, checking
    tokens of the project's local issuer, with the environment the stack gives it."""
    stack = (project / "infra" / "token_authorizer.py").read_text()
    [command, adapter_env] = (
        ast.literal_eval(re.search(rf"^{name} = (.+)$", stack, re.M)[1])
        for name in ("AUTHORIZER_COMMAND", "ADAPTER_ENVIRONMENT")
    )
    issuer = runpy.run_path(str(project / "ops" / "local_issuer.py"))["Issuer"]()
    env = {
        **adapter_env,
        "AUTH_ISSUER": issuer.url,
        "AUTH_AUDIENCE": issuer.audience,
        "AUTH_REQUIRED_SCOPES": ",".join(issuer.scopes),
        "MCP_RESOURCE_URL": f"https://{EXECUTE_API}/prod/mcp",
        "OAUTH_TABLE": "oauth",  # the stack gives both functions the same settings
    }
    try:
        with lambda_function(project, env, work, command=command) as running:
            yield running, issuer
    finally:
        issuer.stop()


@pytest.fixture(scope="module")
def authorizer(
    generated: Callable[[str], Generated], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LambdaFunction, Any]]:
    with running_authorizer(generated(OIDC).path, tmp_path_factory.mktemp("authorizer")) as running:
        yield running


TOKENS = {  # name: (the Authorization header from the issuer, the policy's effect)
    "valid": (lambda issuer: f"Bearer {issuer.token()}", "Allow"),
    "expired": (lambda issuer: f"Bearer {issuer.token(exp=int(time.time()) - 60)}", "Deny"),
    "wrong-audience": (lambda issuer: f"Bearer {issuer.token(aud='another-api')}", "Deny"),
    "junk": (lambda issuer: "Bearer junk", "Deny"),
}


@ON_OIDC
@pytest.mark.parametrize(("header", "effect"), TOKENS.values(), ids=TOKENS)
def test_a_token_authorizer_event_gets_api_gateways_policy(
    authorizer: tuple[LambdaFunction, Any], header: Callable, effect: str
) -> None:
    function, issuer = authorizer
    event = {"type": "TOKEN", "authorizationToken": header(issuer), "methodArn": METHOD_ARN}

    # Not an HTTP event: the adapter passes it to /events, and the answer's body is the result.
    policy = httpx2.post(function.invoke_url, json=event, timeout=60).json()

    statement = {
        "Action": "execute-api:Invoke",
        "Effect": effect,
        "Resource": METHOD_ARN.replace("/POST/mcp", "/*"),  # the stage: API Gateway caches it
    }
    assert policy["policyDocument"] == {"Version": "2012-10-17", "Statement": [statement]}
    assert ("context" in policy) == (policy["principalId"] != "anonymous") == (effect == "Allow")


@ON_OIDC
def test_an_issuer_outage_fails_the_authorizer_invocation_instead_of_denying(
    generated: Callable[[str], Generated], tmp_path: Path
) -> None:
    """A Deny would be cached for the token; a failed invocation is API Gateway's 500."""
    with running_authorizer(generated(OIDC).path, tmp_path) as (function, issuer):
        issuer.down = True
        event = {"type": "TOKEN", "authorizationToken": f"Bearer {issuer.token()}"}
        answer = httpx2.post(function.invoke_url, json={**event, "methodArn": METHOD_ARN})

    assert answer.status_code == 500, answer.text


@ON_PROJECT
def test_a_snapstart_init_answers_a_tools_list_before_it_reports_ready(
    generated: Callable[[str], Generated], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """With [lambda] snapstart = true, Lambda snapshots the instance once the adapter finds it
    ready: what the server does before /health first answers is what the snapshot holds."""
    project, work = generated(PROJECT).path, tmp_path_factory.mktemp("snapstart")
    env = {"AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start"}
    with lambda_function(project, env, work) as running:
        status, _, _ = answer(running, rest_event(INITIALIZE))
        lines = [json.loads(line) for line in running.server.log_lines() if line.startswith("{")]

    requests = [
        (line["http_method"], line["path"], line["status"]) for line in lines if "status" in line
    ]
    assert status == 200
    assert requests[0] == ("POST", "/mcp", 200), "the warm-up tools/list came first"
    assert requests[1] == ("GET", "/health", 200)
    assert requests[-1] == ("POST", "/mcp", 200)

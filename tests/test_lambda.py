"""The Lambda image's request path on loopback: API Gateway's events, invoked through
cargo-lambda's runtime emulator, reach a generated server through the real Lambda Web Adapter
(tests/lambda_emulator.py), and its answers come back as API Gateway passes them on."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

import httpx2
import pytest
from mcp.client import Client
from mcp_types import TextContent

from tests.lambda_emulator import LambdaFunction, lambda_function
from tests.projects import Generated

# Auth none: the events carry no token. The database is not touched by the tool used here.
PROJECT = "rest-none-existing-vpc-postgres"
pytestmark = [pytest.mark.anyio, pytest.mark.xdist_group(PROJECT)]
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


def rest_event(body: dict[str, object]) -> dict[str, object]:
    """A REST API (v1) proxy event for POST /prod/mcp, as API Gateway sends it."""
    headers = {
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        "Host": "abc123.execute-api.eu-west-1.amazonaws.com",
        "MCP-Protocol-Version": "2025-11-25",
    }
    context = {
        "accountId": "123456789012",
        "apiId": "abc123",
        "domainName": headers["Host"],
        "httpMethod": "POST",
        "identity": {"sourceIp": "203.0.113.7"},
        "path": "/prod/mcp",
        "protocol": "HTTP/1.1",
        "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
        "resourcePath": "/mcp",
        "stage": "prod",
    }
    return {
        "resource": "/mcp",
        "path": "/mcp",
        "httpMethod": "POST",
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": context,
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def count_slowly(seconds: int) -> dict[str, object]:
    arguments = {"seconds": seconds}
    params = {"name": "count_slowly", "arguments": arguments, "_meta": {"progressToken": 7}}
    return {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": params}


def invoke(function: LambdaFunction, body: dict[str, object]) -> tuple[httpx2.Response, list]:
    """Invoke with a REST event; the answer's messages, each with the second it arrived."""
    started = time.monotonic()
    arrived: list[tuple[float, dict[str, object]]] = []
    with httpx2.stream("POST", function.invoke_url, json=rest_event(body), timeout=60) as response:
        for line in response.iter_lines():  # SSE; a buffered answer is one line of JSON
            if line.startswith(("data: ", "{")):
                arrived.append(
                    (time.monotonic() - started, json.loads(line.removeprefix("data: ")))
                )
    return response, arrived


def test_a_long_call_answers_as_the_invoke_mode_says(function: LambdaFunction) -> None:
    response, arrived = invoke(function, count_slowly(3))

    if (
        function.env["AWS_LWA_INVOKE_MODE"] == "buffered"
    ):  # API Gateway's proxy answer, all at the end
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


def test_a_call_longer_than_the_function_stops_cleanly_before_its_deadline(
    function: LambdaFunction,
) -> None:
    _, arrived = invoke(function, count_slowly(60))

    second, answer = arrived[-1]
    if function.env["AWS_LWA_INVOKE_MODE"] == "buffered":
        answer = json.loads(answer["body"])
    assert answer["result"]["isError"] is True
    assert "before the function's deadline" in answer["result"]["content"][0]["text"]
    assert second < TIMEOUT_SECONDS - 2


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

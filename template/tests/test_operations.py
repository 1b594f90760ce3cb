"""The deploy-side make targets, run for real.

`make synth` runs the real CDK CLI. `make outputs`, `logs` and `secret-set` run against a
local AWS stand-in (moto's server on loopback, through AWS_ENDPOINT_URL), and `make
smoke` against the server running locally. The commands `make -n` prints are checked too.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import httpx2
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from conftest import RunningServer
from infra.ops import OperationError, session, stack_outputs
from infra.settings import load_settings
from infra.smoke import SigV4

PROJECT = Path(__file__).resolve().parent.parent
SETTINGS = load_settings()


def make(*args: str, env: dict[str, str] | None = None, stdin: str | None = None):
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=PROJECT,
        env=env or os.environ.copy(),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def local_aws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """moto's AWS stand-in on a free loopback port, and the environment that points at it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("wb")
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": SETTINGS.region,
    }
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    try:
        yield env
    finally:
        server.terminate()
        server.wait(timeout=10)


def aws_client(service: str, env: dict[str, str]):
    return boto3.client(
        service,
        region_name=SETTINGS.region,
        endpoint_url=env["AWS_ENDPOINT_URL"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture(scope="module")
def token_endpoint() -> Iterator[dict]:
    """Cognito's OAuth2 token endpoint, played on loopback: it checks the client credentials."""
    seen: dict = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            seen["form"] = urllib.parse.parse_qs(self.rfile.read(length).decode())
            seen["authorization"] = self.headers["Authorization"]
            body = json.dumps(
                {"access_token": "machine-token-123", "token_type": "Bearer"}
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    seen["url"] = f"http://127.0.0.1:{server.server_address[1]}/oauth2/token"
    yield seen
    server.shutdown()


@pytest.fixture(scope="module")
def deployed_stack(local_aws: dict[str, str], token_endpoint: dict) -> dict[str, str]:
    """A stand-in for the deployed stack: its outputs, a user pool with a machine client,
    and a log group with two lines."""
    group = f"/aws/lambda/{SETTINGS.name}"
    cognito = aws_client("cognito-idp", local_aws)
    pool = cognito.create_user_pool(PoolName=SETTINGS.name)["UserPool"]["Id"]
    machine = cognito.create_user_pool_client(
        UserPoolId=pool, ClientName="machine", GenerateSecret=True
    )["UserPoolClient"]
    outputs = {
        "ApiEndpoint": "https://abc123.execute-api.us-east-1.amazonaws.com",
        "McpEndpoint": "https://abc123.execute-api.us-east-1.amazonaws.com/mcp",
        "FunctionName": f"{SETTINGS.name}-Function",
        "LogGroupName": group,
        "UserPoolId": pool,
        "MachineClientId": machine["ClientId"],
        "PublicClientId": "public-client",
        "AuthIssuer": f"https://cognito-idp.us-east-1.amazonaws.com/{pool}",
        "TokenEndpoint": token_endpoint["url"],
        "AuthScopes": "mcp/tools",
    }
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    aws_client("cloudformation", local_aws).create_stack(
        StackName=SETTINGS.name, TemplateBody=json.dumps(template)
    )
    logs = aws_client("logs", local_aws)
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="instance-1")
    now = int(time.time() * 1000)
    logs.put_log_events(
        logGroupName=group,
        logStreamName="instance-1",
        logEvents=[
            {"timestamp": now - 2000, "message": '{"message": "POST /mcp 200"}'},
            {"timestamp": now - 1000, "message": '{"message": "GET /health 200"}'},
        ],
    )
    return outputs


def test_make_n_prints_the_exact_deploy_commands() -> None:
    profile = f" --profile {SETTINGS.profile}" if SETTINGS.profile else ""
    cdk = "npx --yes aws-cdk@"

    deploy = make("-n", "deploy").stdout
    destroy = make("-n", "destroy").stdout
    logs = make("-n", "logs", "SINCE=2h").stdout

    assert f"{cdk}" in deploy
    assert f"deploy{profile} --require-approval never --outputs-file cdk-outputs.json" in deploy
    assert f"destroy{profile} --force" in destroy
    assert f"Delete stack %s and everything in it? [y/N] ' '{SETTINGS.name}'" in destroy
    assert f"uv run python -m infra.ops --profile '{SETTINGS.profile}' logs --since 2h" in logs


def test_destroy_asks_and_stops_on_no() -> None:
    result = make("destroy", stdin="n\n")

    assert result.returncode != 0
    assert "Not deleted." in result.stdout
    assert "npx" not in result.stdout


def test_make_outputs_reads_the_stack(deployed_stack: dict[str, str], local_aws) -> None:
    text = make("outputs", "PROFILE=", env=local_aws)
    as_json = make("outputs", "PROFILE=", "FORMAT=json", env=local_aws)

    assert text.returncode == 0, text.stderr
    assert f"McpEndpoint = {deployed_stack['McpEndpoint']}" in text.stdout
    assert json.loads(as_json.stdout[as_json.stdout.index("{") :]) == deployed_stack


def test_outputs_before_the_first_deploy_say_what_to_do(local_aws, monkeypatch) -> None:
    for name, value in local_aws.items():
        monkeypatch.setenv(name, value)
    never_deployed = dataclasses.replace(SETTINGS, name="never-deployed")

    with pytest.raises(
        OperationError, match=r"stack never-deployed does not exist in .*: run make deploy first"
    ):
        stack_outputs(never_deployed, session(never_deployed, ""))


def test_an_unknown_profile_says_how_to_fix_it(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
    }
    result = make("outputs", "PROFILE=nobody", env=env)

    assert result.returncode != 0
    assert "AWS profile 'nobody' is not configured here" in result.stderr
    assert "PROFILE= to use environment credentials" in result.stderr


def test_make_logs_prints_the_function_logs(deployed_stack, local_aws) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "infra.ops",
            "--profile",
            "",
            "logs",
            "--since",
            "1h",
            "--no-follow",
        ],
        cwd=PROJECT,
        env=local_aws,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        '{"message": "POST /mcp 200"}',
        '{"message": "GET /health 200"}',
    ]


def test_make_logs_follows_until_stopped(deployed_stack, local_aws) -> None:
    process = subprocess.Popen(
        ["make", "--no-print-directory", "logs", "PROFILE=", "SINCE=1h"],
        cwd=PROJECT,
        env=local_aws,
        stdout=subprocess.PIPE,
        text=True,
    )
    # make echoes the command, then the two log lines arrive, then it keeps polling.
    lines = [process.stdout.readline().strip() for _ in range(3)]
    time.sleep(1)
    still_following = process.poll() is None
    process.terminate()
    process.wait(timeout=10)

    assert lines[1:] == ['{"message": "POST /mcp 200"}', '{"message": "GET /health 200"}']
    assert still_following, "make logs stopped instead of following"


def test_secret_set_refuses_an_undeclared_key(local_aws) -> None:
    result = make("secret-set", "NAME=not_declared", "PROFILE=", env=local_aws, stdin="x")

    assert result.returncode != 0
    assert "NAME='not_declared' is not declared under [secrets] in deploy.toml" in result.stderr


def test_secret_set_stores_the_value(local_aws, tmp_path: Path) -> None:
    # A copy of deploy.toml that declares one more secret; DEPLOY_FILE points make at it.
    deploy_file = tmp_path / "deploy.toml"
    shipped = (PROJECT / "deploy.toml").read_text(encoding="utf-8")
    deploy_file.write_text(
        shipped.replace("[secrets]\n", '[secrets]\nsmoke_test = "tests/smoke-secret"\n', 1),
        encoding="utf-8",
    )
    env = {**local_aws, "DEPLOY_FILE": str(deploy_file)}

    created = make("secret-set", "NAME=smoke_test", "PROFILE=", env=env, stdin="s3cret\n")
    updated = make("secret-set", "NAME=smoke_test", "PROFILE=", env=env, stdin="rotated\n")

    assert "created tests/smoke-secret" in created.stdout, created.stderr
    assert "updated tests/smoke-secret" in updated.stdout, updated.stderr
    secret = aws_client("secretsmanager", local_aws).get_secret_value(SecretId="tests/smoke-secret")
    assert secret["SecretString"] == "rotated"


def as_cognito_project(tmp_path: Path) -> Path:
    """A copy of deploy.toml with [auth] provider = "cognito", for the Cognito-only targets."""
    deploy_file = tmp_path / "deploy.toml"
    shipped = (PROJECT / "deploy.toml").read_text(encoding="utf-8")
    provider = f'provider = "{SETTINGS.auth.provider}"'
    cognito = shipped.replace(provider, 'provider = "cognito"', 1)
    # Cognito's keys are fetched over the internet: a new VPC needs its NAT gateway.
    cognito = cognito.replace('egress = "endpoints"', 'egress = "nat"', 1)
    deploy_file.write_text(cognito, encoding="utf-8")
    return deploy_file


def test_make_stack_token_uses_the_machine_client(
    deployed_stack, local_aws, token_endpoint, tmp_path
) -> None:
    env = {**local_aws, "DEPLOY_FILE": str(as_cognito_project(tmp_path))}
    result = make("stack-token", "PROFILE=", env=env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "machine-token-123"
    assert token_endpoint["form"] == {"grant_type": ["client_credentials"], "scope": ["mcp/tools"]}
    client_id = deployed_stack["MachineClientId"]
    assert (
        base64.b64decode(token_endpoint["authorization"].removeprefix("Basic "))
        .decode()
        .startswith(f"{client_id}:")
    )


def test_make_user_add_invites_by_email(deployed_stack, local_aws, tmp_path) -> None:
    env = {**local_aws, "DEPLOY_FILE": str(as_cognito_project(tmp_path))}
    result = make("user-add", "EMAIL=ada@example.com", "PROFILE=", env=env)

    assert result.returncode == 0, result.stderr
    user = aws_client("cognito-idp", local_aws).admin_get_user(
        UserPoolId=deployed_stack["UserPoolId"], Username="ada@example.com"
    )
    assert {"Name": "email", "Value": "ada@example.com"} in user["UserAttributes"]


def test_make_smoke_passes_against_the_running_server(running_server: RunningServer) -> None:
    result = make("smoke", f"URL={running_server.mcp_url}", "AUTH=none", "PROFILE=")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "tools/list:" in result.stdout
    assert "smoke passed" in result.stdout


def test_make_smoke_fails_when_nothing_answers() -> None:
    result = make("smoke", "URL=http://127.0.0.1:9/mcp", "AUTH=none", "PROFILE=")

    assert result.returncode != 0
    assert "smoke failed:" in result.stderr


def test_make_synth_runs_the_real_cdk_cli_and_cfn_lint_passes() -> None:
    assert shutil.which("npx"), "npx is not on PATH: install Node.js 20 or newer for the CDK CLI"
    result = make("synth")

    assert result.returncode == 0, result.stdout + result.stderr
    template = PROJECT / "cdk.out" / f"{SETTINGS.name}.template.json"
    assert json.loads(template.read_text())["Resources"]
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    lint = subprocess.run(
        [cfn_lint, "--format", "parseable", template], capture_output=True, text=True
    )
    assert not [line for line in lint.stdout.splitlines() if ":E" in line], lint.stdout


def test_iam_smoke_signs_each_request_with_sigv4() -> None:
    credentials = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    url = "https://abc123.execute-api.us-east-1.amazonaws.com/mcp"
    seen: list[httpx2.Request] = []
    transport = httpx2.MockTransport(
        lambda request: seen.append(request) or httpx2.Response(200, json={})
    )
    with httpx2.Client(transport=transport, auth=SigV4(credentials, "us-east-1")) as client:
        client.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})

    (request,) = seen
    authorization = request.headers["authorization"]
    date = request.headers["x-amz-date"]
    assert authorization.startswith(
        f"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/{date[:8]}/us-east-1/execute-api/aws4_request"
    )
    # Recompute the signature over the same request with botocore: it must match exactly.
    replay = AWSRequest(
        method="POST",
        url=url,
        data=request.content,
        headers={
            "host": request.headers["host"],
            "content-type": request.headers["content-type"],
            "X-Amz-Date": date,
        },
    )
    replay.context["timestamp"] = date
    signer = SigV4Auth(credentials, "execute-api", "us-east-1")
    expected = signer.signature(
        signer.string_to_sign(replay, signer.canonical_request(replay)), replay
    )
    assert authorization.endswith(f"Signature={expected}")

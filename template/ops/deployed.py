"""Operations on the deployed stack for the Makefile: outputs, logs, secret-set, setting.

Every AWS call uses boto3 with deploy.toml's region and the chosen profile, so the same
code runs against a local stand-in when AWS_ENDPOINT_URL points at one (the tests do).

    python -m ops.deployed outputs [--format text|json]
    python -m ops.deployed logs [--since 10m] [--no-follow]
    python -m ops.deployed secret-set KEY          (the value comes from stdin or a prompt)
    python -m ops.deployed token                   (cognito: a machine access token)
    python -m ops.deployed user-add EMAIL          (cognito: invite a person)
    python -m ops.deployed setting stack|region|profile|platform|python
"""

from __future__ import annotations

import argparse
import base64
import getpass
import json
import re
import sys
import time
import urllib.parse
import urllib.request

import boto3
from botocore.exceptions import BotoCoreError, ClientError, ProfileNotFound

from infra.settings import DeployConfigError, DeploySettings, load_settings

PLATFORMS = {"arm64": "linux/arm64", "x86_64": "linux/amd64"}
DURATION = re.compile(r"(\d+)([smhd])")
SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
FOLLOW_POLL_SECONDS = 2


class OperationError(RuntimeError):
    """Something the user can fix; the message says what."""


def session(settings: DeploySettings, profile: str | None) -> boto3.Session:
    chosen = settings.profile if profile is None else profile
    try:
        return boto3.Session(profile_name=chosen or None, region_name=settings.region)
    except ProfileNotFound:
        raise OperationError(
            f"AWS profile {chosen!r} is not configured here: run `aws configure --profile {chosen}`, "
            "set [aws] profile in deploy.toml, or pass PROFILE= to use environment credentials"
        ) from None


def stack_outputs(settings: DeploySettings, aws: boto3.Session) -> dict[str, str]:
    try:
        stacks = aws.client("cloudformation").describe_stacks(StackName=settings.name)["Stacks"]
    except ClientError as error:
        if "does not exist" in str(error):
            raise OperationError(
                f"stack {settings.name} does not exist in {settings.region}: run make deploy first"
            ) from None
        raise
    return {output["OutputKey"]: output["OutputValue"] for output in stacks[0].get("Outputs", [])}


def show_outputs(settings: DeploySettings, aws: boto3.Session, output_format: str) -> None:
    outputs = stack_outputs(settings, aws)
    if output_format == "json":
        print(json.dumps(outputs, indent=2, sort_keys=True))
    else:
        for key in sorted(outputs):
            print(f"{key} = {outputs[key]}")


def show_logs(settings: DeploySettings, aws: boto3.Session, since: str, follow: bool) -> None:
    group = stack_outputs(settings, aws)["LogGroupName"]
    logs = aws.client("logs")
    start_ms = int((time.time() - parse_duration(since)) * 1000)
    seen: set[str] = set()
    while True:
        for page in logs.get_paginator("filter_log_events").paginate(
            logGroupName=group, startTime=start_ms
        ):
            for event in page["events"]:
                if event["eventId"] not in seen:
                    seen.add(event["eventId"])
                    start_ms = max(start_ms, event["timestamp"])
                    print(event["message"].rstrip("\n"), flush=True)
        if not follow:
            return
        time.sleep(FOLLOW_POLL_SECONDS)


def parse_duration(text: str) -> int:
    match = DURATION.fullmatch(text.strip())
    if not match:
        raise OperationError(
            f"SINCE={text!r} is not allowed: use a number and s, m, h or d, e.g. 10m"
        )
    return int(match[1]) * SECONDS[match[2]]


def set_secret(settings: DeploySettings, aws: boto3.Session, key: str) -> None:
    if key not in settings.secrets:
        declared = ", ".join(settings.secrets) or "none yet"
        raise OperationError(
            f"NAME={key!r} is not declared under [secrets] in deploy.toml (declared: {declared})"
        )
    name = settings.secrets[key]
    value = (
        sys.stdin.read().rstrip("\n") if not sys.stdin.isatty() else getpass.getpass(f"{name}: ")
    )
    if not value:
        raise OperationError("the secret value is empty: pipe it in or type it at the prompt")
    client = aws.client("secretsmanager")
    try:
        client.put_secret_value(SecretId=name, SecretString=value)
        print(f"updated {name}")
    except client.exceptions.ResourceNotFoundException:
        client.create_secret(Name=name, SecretString=value)
        print(f"created {name}")


def machine_token(settings: DeploySettings, aws: boto3.Session) -> str:
    """A Cognito access token for the machine client (client credentials grant)."""
    if settings.auth.provider != "cognito":
        raise OperationError(TOKEN_ELSEWHERE[settings.auth.provider])
    outputs = stack_outputs(settings, aws)
    client = aws.client("cognito-idp").describe_user_pool_client(
        UserPoolId=outputs["UserPoolId"], ClientId=outputs["MachineClientId"]
    )["UserPoolClient"]
    form = urllib.parse.urlencode(
        {"grant_type": "client_credentials", "scope": outputs["AuthScopes"]}
    ).encode()
    secret = base64.b64encode(f"{client['ClientId']}:{client['ClientSecret']}".encode()).decode()
    request = urllib.request.Request(
        outputs["TokenEndpoint"],
        data=form,
        headers={
            "Authorization": f"Basic {secret}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return json.loads(response.read())["access_token"]
    except (OSError, ValueError, KeyError) as error:
        raise OperationError(
            f"the token endpoint {outputs['TokenEndpoint']} refused: {error}"
        ) from None


TOKEN_ELSEWHERE = {
    "none": 'deploy.toml says [auth] provider = "none": the server needs no token',
    "oidc": "get an access token from your identity provider, for the audience in [auth]",
    "iam": 'with [auth] provider = "iam" requests are signed with SigV4; there is no token',
}


def add_user(settings: DeploySettings, aws: boto3.Session, email: str) -> None:
    if settings.auth.provider != "cognito":
        raise OperationError('user-add needs [auth] provider = "cognito" in deploy.toml')
    pool = stack_outputs(settings, aws)["UserPoolId"]
    aws.client("cognito-idp").admin_create_user(
        UserPoolId=pool,
        Username=email,
        UserAttributes=[
            {"Name": "email", "Value": email},
            {"Name": "email_verified", "Value": "true"},
        ],
        DesiredDeliveryMediums=["EMAIL"],
    )
    print(f"invited {email}: Cognito emails them a temporary password")


def setting(settings: DeploySettings, name: str) -> str:
    return {
        "stack": settings.name,
        "region": settings.region,
        "profile": settings.profile,
        "platform": PLATFORMS[settings.function.architecture],
    }[name]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m ops.deployed", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--profile", help="AWS profile; default deploy.toml's, '' for environment")
    commands = parser.add_subparsers(dest="command", required=True)
    outputs = commands.add_parser("outputs", help="print the stack outputs")
    outputs.add_argument("--format", choices=["text", "json"], default="text")
    logs = commands.add_parser("logs", help="print, then follow, the function's logs")
    logs.add_argument("--since", default="10m", help="how far back to start, e.g. 30s, 10m, 2h, 1d")
    logs.add_argument("--no-follow", dest="follow", action="store_false")
    secret = commands.add_parser("secret-set", help="store a value in a declared secret")
    secret.add_argument("key", help="a key under [secrets] in deploy.toml")
    commands.add_parser("token", help="print a machine access token (cognito)")
    user = commands.add_parser("user-add", help="invite a person to the user pool (cognito)")
    user.add_argument("email")
    value = commands.add_parser("setting", help="print one deploy.toml value for the Makefile")
    value.add_argument("name", choices=["stack", "region", "profile", "platform"])
    args = parser.parse_args(argv)

    try:
        settings = load_settings()
        if args.command == "setting":
            print(setting(settings, args.name))
            return
        aws = session(settings, args.profile)
        if args.command == "outputs":
            show_outputs(settings, aws, args.format)
        elif args.command == "logs":
            show_logs(settings, aws, args.since, args.follow)
        elif args.command == "token":
            print(machine_token(settings, aws))
        elif args.command == "user-add":
            add_user(settings, aws, args.email)
        else:
            set_secret(settings, aws, args.key)
    except (DeployConfigError, OperationError) as error:
        sys.exit(str(error))
    except (BotoCoreError, ClientError) as error:
        sys.exit(f"AWS refused {args.command}: {error}")
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()

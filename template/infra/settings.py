"""deploy.toml: its schema, its validation messages, and the typed settings the stack reads.

`load_settings()` either returns a complete `DeploySettings` or raises `DeployConfigError`
listing every problem, one line each, before anything is synthesized.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .rules import check_cross_field_rules
from .validation import (
    Field,
    Problem,
    SectionReader,
    boolean,
    list_of,
    one_of,
    table_of_values,
    text,
    whole_number,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# DEPLOY_FILE=deploy.staging.toml (with its own [server] name) deploys a second copy.
DEPLOY_FILE = PROJECT_ROOT / os.environ.get("DEPLOY_FILE", "deploy.toml")

# The only retention periods CloudWatch Logs accepts.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096)
LOG_RETENTION_DAYS += (1827, 2192, 2557, 2922, 3288, 3653)
# Lambda sets these itself; a function may not override them.
RESERVED_ENVIRONMENT = re.compile(
    r"_HANDLER|_X_AMZN_TRACE_ID|AWS_(REGION|DEFAULT_REGION|EXECUTION_ENV|ACCESS_KEY|ACCESS_KEY_ID"
    r"|SECRET_ACCESS_KEY|SESSION_TOKEN|LAMBDA_\w+|XRAY_\w+)|LAMBDA_TASK_ROOT|LAMBDA_RUNTIME_DIR"
)
# The Lambda Web Adapter's own settings, which the Dockerfile owns: RUST_LOG=debug would
# make it log every request's Authorization header.
ADAPTER_ENVIRONMENT = re.compile(r"RUST_LOG|AWS_LWA_\w+")
# What the stack sets from [auth]: set here, it would bypass what [auth] says.
AUTH_ENVIRONMENT = re.compile(r"AUTH_\w+|MCP_AUTH_\w+|MCP_RESOURCE_URL")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
SECRET_KEY = re.compile(r"[a-z][a-z0-9_]{0,63}")
SECRET_NAME = re.compile(r"[A-Za-z0-9/_+=.@-]{1,512}")
SCOPE = re.compile(r"[A-Za-z0-9_-]+/[A-Za-z0-9_.-]+")
SLUG_RULE = "lowercase letters, digits and hyphens, starting with a letter, at most 64 characters"
CALLBACK_RULE = "https:// URLs, or http://localhost or http://127.0.0.1 ones for local clients"
DOMAIN_RULE = 'lowercase letters, digits and hyphens, at most 50, not starting or ending with -; "" for the server name'
ORIGIN_RULE = '"*" or origins like "https://app.example.com"'
VPC_ID_RULE = 'a VPC id like "vpc-0123456789abcdef0"'
SUBNET_RULE = 'subnet ids like "subnet-0123456789abcdef0"'
SECURITY_GROUP_RULE = 'security group ids like "sg-0123456789abcdef0"'
DNS_NAME = r"(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}"
DOMAIN_NAME_RULE = 'a lowercase domain name like "mcp.example.com"'
CERTIFICATE_RULE = (
    'an ACM certificate ARN like "arn:aws:acm:us-east-1:123456789012:certificate/<id>"'
)
ENDPOINT_RULE = 'AWS service names for interface endpoints, e.g. "secretsmanager"'
# An account id, or an ARN pattern (* matches any run of characters) of what API Gateway
# names as the caller: an IAM user, or a role's session, never the role itself.
PRINCIPAL = (
    r"\d{12}|arn:aws[a-z-]*:(iam::(\d{12}|\*):user|sts::(\d{12}|\*):assumed-role)"
    r"/[A-Za-z0-9_+=.@/*-]+"
)
PRINCIPAL_RULE = (
    'account ids like "123456789012", or ARN patterns of IAM users like '
    '"arn:aws:iam::123456789012:user/*" or of role sessions like '
    '"arn:aws:sts::123456789012:assumed-role/<role name>/*" (a role calls as its session)'
)


def _aws_id(prefix: str) -> str:
    """An EC2 resource id: the prefix, then 8 (older) or 17 hex digits."""
    return rf"{prefix}-(?:[0-9a-f]{{8}}|[0-9a-f]{{17}})"


SCHEMA: dict[str, dict[str, Field]] = {
    "target": {"type": Field(one_of("aws-lambda"), "aws-lambda")},
    "server": {
        "name": Field(
            text(r"[a-z][a-z0-9-]{0,63}", SLUG_RULE),
            hint='add name = "my-server"; it names the stack and the function',
        ),
        "description": Field(text(r"[^\n]{0,256}", "one line of at most 256 characters"), ""),
    },
    "aws": {
        "region": Field(
            text(r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}", "a region name such as us-east-1"),
            hint='add region = "us-east-1"',
        ),
        "profile": Field(
            text(r"[A-Za-z0-9_.+@-]{0,64}", 'an AWS CLI profile name, or "" for the environment'),
            "",
        ),
    },
    "lambda": {
        "memory_mb": Field(whole_number(128, 10240), 512),
        "timeout_seconds": Field(whole_number(1, 900), 29),
        "architecture": Field(one_of("arm64", "x86_64"), "arm64"),
        "reserved_concurrency": Field(whole_number(1, 10000), None),
        "provisioned_concurrency": Field(whole_number(0, 10000), 0),
        "environment": Field(lambda table: table, {}),
    },
    "api_gateway": {
        "type": Field(one_of("http", "rest"), "http"),
        "throttling_rate": Field(whole_number(1, 10000), 100),
        "throttling_burst": Field(whole_number(1, 5000), 200),
        "cors_origins": Field(
            list_of(text(r"\*|https?://[^/\s]+", ORIGIN_RULE), ORIGIN_RULE),
            ["*"],
        ),
    },
    "observability": {
        "tracing": Field(boolean, True),
        "log_retention_days": Field(one_of(*LOG_RETENTION_DAYS), 30),
        "alarms": Field(boolean, False),
        "alarm_email": Field(text(r"|[^@\s]+@[^@\s]+\.[^@\s]+", 'an address, or ""'), ""),
    },
    "auth": {
        "provider": Field(one_of("none", "cognito", "oidc", "iam"), "none"),
        "scopes": Field(
            list_of(text(SCOPE.pattern, "resource/scope, e.g. mcp/tools"), "scopes like mcp/tools"),
            ["mcp/tools"],
        ),
        # oidc: the issuer and audience of your own identity provider.
        "issuer": Field(text(r"|https://[^\s/]+(/[^\s]*)?", "an https:// issuer URL"), ""),
        "audience": Field(text(r"[^\s]{0,256}", "the audience (aud) tokens carry"), ""),
        # cognito: the app clients, the sign-in domain and the tokens.
        "callback_urls": Field(
            list_of(
                text(r"https://\S+|http://(localhost|127\.0\.0\.1)(:\d+)?/\S*", CALLBACK_RULE),
                CALLBACK_RULE,
            ),
            ["http://localhost:6274/oauth/callback", "http://localhost:6274/oauth/callback/debug"],
        ),
        "access_token_minutes": Field(whole_number(5, 1440), 60),
        "refresh_token_days": Field(whole_number(1, 3650), 30),
        "mfa": Field(one_of("off", "optional", "required"), "optional"),
        "domain_prefix": Field(text(r"|[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?", DOMAIN_RULE), ""),
        "protect_user_pool": Field(boolean, False),
        # iam: the signed callers the server accepts; [] accepts any the gateway let through.
        "allowed_principals": Field(list_of(text(PRINCIPAL, PRINCIPAL_RULE), PRINCIPAL_RULE), []),
    },
    "vpc": {
        "mode": Field(one_of("none", "existing", "new"), "none"),
        # existing: your VPC, its private subnets, and security groups to add to the function's.
        "vpc_id": Field(text(rf"|{_aws_id('vpc')}", VPC_ID_RULE), ""),
        "subnet_ids": Field(list_of(text(_aws_id("subnet"), SUBNET_RULE), SUBNET_RULE), []),
        "security_group_ids": Field(
            list_of(text(_aws_id("sg"), SECURITY_GROUP_RULE), SECURITY_GROUP_RULE), []
        ),
        # new: how private subnets reach AWS and the internet.
        "egress": Field(one_of("nat", "endpoints"), "nat"),
        "endpoints": Field(
            list_of(text(r"[a-z0-9][a-z0-9.-]{0,62}", ENDPOINT_RULE), ENDPOINT_RULE),
            ["secretsmanager"],
        ),
        # A database the function may reach: a port and a CIDR and/or a security group.
        "database_port": Field(whole_number(1, 65535), 5432),
        "database_cidr": Field(text(r"|[0-9./]{9,18}", 'an IPv4 CIDR like "10.0.0.0/16"'), ""),
        "database_security_group_id": Field(
            text(rf"|{_aws_id('sg')}", 'a security group id like "sg-0123456789abcdef0"'), ""
        ),
    },
    "domain": {
        "mode": Field(one_of("none", "certificate", "hosted-zone"), "none"),
        "name": Field(text(rf"|{DNS_NAME}", DOMAIN_NAME_RULE), ""),
        # certificate: yours, from ACM in the stack's region.
        "certificate_arn": Field(
            text(
                r"|arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]{36}", CERTIFICATE_RULE
            ),
            "",
        ),
        # hosted-zone: your Route 53 zone, where the stack validates a certificate and points the name.
        "hosted_zone_id": Field(
            text(r"|Z[A-Z0-9]{1,31}", 'a Route 53 zone id like "Z0123456789ABCDEFGHIJ"'), ""
        ),
        "hosted_zone_name": Field(
            text(rf"|{DNS_NAME}", 'the zone\'s domain, e.g. "example.com"'), ""
        ),
    },
    "smoke": {
        "tool": Field(text(r"[A-Za-z0-9_.-]{0,128}", 'a tool name, or "" to only list tools'), ""),
        "arguments": Field(table_of_values, {}),
    },
}
OPTIONAL_SECTIONS = ("secrets",)
# Keys this file no longer has, and where each went; `copier update` removes them unless edited.
MOVED = {("lambda", "python_version"): "it moved to the Dockerfile's FROM line"}


class DeployConfigError(ValueError):
    """deploy.toml has problems; str() lists each on its own line."""

    def __init__(self, path: Path, problems: list[Problem | str]) -> None:
        self.problems = [f"{path.name}: {problem}" for problem in problems]
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class FunctionSettings:
    memory_mb: int
    timeout_seconds: int
    architecture: str
    reserved_concurrency: int | None
    provisioned_concurrency: int
    environment: dict[str, str]


@dataclass(frozen=True)
class ApiSettings:
    type: str
    throttling_rate: int
    throttling_burst: int
    cors_origins: tuple[str, ...]


@dataclass(frozen=True)
class ObservabilitySettings:
    tracing: bool
    log_retention_days: int
    alarms: bool
    alarm_email: str


@dataclass(frozen=True)
class AuthSettings:
    """Who may call /mcp; see the [auth] comments in deploy.toml."""

    provider: str
    scopes: tuple[str, ...]
    issuer: str
    audience: str
    callback_urls: tuple[str, ...]
    access_token_minutes: int
    refresh_token_days: int
    mfa: str
    domain_prefix: str
    protect_user_pool: bool
    allowed_principals: tuple[str, ...]


@dataclass(frozen=True)
class VpcSettings:
    """Where the function runs; see the [vpc] comments in deploy.toml."""

    mode: str
    vpc_id: str
    subnet_ids: tuple[str, ...]
    security_group_ids: tuple[str, ...]
    egress: str
    endpoints: tuple[str, ...]
    database_port: int
    database_cidr: str
    database_security_group_id: str

    @property
    def opens_database(self) -> bool:
        return bool(self.database_cidr or self.database_security_group_id)


@dataclass(frozen=True)
class DomainSettings:
    """The API's own address; see the [domain] comments in deploy.toml."""

    mode: str
    name: str
    certificate_arn: str
    hosted_zone_id: str
    hosted_zone_name: str


@dataclass(frozen=True)
class SmokeSettings:
    """What `make smoke` calls after listing the tools."""

    tool: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class DeploySettings:
    name: str
    description: str
    region: str
    profile: str
    function: FunctionSettings
    api: ApiSettings
    observability: ObservabilitySettings
    auth: AuthSettings
    vpc: VpcSettings
    domain: DomainSettings
    smoke: SmokeSettings
    # Logical key (what the code asks for) -> Secrets Manager secret name.
    secrets: dict[str, str]


def load_settings(path: Path = DEPLOY_FILE) -> DeploySettings:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DeployConfigError(path, ["not found; it is written by copier copy"]) from None
    except tomllib.TOMLDecodeError as error:
        raise DeployConfigError(path, [f"not valid TOML: {error}"]) from None
    return parse_settings(document, path)


def parse_settings(document: dict[str, Any], path: Path = DEPLOY_FILE) -> DeploySettings:
    problems: list[Problem | str] = []
    found: list[Problem] = []
    for section in document:
        if section not in SCHEMA and section not in OPTIONAL_SECTIONS:
            known = ", ".join(f"[{name}]" for name in (*SCHEMA, *OPTIONAL_SECTIONS))
            problems.append(f"[{section}] is not a known section: use {known}")
    tables = {section: document.get(section, {}) for section in SCHEMA}
    for (section, key), where in MOVED.items():
        if isinstance(tables[section], dict) and key in tables[section]:
            found.append(Problem(section, key, tables[section][key], f"{where}; delete it here"))
            tables[section] = {k: v for k, v in tables[section].items() if k != key}
    values = {
        section: SectionReader(section, tables[section], found).read(fields)
        for section, fields in SCHEMA.items()
    }
    environment = _environment(values["lambda"]["environment"], found)
    secrets = _secrets(document.get("secrets", {}), found)
    check_cross_field_rules(values, secrets, found)
    problems.extend(found)
    if problems:
        raise DeployConfigError(path, problems)

    function = {**values["lambda"], "environment": environment}
    return DeploySettings(
        name=values["server"]["name"],
        description=values["server"]["description"],
        region=values["aws"]["region"],
        profile=values["aws"]["profile"],
        function=FunctionSettings(**function),
        api=ApiSettings(**values["api_gateway"]),
        observability=ObservabilitySettings(**values["observability"]),
        auth=AuthSettings(
            **{
                **values["auth"],
                "domain_prefix": values["auth"]["domain_prefix"] or values["server"]["name"],
            }
        ),
        vpc=VpcSettings(**values["vpc"]),
        domain=DomainSettings(**values["domain"]),
        smoke=SmokeSettings(**values["smoke"]),
        secrets=secrets,
    )


def _environment(table: Any, problems: list[Problem]) -> dict[str, str]:
    section = "lambda.environment"
    if not isinstance(table, dict):
        problems.append(Problem(section, "", table, 'it must be a table of NAME = "value"'))
        return {}
    for name, value in table.items():
        if not ENV_NAME.fullmatch(name) or RESERVED_ENVIRONMENT.fullmatch(name):
            allowed = "use letters, digits and _ and not a name Lambda reserves (AWS_REGION, ...)"
            problems.append(Problem(section, name, value, f"the name is not allowed: {allowed}"))
        elif AUTH_ENVIRONMENT.fullmatch(name):
            allowed = "the stack sets it from [auth]; change [auth] instead"
            problems.append(Problem(section, name, value, allowed))
        elif ADAPTER_ENVIRONMENT.fullmatch(name):
            why = "it configures the Lambda Web Adapter, set in the Dockerfile; RUST_LOG=debug "
            problems.append(Problem(section, name, value, why + "logs every Authorization header"))
        elif not isinstance(value, str):
            problems.append(Problem(section, name, value, f'use a string, e.g. "{value}"'))
    return dict(table)


def _secrets(table: Any, problems: list[Problem]) -> dict[str, str]:
    if not isinstance(table, dict):
        problems.append(Problem("secrets", "", table, 'it must be a table of key = "secret name"'))
        return {}
    for key, name in table.items():
        if not SECRET_KEY.fullmatch(key):
            allowed = "keys are lowercase letters, digits and _, starting with a letter"
            problems.append(Problem("secrets", key, name, allowed))
        elif not isinstance(name, str) or not SECRET_NAME.fullmatch(name):
            allowed = "use a Secrets Manager name: 1-512 of letters, digits and /_+=.@-"
            problems.append(Problem("secrets", key, name, allowed))
    return dict(table)

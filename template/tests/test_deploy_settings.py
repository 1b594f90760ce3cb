"""deploy.toml is checked before anything is synthesized; each mistake gets one clear line."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path

import pytest

from infra.settings import DEPLOY_FILE, DeployConfigError, load_settings, parse_settings

SHIPPED = tomllib.loads(DEPLOY_FILE.read_text(encoding="utf-8"))
# Tests start from the shipped file without its [vpc] and [domain]: the answers may have chosen
# a network that rules out providers the tests switch to. The VPC and domain tests set their own.
BASE = {**SHIPPED, "vpc": {}, "domain": {}}


def with_change(section: str, key: str, value: object) -> dict:
    document = copy.deepcopy(BASE)
    table = document
    for part in section.split("."):
        table = table.setdefault(part, {})
    table[key] = value
    return document


def problems_of(document: dict) -> list[str]:
    with pytest.raises(DeployConfigError) as refused:
        parse_settings(document)
    return refused.value.problems


def test_the_shipped_file_is_valid() -> None:
    settings = load_settings()

    assert settings.name == SHIPPED["server"]["name"]
    assert settings.function.memory_mb == SHIPPED["lambda"]["memory_mb"]
    assert settings.api.type == SHIPPED["api_gateway"]["type"]


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        (
            "lambda",
            "memory_mb",
            64,
            "deploy.toml: [lambda] memory_mb = 64 is not allowed: use a whole number from 128 to 10240",
        ),
        (
            "lambda",
            "memory_mb",
            "512",
            'deploy.toml: [lambda] memory_mb = "512" is not allowed: use a whole number from 128',
        ),
        (
            "lambda",
            "architecture",
            "arm",
            'deploy.toml: [lambda] architecture = "arm" is not allowed: use one of "arm64", "x86_64"',
        ),
        (
            "lambda",
            "memroy_mb",
            512,
            "deploy.toml: [lambda] memroy_mb = 512 is not allowed: it is not a known key; use memory_mb",
        ),
        (
            "aws",
            "region",
            "mars-1",
            'deploy.toml: [aws] region = "mars-1" is not allowed: use a region name such as us-east-1',
        ),
        (
            "observability",
            "tracing",
            "yes",
            'deploy.toml: [observability] tracing = "yes" is not allowed: use true or false',
        ),
        (
            "observability",
            "log_retention_days",
            2,
            "deploy.toml: [observability] log_retention_days = 2 is not allowed: use one of 1, 3, 5",
        ),
        (
            "api_gateway",
            "cors_origins",
            ["https://a.example/path"],
            'cors_origins = ["https://a.example/path"] is not allowed: entry "https://a.example/path" is wrong: use "*" or',
        ),
        (
            "lambda.environment",
            "AWS_REGION",
            "eu-west-1",
            '[lambda.environment] AWS_REGION = "eu-west-1" is not allowed: the name is not allowed',
        ),
        (
            "lambda.environment",
            "RUST_LOG",
            "debug",
            '[lambda.environment] RUST_LOG = "debug" is not allowed: it configures the Lambda '
            "Web Adapter, set in the Dockerfile; RUST_LOG=debug logs every Authorization header",
        ),
        (
            "lambda.environment",
            "AUTH_PROVIDER",
            "none",
            '[lambda.environment] AUTH_PROVIDER = "none" is not allowed: the stack sets it from '
            "[auth]; change [auth] instead",
        ),
        (
            "lambda.environment",
            "AWS_LWA_PORT",
            "9000",
            '[lambda.environment] AWS_LWA_PORT = "9000" is not allowed: it configures the Lambda',
        ),
        (
            "lambda.environment",
            "DEBUG",
            True,
            '[lambda.environment] DEBUG = true is not allowed: use a string, e.g. "True"',
        ),
        (
            "secrets",
            "Database",
            "app/db",
            '[secrets] Database = "app/db" is not allowed: keys are lowercase letters',
        ),
    ],
)
def test_a_bad_value_is_named_with_what_is_allowed(
    section: str, key: str, value: object, message: str
) -> None:
    problems = problems_of(with_change(section, key, value))

    assert len(problems) == 1
    assert message in problems[0]


def test_timeout_must_fit_the_api_type() -> None:
    document = with_change("lambda", "timeout_seconds", 60)
    document["api_gateway"]["type"] = "http"

    assert problems_of(document) == [
        'deploy.toml: [lambda] timeout_seconds = 60 is not allowed: [api_gateway] type = "http" '
        "stops waiting after 30 s; use 1 to 30"
    ]


def test_provisioned_concurrency_fits_inside_the_reservation() -> None:
    document = with_change("lambda", "reserved_concurrency", 2)
    document["lambda"]["provisioned_concurrency"] = 3

    assert problems_of(document) == [
        "deploy.toml: [lambda] provisioned_concurrency = 3 is not allowed: "
        "use at most reserved_concurrency (2)"
    ]


def test_alarm_email_needs_alarms() -> None:
    document = with_change("observability", "alarm_email", "ops@example.com")
    document["observability"]["alarms"] = False

    assert "set alarms = true too" in problems_of(document)[0]


def test_unknown_section_and_missing_key_are_both_reported() -> None:
    document = copy.deepcopy(BASE)
    document["lamda"] = {"memory_mb": 512}
    del document["aws"]["region"]

    assert problems_of(document) == [
        "deploy.toml: [lamda] is not a known section: use [target], [server], [aws], [lambda], "
        "[api_gateway], [observability], [auth], [vpc], [domain], [smoke], [secrets]",
        'deploy.toml: [aws] region is missing: add region = "us-east-1"',
    ]


def test_python_version_of_an_older_file_is_refused_once_and_points_to_the_dockerfile() -> None:
    assert problems_of(with_change("lambda", "python_version", "3.13")) == [
        'deploy.toml: [lambda] python_version = "3.13" is not allowed: '
        "it moved to the Dockerfile's FROM line; delete it here"
    ]


def test_broken_toml_names_the_line(tmp_path: Path) -> None:
    broken = tmp_path / "deploy.toml"
    broken.write_text("[lambda]\nmemory_mb = 512 MB\n", encoding="utf-8")

    with pytest.raises(DeployConfigError, match=r"deploy.toml: not valid TOML: .*line 2"):
        load_settings(broken)


def test_oidc_needs_an_issuer_and_an_audience() -> None:
    document = copy.deepcopy(BASE)
    document["auth"] = {"provider": "oidc"}
    document["api_gateway"]["type"] = "http"

    assert problems_of(document) == [
        'deploy.toml: [auth] issuer = "" is not allowed: provider = "oidc" needs it, e.g. "https://login.example.com/"',
        'deploy.toml: [auth] audience = "" is not allowed: provider = "oidc" needs it, e.g. "my-mcp-server"',
    ]


def test_oidc_is_allowed_behind_either_api_type() -> None:
    document = copy.deepcopy(BASE)
    document["auth"] = {"provider": "oidc", "issuer": "https://login.example.com/", "audience": "a"}
    for api_type in ("http", "rest"):
        document["api_gateway"]["type"] = api_type
        settings = parse_settings(document)

        assert (settings.api.type, settings.auth.provider) == (api_type, "oidc")


def test_iam_allowed_principals_are_account_ids_or_arn_patterns() -> None:
    principals = [
        "123456789012",
        "arn:aws:iam::123456789012:user/ci",
        "arn:aws:sts::*:assumed-role/my-server-ci-DeployRole*/*",
    ]
    document = copy.deepcopy(BASE)
    document["auth"] = {"provider": "iam", "allowed_principals": principals}

    assert parse_settings(document).auth.allowed_principals == tuple(principals)


@pytest.mark.parametrize(
    ("provider", "principal", "message"),
    [
        (
            "iam",
            "1234",
            '[auth] allowed_principals = ["1234"] is not allowed: entry "1234" is wrong: '
            'use account ids like "123456789012", or ARN patterns of IAM users',
        ),
        (
            "iam",
            "arn:aws:s3:::bucket",
            'entry "arn:aws:s3:::bucket" is wrong: use account ids like "123456789012"',
        ),
        (
            "iam",
            "arn:aws:iam::123456789012:role/ci",
            'entry "arn:aws:iam::123456789012:role/ci" is wrong: use account ids like '
            '"123456789012", or ARN patterns of IAM users like "arn:aws:iam::123456789012:user/*" '
            'or of role sessions like "arn:aws:sts::123456789012:assumed-role/<role name>/*" '
            "(a role calls as its session)",
        ),
        (
            "iam",
            "arn:aws:iam::123456789012:user/ci?",
            'entry "arn:aws:iam::123456789012:user/ci?" is wrong',
        ),
        (
            "cognito",
            "123456789012",
            '[auth] allowed_principals = ["123456789012"] is not allowed: it names AWS callers, '
            'which only provider = "iam" checks (provider is "cognito"): remove it',
        ),
    ],
)
def test_bad_allowed_principals_are_named(provider: str, principal: str, message: str) -> None:
    document = copy.deepcopy(BASE)
    document["auth"] = {"provider": provider, "allowed_principals": [principal]}

    problems = problems_of(document)

    assert len(problems) == 1
    assert message in problems[0]


def test_cognito_domain_prefix_avoids_reserved_words() -> None:
    document = copy.deepcopy(BASE)
    document["auth"] = {"provider": "cognito", "domain_prefix": "my-aws-tools"}

    assert "Cognito refuses domain prefixes containing aws" in problems_of(document)[0]


def test_cognito_scopes_share_one_resource_server() -> None:
    document = copy.deepcopy(BASE)
    document["auth"] = {"provider": "cognito", "scopes": ["mcp/tools", "other/read"]}

    assert "Cognito scopes share one resource server" in problems_of(document)[0]


EXISTING_VPC = {
    "mode": "existing",
    "vpc_id": "vpc-0123456789abcdef0",
    "subnet_ids": ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"],
}


def with_vpc(vpc: dict, **sections: dict) -> dict:
    document = copy.deepcopy(BASE)
    document["vpc"] = vpc
    document.update(copy.deepcopy(sections))
    return document


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            with_vpc({**EXISTING_VPC, "subnet_ids": ["subnet-123"]}),
            'deploy.toml: [vpc] subnet_ids = ["subnet-123"] is not allowed: entry "subnet-123" is '
            'wrong: use subnet ids like "subnet-0123456789abcdef0"',
        ),
        (
            with_vpc({**EXISTING_VPC, "vpc_id": "vpc-XYZ"}),
            'deploy.toml: [vpc] vpc_id = "vpc-XYZ" is not allowed: use a VPC id like '
            '"vpc-0123456789abcdef0"',
        ),
        (
            with_vpc({**EXISTING_VPC, "security_group_ids": ["sg-1"]}),
            'deploy.toml: [vpc] security_group_ids = ["sg-1"] is not allowed: entry "sg-1" is '
            'wrong: use security group ids like "sg-0123456789abcdef0"',
        ),
        (
            with_vpc({"mode": "existing", "subnet_ids": EXISTING_VPC["subnet_ids"]}),
            'deploy.toml: [vpc] vpc_id = "" is not allowed: mode = "existing" needs your VPC id, '
            'e.g. "vpc-0123456789abcdef0"',
        ),
        (
            with_vpc({"mode": "existing", "vpc_id": EXISTING_VPC["vpc_id"]}),
            'deploy.toml: [vpc] subnet_ids = [] is not allowed: mode = "existing" needs its '
            "private subnet ids, one per AZ, e.g. two",
        ),
        (
            with_vpc({"mode": "new", "vpc_id": "vpc-0123456789abcdef0"}),
            'deploy.toml: [vpc] vpc_id = "vpc-0123456789abcdef0" is not allowed: it is for '
            'mode = "existing" (mode is "new"): remove it',
        ),
        (
            with_vpc({"mode": "none", "database_cidr": "10.0.0.0/16"}),
            'deploy.toml: [vpc] database_cidr = "10.0.0.0/16" is not allowed: a database port '
            'needs the function in a VPC: set mode = "existing" or "new"',
        ),
        (
            with_vpc({**EXISTING_VPC, "database_cidr": "10.0.0.1/16"}),
            'deploy.toml: [vpc] database_cidr = "10.0.0.1/16" is not allowed: use an IPv4 CIDR '
            'like "10.0.0.0/16"',
        ),
        (
            with_vpc({**EXISTING_VPC, "database_port": 70000}),
            "deploy.toml: [vpc] database_port = 70000 is not allowed: use a whole number from 1 "
            "to 65535",
        ),
        (
            with_vpc({"mode": "new", "egress": "endpoints"}, auth={"provider": "cognito"}),
            'deploy.toml: [vpc] egress = "endpoints" is not allowed: the server fetches the '
            "cognito issuer's signing keys over the internet, and private subnets with only "
            'endpoints have no route there: use egress = "nat"',
        ),
        (
            with_vpc(
                {"mode": "new", "egress": "endpoints", "endpoints": ["logs"]},
                auth={"provider": "iam"},
                secrets={"database": "app/database"},
            ),
            'deploy.toml: [vpc] endpoints = ["logs"] is not allowed: the function reads '
            '[secrets] through Secrets Manager: add "secretsmanager"',
        ),
        (
            with_vpc({"mode": "new", "egress": "internet"}),
            'deploy.toml: [vpc] egress = "internet" is not allowed: use one of "nat", "endpoints"',
        ),
    ],
)
def test_vpc_mistakes_are_named(document: dict, message: str) -> None:
    assert problems_of(document) == [message]


def test_a_complete_vpc_section_is_read() -> None:
    document = with_vpc(
        {
            **EXISTING_VPC,
            "security_group_ids": ["sg-0123456789abcdef0"],
            "database_security_group_id": "sg-0fedcba9876543210",
        }
    )
    vpc = parse_settings(document).vpc

    assert (vpc.mode, vpc.vpc_id, vpc.subnet_ids) == (
        "existing",
        "vpc-0123456789abcdef0",
        tuple(EXISTING_VPC["subnet_ids"]),
    )
    assert vpc.opens_database and vpc.database_port == 5432


CERTIFICATE_ARN = (
    "arn:aws:acm:{region}:123456789012:certificate/12345678-1234-1234-1234-123456789012"
)


def with_domain(domain: dict) -> dict:
    document = copy.deepcopy(BASE)
    document["domain"] = domain
    return document


@pytest.mark.parametrize(
    ("domain", "message"),
    [
        (
            {"mode": "certificate", "name": "mcp.example.com"},
            'deploy.toml: [domain] certificate_arn = "" is not allowed: mode = "certificate" '
            'needs it, e.g. "arn:aws:acm:<region>:<account>:certificate/<id>"',
        ),
        (
            {"mode": "certificate", "name": "mcp.example.com", "certificate_arn": "arn:aws:acm:x"},
            'deploy.toml: [domain] certificate_arn = "arn:aws:acm:x" is not allowed: use an ACM '
            'certificate ARN like "arn:aws:acm:us-east-1:123456789012:certificate/<id>"',
        ),
        (
            {
                "mode": "certificate",
                "name": "mcp.example.com",
                "certificate_arn": CERTIFICATE_ARN.format(region="eu-central-1"),
            },
            f'deploy.toml: [domain] certificate_arn = "{CERTIFICATE_ARN.format(region="eu-central-1")}"'
            f" is not allowed: the API is regional, so its certificate must be in [aws] region "
            f'"{SHIPPED["aws"]["region"]}": request or import one there',
        ),
        (
            {
                "mode": "hosted-zone",
                "name": "MCP.example.com",
                "hosted_zone_id": "Z0123456789ABCDEFGHIJ",
                "hosted_zone_name": "example.com",
            },
            'deploy.toml: [domain] name = "MCP.example.com" is not allowed: use a lowercase domain '
            'name like "mcp.example.com"',
        ),
        (
            {
                "mode": "hosted-zone",
                "name": "mcp.example.org",
                "hosted_zone_id": "Z0123456789ABCDEFGHIJ",
                "hosted_zone_name": "example.com",
            },
            'deploy.toml: [domain] name = "mcp.example.org" is not allowed: the name must be in '
            'the zone "example.com", e.g. "mcp.example.com"',
        ),
        (
            {
                "mode": "hosted-zone",
                "name": "mcp.example.com",
                "hosted_zone_id": "zone-1",
                "hosted_zone_name": "example.com",
            },
            'deploy.toml: [domain] hosted_zone_id = "zone-1" is not allowed: use a Route 53 zone id '
            'like "Z0123456789ABCDEFGHIJ"',
        ),
        (
            {"mode": "none", "name": "mcp.example.com"},
            'deploy.toml: [domain] name = "mcp.example.com" is not allowed: it is for mode = '
            '"certificate" or "hosted-zone" (mode is "none"): remove it',
        ),
    ],
)
def test_domain_mistakes_are_named(domain: dict, message: str) -> None:
    assert problems_of(with_domain(domain)) == [message]


def test_a_certificate_in_the_stacks_region_is_accepted() -> None:
    region = SHIPPED["aws"]["region"]
    domain = {
        "mode": "certificate",
        "name": "mcp.example.com",
        "certificate_arn": CERTIFICATE_ARN.format(region=region),
    }

    assert parse_settings(with_domain(domain)).domain.certificate_arn.split(":")[3] == region

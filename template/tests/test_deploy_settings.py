"""deploy.toml is checked before anything is synthesized; each mistake gets one clear line."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path

import pytest

from infra.settings import DEPLOY_FILE, DeployConfigError, load_settings, parse_settings

SHIPPED = tomllib.loads(DEPLOY_FILE.read_text(encoding="utf-8"))


def with_change(section: str, key: str, value: object) -> dict:
    document = copy.deepcopy(SHIPPED)
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
            'cors_origins = ["https://a.example/path"] is not allowed: each entry must be "*" or',
        ),
        (
            "lambda.environment",
            "AWS_REGION",
            "eu-west-1",
            '[lambda.environment] AWS_REGION = "eu-west-1" is not allowed: the name is not allowed',
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
    document = copy.deepcopy(SHIPPED)
    document["lamda"] = {"memory_mb": 512}
    del document["aws"]["region"]

    assert problems_of(document) == [
        "deploy.toml: [lamda] is not a known section: use [target], [server], [aws], [lambda], "
        "[api_gateway], [observability], [auth], [smoke], [secrets]",
        'deploy.toml: [aws] region is missing: add region = "us-east-1"',
    ]


def test_broken_toml_names_the_line(tmp_path: Path) -> None:
    broken = tmp_path / "deploy.toml"
    broken.write_text("[lambda]\nmemory_mb = 512 MB\n", encoding="utf-8")

    with pytest.raises(DeployConfigError, match=r"deploy.toml: not valid TOML: .*line 2"):
        load_settings(broken)


def test_oidc_needs_an_issuer_and_an_audience() -> None:
    document = copy.deepcopy(SHIPPED)
    document["auth"] = {"provider": "oidc"}
    document["api_gateway"]["type"] = "http"

    assert problems_of(document) == [
        'deploy.toml: [auth] issuer = "" is not allowed: provider = "oidc" needs it, e.g. "https://login.example.com/"',
        'deploy.toml: [auth] audience = "" is not allowed: provider = "oidc" needs it, e.g. "my-mcp-server"',
    ]


def test_oidc_is_allowed_behind_either_api_type() -> None:
    document = copy.deepcopy(SHIPPED)
    document["auth"] = {"provider": "oidc", "issuer": "https://login.example.com/", "audience": "a"}
    for api_type in ("http", "rest"):
        document["api_gateway"]["type"] = api_type
        settings = parse_settings(document)

        assert (settings.api.type, settings.auth.provider) == (api_type, "oidc")


def test_cognito_domain_prefix_avoids_reserved_words() -> None:
    document = copy.deepcopy(SHIPPED)
    document["auth"] = {"provider": "cognito", "domain_prefix": "my-aws-tools"}

    assert "Cognito refuses domain prefixes containing aws" in problems_of(document)[0]


def test_cognito_scopes_share_one_resource_server() -> None:
    document = copy.deepcopy(SHIPPED)
    document["auth"] = {"provider": "cognito", "scopes": ["mcp/tools", "other/read"]}

    assert "Cognito scopes share one resource server" in problems_of(document)[0]

"""`make ci-role`'s stack: the role GitHub Actions deploys with, trusted for one repository."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from aws_cdk.assertions import Annotations, Match, Template

from infra import ci_role
from infra.settings import load_settings

REPOSITORY = "octo-org/weather-mcp"
PROVIDER_ARN = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
PROJECT = Path(__file__).resolve().parent.parent


def synthesize(tmp_path: Path, provider_arn: str = "") -> tuple[Template, Annotations, Path]:
    app = ci_role.build_app(load_settings(), REPOSITORY, provider_arn, outdir=str(tmp_path))
    (stack,) = app.node.children
    app.synth()
    return (
        Template.from_stack(stack),
        Annotations.from_stack(stack),
        tmp_path / f"{stack.stack_name}.template.json",
    )


def test_only_this_repositorys_production_jobs_may_assume_the_role(tmp_path: Path) -> None:
    template, _, _ = synthesize(tmp_path)

    template.has_resource_properties(
        "AWS::IAM::OIDCProvider",
        {
            "Url": "https://token.actions.githubusercontent.com",
            "ClientIdList": ["sts.amazonaws.com"],
        },
    )
    template.has_resource_properties(
        "AWS::IAM::Role",
        {
            "MaxSessionDuration": 3600,
            "AssumeRolePolicyDocument": {
                "Statement": [
                    Match.object_like(
                        {
                            "Action": "sts:AssumeRoleWithWebIdentity",
                            "Condition": {
                                "StringEquals": {
                                    "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
                                    "token.actions.githubusercontent.com:sub": (
                                        f"repo:{REPOSITORY}:environment:production"
                                    ),
                                }
                            },
                        }
                    )
                ]
            },
        },
    )
    assert "DeployRoleArn" in template.find_outputs("*")


def test_the_role_can_deploy_and_smoke_test_and_nothing_more(tmp_path: Path) -> None:
    template, _, _ = synthesize(tmp_path)
    (policy,) = template.find_resources("AWS::IAM::Policy").values()
    actions = sorted(s["Action"] for s in policy["Properties"]["PolicyDocument"]["Statement"])

    assert actions == [
        "cloudformation:DescribeStacks",
        "cognito-idp:DescribeUserPoolClient",
        "execute-api:Invoke",
        "sts:AssumeRole",  # the CDK bootstrap roles, which hold the deployment permissions
    ]


def test_an_existing_provider_is_reused(tmp_path: Path) -> None:
    template, _, _ = synthesize(tmp_path, PROVIDER_ARN)

    template.resource_count_is("AWS::IAM::OIDCProvider", 0)
    role = next(iter(template.find_resources("AWS::IAM::Role").values()))
    principal = role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]
    assert principal == {"Federated": PROVIDER_ARN}


def test_cdk_nag_and_cfn_lint_are_clean(tmp_path: Path) -> None:
    _, annotations, template_file = synthesize(tmp_path)
    findings = annotations.find_error("*", Match.string_like_regexp("AwsSolutions-.*"))
    lint = subprocess.run(
        [Path(sys.executable).parent / "cfn-lint", "--format", "parseable", template_file],
        capture_output=True,
        text=True,
    )

    assert not findings, [finding.entry.data for finding in findings]
    assert not [line for line in lint.stdout.splitlines() if ":E" in line], lint.stdout


@pytest.mark.parametrize(
    ("url", "repository"),
    [
        ("https://github.com/octo-org/weather-mcp.git", "octo-org/weather-mcp"),
        ("git@github.com:octo-org/weather-mcp.git", "octo-org/weather-mcp"),
        ("https://github.com/octo-org/weather.mcp", "octo-org/weather.mcp"),
        ("https://gitlab.com/octo-org/weather-mcp.git", ""),
    ],
)
def test_the_repository_comes_from_the_origin_remote(url: str, repository: str) -> None:
    assert ci_role.repository_from_url(url) == repository


def test_bad_inputs_are_named_before_anything_is_synthesized() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "infra.ci_role"],
        cwd=PROJECT,
        env={**os.environ, "REPO": "weather-mcp", "OIDC_PROVIDER_ARN": "arn:aws:iam::1:role/x"},
        capture_output=True,
        text=True,
    )

    assert result.returncode == 1
    # The last lines: Node.js may print its own notices first.
    assert result.stderr.splitlines()[-2:] == [
        "make ci-role: REPO='weather-mcp' is not allowed: use the GitHub repository as "
        "owner/name, e.g. REPO=octo-org/weather-mcp (make ci-role reads it from the origin remote)",
        "make ci-role: OIDC_PROVIDER_ARN='arn:aws:iam::1:role/x' is not allowed: use the ARN of "
        "the account's GitHub provider, "
        "arn:aws:iam::<account>:oidc-provider/token.actions.githubusercontent.com, "
        "or leave it empty to create one",
    ]

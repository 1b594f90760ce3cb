"""`make ci-role`: the role GitHub Actions deploys with, trusted through OIDC (no access keys).

A small stack of its own, <server name>-ci, so the server stack never manages the
permissions it is deployed with. It creates the account's GitHub OIDC provider, or reuses
yours (OIDC_PROVIDER_ARN=...; an account holds one per issuer), and a role that only
workflow jobs of one repository, running in its `production` environment, may assume.

The role does what `make deploy` and `make smoke` need: assume the CDK bootstrap roles
(which hold the deployment permissions), read the server stack's outputs, read the Cognito
machine client's secret for a token, and sign requests to /mcp for `iam`.

Run as `python -m infra.ci_role` by the CDK CLI (see the Makefile), with REPO=owner/name.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from cdk_nag import AwsSolutionsChecks, NagPackSuppression, NagSuppressions
from constructs import Construct

from .settings import PROJECT_ROOT, DeployConfigError, DeploySettings, load_settings

GITHUB_ISSUER = "token.actions.githubusercontent.com"
# `cdk bootstrap`'s default qualifier, part of its roles' names.
CDK_QUALIFIER = "hnb659fds"
# The GitHub environment the deploy job runs in (.github/workflows/ci.yml).
ENVIRONMENT = "production"
REPOSITORY = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+")
PROVIDER_ARN = re.compile(rf"arn:aws[a-z-]*:iam::\d{{12}}:oidc-provider/{re.escape(GITHUB_ISSUER)}")


class CiRoleStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        settings: DeploySettings,
        repository: str,
        provider_arn: str = "",
        **kwargs,
    ) -> None:
        super().__init__(scope, f"{settings.name}-ci", **kwargs)
        if provider_arn:
            provider = iam.OidcProviderNative.from_oidc_provider_arn(self, "GitHub", provider_arn)
        else:
            # The native CloudFormation resource: no custom-resource Lambda to deploy and patch.
            provider = iam.OidcProviderNative(
                self,
                "GitHub",
                url=f"https://{GITHUB_ISSUER}",
                client_ids=["sts.amazonaws.com"],
            )
        role = iam.Role(
            self,
            "DeployRole",
            description=f"GitHub Actions deploys {settings.name} from {repository}",
            max_session_duration=cdk.Duration.hours(1),
            assumed_by=iam.WebIdentityPrincipal(
                provider.oidc_provider_arn,
                conditions={
                    "StringEquals": {
                        f"{GITHUB_ISSUER}:aud": "sts.amazonaws.com",
                        f"{GITHUB_ISSUER}:sub": f"repo:{repository}:environment:{ENVIRONMENT}",
                    }
                },
            ),
        )
        account, region = cdk.Aws.ACCOUNT_ID, settings.region
        statements = [
            # CDK deploys by assuming its bootstrap roles, which hold the actual permissions.
            iam.PolicyStatement(
                actions=["sts:AssumeRole"],
                resources=[f"arn:aws:iam::{account}:role/cdk-{CDK_QUALIFIER}-*-{account}-{region}"],
            ),
            iam.PolicyStatement(
                actions=["cloudformation:DescribeStacks"],
                resources=[f"arn:aws:cloudformation:{region}:{account}:stack/{settings.name}/*"],
            ),
            iam.PolicyStatement(
                actions=["cognito-idp:DescribeUserPoolClient"],
                resources=[f"arn:aws:cognito-idp:{region}:{account}:userpool/*"],
            ),
            iam.PolicyStatement(
                actions=["execute-api:Invoke"],
                resources=[f"arn:aws:execute-api:{region}:{account}:*/*/*/mcp"],
            ),
        ]
        for statement in statements:
            role.add_to_policy(statement)
        NagSuppressions.add_resource_suppressions(
            role,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason="The names are known only in part before the first deploy: the CDK "
                    "bootstrap roles by qualifier, the user pool and API ids the server stack "
                    "creates. Each grant stays within this account and region.",
                )
            ],
            apply_to_children=True,
        )
        cdk.CfnOutput(
            self,
            "DeployRoleArn",
            value=role.role_arn,
            description="Set it as the GitHub variable AWS_DEPLOY_ROLE_ARN",
        ).override_logical_id("DeployRoleArn")


def repository_from_git() -> str:
    """owner/name from the `origin` remote, in its https or ssh form."""
    try:
        url = subprocess.run(
            ["git", "remote", "get-url", "origin"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""
    return repository_from_url(url)


def repository_from_url(url: str) -> str:
    match = re.search(r"github\.com[:/]([^/]+/[^/]+?)(?:\.git)?/?$", url)
    return match.group(1) if match else ""


def input_problems(repository: str, provider_arn: str) -> list[str]:
    problems = []
    if not REPOSITORY.fullmatch(repository):
        problems.append(
            f"REPO={repository!r} is not allowed: use the GitHub repository as owner/name, "
            "e.g. REPO=octo-org/weather-mcp (make ci-role reads it from the origin remote)"
        )
    if provider_arn and not PROVIDER_ARN.fullmatch(provider_arn):
        problems.append(
            f"OIDC_PROVIDER_ARN={provider_arn!r} is not allowed: use the ARN of the account's "
            f"GitHub provider, arn:aws:iam::<account>:oidc-provider/{GITHUB_ISSUER}, or leave it "
            "empty to create one"
        )
    return problems


def build_app(
    settings: DeploySettings, repository: str, provider_arn: str = "", outdir: str | None = None
) -> cdk.App:
    context = json.loads((PROJECT_ROOT / "cdk.json").read_text(encoding="utf-8"))["context"]
    app = cdk.App(outdir=outdir, context=context)
    env = cdk.Environment(account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=settings.region)
    CiRoleStack(app, settings, repository, provider_arn, env=env)
    cdk.Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    return app


def show_arn(outputs_file: str) -> None:
    outputs = json.loads(Path(outputs_file).read_text(encoding="utf-8"))
    arn = next(stack["DeployRoleArn"] for stack in outputs.values() if "DeployRoleArn" in stack)
    print(
        f"Deploy role: {arn}\nSet it where the workflow reads it, e.g.:\n"
        f"  gh variable set AWS_DEPLOY_ROLE_ARN --env {ENVIRONMENT} --body {arn}"
    )


def main() -> None:
    if sys.argv[1:2] == ["--show-arn"]:
        show_arn(sys.argv[2])
        return
    repository = os.environ.get("REPO", "").strip() or repository_from_git()
    provider_arn = os.environ.get("OIDC_PROVIDER_ARN", "").strip()
    problems = input_problems(repository, provider_arn)
    if problems:
        sys.exit("\n".join(f"make ci-role: {problem}" for problem in problems))
    try:
        settings = load_settings()
    except DeployConfigError as error:
        sys.exit(str(error))
    build_app(settings, repository, provider_arn).synth()


if __name__ == "__main__":
    main()

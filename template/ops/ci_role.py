"""`make ci-role`: the role GitHub Actions deploys with, trusted through OIDC (no access keys).

A small stack of its own, <server name>-ci, so the server stack never manages the
permissions it is deployed with. It creates the account's GitHub OIDC provider, or reuses
yours (OIDC_PROVIDER_ARN=...; an account holds one per issuer), and a role that only
workflow jobs of one repository, running in its `production` environment on its default
branch, may assume (see github_trust.py for the GitHub side).

The role does what `make deploy` and `make smoke` need: assume the CDK bootstrap roles
(which hold the deployment permissions), read the server stack's outputs, and, for the
smoke test, read the machine client's secret from this server's user pool (cognito) or
sign requests to this server's /mcp (iam). Those two name the deployed server's user pool
or API, so the server is deployed first.

Run as `python -m ops.ci_role` by the CDK CLI (see the Makefile), with REPO=owner/name
and BRANCH= (both found from git and gh when empty), then with --configure-github.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import aws_cdk as cdk
import boto3
from aws_cdk import aws_iam as iam
from botocore.exceptions import BotoCoreError, ClientError
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from . import github_trust
from .bootstrap_policy import GITHUB_ISSUER
from .deployed import OperationError, session, stack_outputs
from infra.app import CDK_QUALIFIER, new_app, stack_environment, within_boundary
from infra.settings import PROJECT_ROOT, DeployConfigError, DeploySettings, load_settings

REPOSITORY = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+")
# A branch name, stricter than git: letters, digits, . _ / -; no "..", and no "/" or "." at
# either end.
BRANCH = re.compile(r"(?!.*\.\.)(?![/.])[A-Za-z0-9._/-]+(?<![/.])")
PROVIDER_ARN = re.compile(rf"arn:aws[a-z-]*:iam::\d{{12}}:oidc-provider/{re.escape(GITHUB_ISSUER)}")
# The server stack output each smoke-test grant is limited to, by auth provider.
SMOKE_TARGET_OUTPUTS = {"cognito": "UserPoolId", "iam": "ApiId"}


class NotDeployedError(RuntimeError):
    """The server stack, or the output a grant needs, is not there yet."""


class CiRoleStack(cdk.Stack):
    """`smoke_target` is the deployed server's user pool id (cognito) or API id (iam)."""

    def __init__(
        self,
        scope: Construct,
        settings: DeploySettings,
        repository: str,
        branch: str,
        smoke_target: str,
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
            description=f"GitHub Actions deploys {settings.name} from {repository} {branch}",
            max_session_duration=cdk.Duration.hours(1),
            assumed_by=iam.WebIdentityPrincipal(
                provider.oidc_provider_arn,
                conditions={
                    "StringEquals": {
                        f"{GITHUB_ISSUER}:aud": "sts.amazonaws.com",
                        f"{GITHUB_ISSUER}:sub": github_trust.subject(repository, branch),
                    }
                },
            ),
        )
        partition, account, region = cdk.Aws.PARTITION, cdk.Aws.ACCOUNT_ID, settings.region
        statements = [
            # CDK deploys by assuming its bootstrap roles, which hold the actual permissions.
            iam.PolicyStatement(
                actions=["sts:AssumeRole"],
                resources=[
                    f"arn:{partition}:iam::{account}:role/cdk-{CDK_QUALIFIER}-*-{account}-{region}"
                ],
            ),
            iam.PolicyStatement(
                actions=["cloudformation:DescribeStacks"],
                resources=[
                    f"arn:{partition}:cloudformation:{region}:{account}:stack/{settings.name}/*"
                ],
            ),
        ]
        smoke_grants = {
            # make smoke reads the machine client's secret to get a token...
            "cognito": (
                "cognito-idp:DescribeUserPoolClient",
                f"arn:{partition}:cognito-idp:{region}:{account}:userpool/{smoke_target}",
            ),
            # ...or signs its requests to /mcp, on any stage, with any method.
            "iam": (
                "execute-api:Invoke",
                f"arn:{partition}:execute-api:{region}:{account}:{smoke_target}/*/*/mcp",
            ),
        }
        if grant := smoke_grants.get(settings.auth.provider):
            action, resource = grant
            statements.append(iam.PolicyStatement(actions=[action], resources=[resource]))
        for statement in statements:
            role.add_to_policy(statement)
        NagSuppressions.add_resource_suppressions(
            role,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason="Each wildcard stands for a part of a name fixed elsewhere: the "
                    "kind of CDK bootstrap role (deploy, lookup, publishing) under the default "
                    "qualifier, the server stack's id suffix, and, for iam, the stage and "
                    "method of this API's /mcp.",
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


def smoke_target(settings: DeploySettings, aws: boto3.Session) -> str:
    """The id the smoke-test grant names, from the deployed server stack; "" if none is needed."""
    output = SMOKE_TARGET_OUTPUTS.get(settings.auth.provider)
    if output is None:
        return ""
    try:
        return stack_outputs(settings, aws)[output]
    except (OperationError, KeyError):
        raise NotDeployedError(
            f"make ci-role: the role's smoke-test grant names the server's {output}, and stack "
            f"{settings.name} in {settings.region} has none yet: deploy the server first: "
            "make deploy"
        ) from None


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


def input_problems(repository: str, branch: str, provider_arn: str) -> list[str]:
    problems = []
    if not REPOSITORY.fullmatch(repository):
        problems.append(
            f"REPO={repository!r} is not allowed: use the GitHub repository as owner/name, "
            "e.g. REPO=octo-org/weather-mcp (make ci-role reads it from the origin remote)"
        )
    if not BRANCH.fullmatch(branch):
        problems.append(
            f"BRANCH={branch!r} is not allowed: use the repository's default branch, e.g. "
            "BRANCH=main (make ci-role asks gh, or reads origin/HEAD: git remote set-head origin -a)"
        )
    if provider_arn and not PROVIDER_ARN.fullmatch(provider_arn):
        problems.append(
            f"OIDC_PROVIDER_ARN={provider_arn!r} is not allowed: use the ARN of the account's "
            f"GitHub provider, arn:aws:iam::<account>:oidc-provider/{GITHUB_ISSUER}, or leave it "
            "empty to create one"
        )
    return problems


def build_app(
    settings: DeploySettings,
    repository: str,
    branch: str,
    smoke_target: str,
    provider_arn: str = "",
    outdir: str | None = None,
) -> cdk.App:
    app = new_app(outdir)
    # Deployed with your own credentials, not CDK's bootstrap roles, which the execution
    # policy keeps away from this role (see ops/bootstrap_policy.py).
    stack = CiRoleStack(
        app,
        settings,
        repository,
        branch,
        smoke_target,
        provider_arn,
        env=stack_environment(settings),
        synthesizer=cdk.CliCredentialsStackSynthesizer(),
    )
    within_boundary(stack, settings)
    return app


def configure_github(repository: str, branch: str, outputs_file: str) -> None:
    """After the deploy: GitHub's side of the trust, then where to put the role's ARN."""
    print(github_trust.configure(repository, branch, PROJECT_ROOT))
    outputs = json.loads(Path(outputs_file).read_text(encoding="utf-8"))
    arn = next(stack["DeployRoleArn"] for stack in outputs.values() if "DeployRoleArn" in stack)
    print(
        f"Deploy role: {arn}\nSet it where the workflow reads it, e.g.:\n"
        f"  gh variable set AWS_DEPLOY_ROLE_ARN --env {github_trust.ENVIRONMENT} --body {arn}"
    )


def main() -> None:
    repository = os.environ.get("REPO", "").strip() or repository_from_git()
    branch = os.environ.get("BRANCH", "").strip() or github_trust.default_branch(
        repository, PROJECT_ROOT
    )
    provider_arn = os.environ.get("OIDC_PROVIDER_ARN", "").strip()
    problems = input_problems(repository, branch, provider_arn)
    if problems:
        sys.exit("\n".join(f"make ci-role: {problem}" for problem in problems))
    try:
        if sys.argv[1:2] == ["--configure-github"]:
            configure_github(repository, branch, sys.argv[2])
            return
        settings = load_settings()
        # PROFILE as the Makefile resolved it; unset (a bare cdk run) means deploy.toml's.
        target = smoke_target(settings, session(settings, os.environ.get("PROFILE")))
    except (DeployConfigError, OperationError, NotDeployedError) as error:
        sys.exit(str(error))
    except github_trust.GitHubRefusedError as error:
        sys.exit(f"make ci-role: {error}")
    except (BotoCoreError, ClientError) as error:
        sys.exit(f"make ci-role: AWS refused to describe the server stack: {error}")
    build_app(settings, repository, branch, target, provider_arn).synth()


if __name__ == "__main__":
    main()

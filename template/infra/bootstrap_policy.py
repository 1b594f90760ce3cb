"""`make bootstrap`'s deployment policy: what CloudFormation may do when CDK deploys this project.

`cdk bootstrap` gives CDK's CloudFormation execution role AdministratorAccess unless it is
told otherwise. `make bootstrap` tells it to use this customer-managed policy instead,
written from deploy.toml: the services the stacks use (only the features that are on),
in deploy.toml's region; IAM only for roles and policies named after the stack, and
GitHub's OIDC provider for `make ci-role`'s stack.

    python -m infra.bootstrap_policy [--profile NAME]   (creates or updates it; prints its ARN)
"""

from __future__ import annotations

import argparse
import json
import sys

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from .ops import OperationError, session
from .settings import DeployConfigError, DeploySettings, load_settings

# `cdk bootstrap`'s default qualifier, part of the names of everything it creates.
CDK_QUALIFIER = "hnb659fds"
GITHUB_ISSUER = "token.actions.githubusercontent.com"
# IAM keeps at most five versions of a managed policy.
MAX_POLICY_VERSIONS = 5


def policy_name(settings: DeploySettings) -> str:
    # Outside the stacks' own `<name>-` prefix, so a stack can never rewrite its own limits.
    return f"cdk-{CDK_QUALIFIER}-{settings.name}-execution"


def services(settings: DeploySettings) -> list[str]:
    """The IAM service prefixes of what the server stack creates, for the features that are on."""
    needed = ["apigateway", "lambda", "logs"]
    if settings.auth.provider == "cognito":
        needed.append("cognito-idp")
    if settings.vpc.mode != "none":
        needed.append("ec2")
    if settings.domain.mode == "hosted-zone":
        needed.append("acm")  # the certificate it makes; "certificate" mode brings its own
    if settings.observability.alarms:
        needed += ["cloudwatch", "sns"]
    return sorted(needed)


def policy_document(settings: DeploySettings, partition: str, account: str) -> dict:
    region, prefix = settings.region, settings.name
    iam_arn = f"arn:{partition}:iam::{account}"
    statements = [
        {
            "Sid": "ProjectServices",
            "Effect": "Allow",
            "Action": [f"{service}:*" for service in services(settings)],
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:RequestedRegion": region}},
        },
        {
            # The server stack's roles and policies, and <name>-ci's deploy role, by name;
            # iam:PassRole included, so these are the only roles the stacks can hand on.
            "Sid": "ProjectRoles",
            "Effect": "Allow",
            "Action": ["iam:*"],
            "Resource": [f"{iam_arn}:role/{prefix}-*", f"{iam_arn}:policy/{prefix}-*"],
        },
        {
            "Sid": "GitHubOidcProvider",
            "Effect": "Allow",
            "Action": [
                "iam:CreateOpenIDConnectProvider",
                "iam:DeleteOpenIDConnectProvider",
                "iam:GetOpenIDConnectProvider",
                "iam:TagOpenIDConnectProvider",
                "iam:UntagOpenIDConnectProvider",
                "iam:AddClientIDToOpenIDConnectProvider",
                "iam:RemoveClientIDFromOpenIDConnectProvider",
                "iam:UpdateOpenIDConnectProviderThumbprint",
            ],
            "Resource": f"{iam_arn}:oidc-provider/{GITHUB_ISSUER}",
        },
        {
            # Lambda reads the server's image from the bootstrap's repository, and lets
            # itself in through that repository's policy.
            "Sid": "BootstrapImages",
            "Effect": "Allow",
            "Action": [
                "ecr:BatchGetImage",
                "ecr:GetDownloadUrlForLayer",
                "ecr:GetRepositoryPolicy",
                "ecr:SetRepositoryPolicy",
            ],
            "Resource": f"arn:{partition}:ecr:{region}:{account}:repository/"
            f"cdk-{CDK_QUALIFIER}-container-assets-{account}-{region}",
        },
        {
            # Every CDK template checks the bootstrap's version before it deploys.
            "Sid": "BootstrapVersion",
            "Effect": "Allow",
            "Action": ["ssm:GetParameter", "ssm:GetParameters"],
            "Resource": f"arn:{partition}:ssm:{region}:{account}:parameter/"
            f"cdk-bootstrap/{CDK_QUALIFIER}/version",
        },
    ]
    if settings.domain.mode == "hosted-zone":
        # The certificate's validation records and the API's alias, in your zone only.
        statements.append(
            {
                "Sid": "HostedZoneRecords",
                "Effect": "Allow",
                "Action": [
                    "route53:ChangeResourceRecordSets",
                    "route53:GetHostedZone",
                    "route53:ListResourceRecordSets",
                    "route53:GetChange",
                ],
                "Resource": [
                    f"arn:{partition}:route53:::hostedzone/{settings.domain.hosted_zone_id}",
                    f"arn:{partition}:route53:::change/*",
                ],
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def name_problem(settings: DeploySettings) -> str:
    bootstrap_names = f"cdk-{CDK_QUALIFIER}-"
    if bootstrap_names.startswith(f"{settings.name}-"):
        return (
            f"make bootstrap: [server] name = {settings.name!r} is not allowed here: the stacks' "
            f"IAM rights ({settings.name}-*) would reach CDK's own {bootstrap_names}* roles; "
            "choose another name"
        )
    return ""


def ensure_policy(settings: DeploySettings, aws: boto3.Session) -> str:
    """Creates the policy, or makes the current document its default version; returns its ARN."""
    caller = aws.client("sts").get_caller_identity()
    partition, account = caller["Arn"].split(":")[1], caller["Account"]
    document = policy_document(settings, partition, account)
    name = policy_name(settings)
    arn = f"arn:{partition}:iam::{account}:policy/{name}"
    client = aws.client("iam")
    try:
        policy = client.get_policy(PolicyArn=arn)["Policy"]
    except client.exceptions.NoSuchEntityException:
        return client.create_policy(
            PolicyName=name,
            PolicyDocument=json.dumps(document),
            Description=f"What CloudFormation may do when CDK deploys {settings.name}",
        )["Policy"]["Arn"]
    current = client.get_policy_version(PolicyArn=arn, VersionId=policy["DefaultVersionId"])
    if current["PolicyVersion"]["Document"] == document:
        return arn
    versions = client.list_policy_versions(PolicyArn=arn)["Versions"]
    if len(versions) >= MAX_POLICY_VERSIONS:
        oldest = min(
            (version for version in versions if not version["IsDefaultVersion"]),
            key=lambda version: version["CreateDate"],
        )
        client.delete_policy_version(PolicyArn=arn, VersionId=oldest["VersionId"])
    client.create_policy_version(
        PolicyArn=arn, PolicyDocument=json.dumps(document), SetAsDefault=True
    )
    return arn


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m infra.bootstrap_policy", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--profile", help="AWS profile; default deploy.toml's, '' for environment")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        problem = name_problem(settings)
        if problem:
            sys.exit(problem)
        print(ensure_policy(settings, session(settings, args.profile)))
    except (DeployConfigError, OperationError) as error:
        sys.exit(str(error))
    except (BotoCoreError, ClientError) as error:
        sys.exit(f"make bootstrap: AWS refused the deployment policy: {error}")


if __name__ == "__main__":
    main()

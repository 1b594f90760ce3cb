"""`make bootstrap`'s deployment policy: what CloudFormation may do when CDK deploys this project.

`cdk bootstrap` gives CDK's CloudFormation execution role AdministratorAccess unless it is
told otherwise. `make bootstrap` tells it to use this customer-managed policy instead,
written from deploy.toml: the services the stacks use (only the features that are on),
in deploy.toml's region; Lambda and IAM only for functions and roles named after the
stack, never the CI role or GitHub's OIDC provider. Every role the stacks
create must carry a second policy, the permissions boundary, as the ceiling on what it
may do, so a template cannot create a role that does more than this project's roles need.

    python -m ops.bootstrap_policy [--profile NAME]
        (creates or updates both; prints the execution policies for `cdk bootstrap`: this
        project's, after those other projects in the account and region already use)
"""

from __future__ import annotations

import argparse
import json
import sys

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from .deployed import OperationError, session
from infra.app import CDK_QUALIFIER, policy_name
from infra.function import NETWORK_INTERFACE_ACTIONS
from infra.settings import DeployConfigError, DeploySettings, load_settings

GITHUB_ISSUER = "token.actions.githubusercontent.com"
# `cdk bootstrap`'s stack, one per account and region under the default qualifier.
BOOTSTRAP_STACK = "CDKToolkit"
# IAM keeps at most five versions of a managed policy.
MAX_POLICY_VERSIONS = 5
# Leaves room in 64 for the -ci stack and CloudFormation's <logical id>-<suffix>.
MAX_NAME_LENGTH = 32


def services(settings: DeploySettings) -> list[str]:
    """The IAM service prefixes of what the server stack creates, for the features that are on;
    Lambda has a statement of its own, limited to this project's functions."""
    needed = ["apigateway", "logs"]
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
    project_roles = f"{iam_arn}:role/{prefix}-*"
    statements = [
        {
            "Sid": "ProjectServices",
            "Effect": "Allow",
            "Action": [f"{service}:*" for service in services(settings)],
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:RequestedRegion": region}},
        },
        {
            # CloudFormation names functions <stack>-<logical id>-<random>; the others in the
            # account and region, and the roles they run as, stay out of reach.
            "Sid": "ProjectFunctions",
            "Effect": "Allow",
            "Action": ["lambda:*"],
            "Resource": f"arn:{partition}:lambda:{region}:{account}:function:{prefix}-*",
        },
        {
            # The server stack's roles and <name>-ci's deploy role, by name; iam:PassRole
            # included, so these are the only roles the stacks can hand on.
            "Sid": "ProjectRoles",
            "Effect": "Allow",
            "Action": [
                "iam:GetRole",
                "iam:DeleteRole",
                "iam:UpdateRole",
                "iam:UpdateRoleDescription",
                "iam:UpdateAssumeRolePolicy",
                "iam:TagRole",
                "iam:UntagRole",
                "iam:GetRolePolicy",
                "iam:ListRolePolicies",
                "iam:ListAttachedRolePolicies",
                "iam:DeleteRolePolicy",
                "iam:DetachRolePolicy",
                "iam:PassRole",
            ],
            "Resource": project_roles,
        },
        {
            # What gives a role rights works only while the boundary caps them.
            "Sid": "ProjectRolesWithinTheBoundary",
            "Effect": "Allow",
            "Action": [
                "iam:CreateRole",
                "iam:PutRolePolicy",
                "iam:AttachRolePolicy",
                "iam:PutRolePermissionsBoundary",
            ],
            "Resource": project_roles,
            "Condition": {
                "StringEquals": {
                    "iam:PermissionsBoundary": policy_arn(settings, partition, account, "boundary")
                }
            },
        },
        {
            "Sid": "KeepTheBoundary",
            "Effect": "Deny",
            "Action": ["iam:DeleteRolePermissionsBoundary"],
            "Resource": "*",
        },
        {
            # make ci-role deploys the CI role with your own credentials, never through this
            # policy, so nothing CI deploys can widen who may assume that role.
            "Sid": "HandsOffTheCiRole",
            "Effect": "Deny",
            "Action": ["iam:*"],
            "Resource": [
                f"{iam_arn}:role/{prefix}-ci-*",
                f"{iam_arn}:oidc-provider/{GITHUB_ISSUER}",
            ],
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
    if settings.domain.mode != "none":
        # The account's first custom domain name makes API Gateway create its own role.
        statements.append(
            {
                "Sid": "ApiGatewayServiceRole",
                "Effect": "Allow",
                "Action": ["iam:CreateServiceLinkedRole"],
                "Resource": f"{iam_arn}:role/aws-service-role/ops.apigateway.amazonaws.com/"
                "AWSServiceRoleForAPIGateway",
                "Condition": {
                    "StringEquals": {"iam:AWSServiceName": "ops.apigateway.amazonaws.com"}
                },
            }
        )
    if settings.vpc.mode == "new" and settings.vpc.egress == "endpoints":
        # Private DNS on an interface endpoint associates the VPC with a private hosted zone
        # that AWS manages, so the service's usual name resolves to the endpoint.
        statements.append(
            {
                "Sid": "EndpointPrivateDns",
                "Effect": "Allow",
                "Action": [
                    "route53:AssociateVPCWithHostedZone",
                    "route53:DisassociateVPCFromHostedZone",
                ],
                "Resource": "*",
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def policy_arn(
    settings: DeploySettings, partition: str, account: str, kind: str = "execution"
) -> str:
    return f"arn:{partition}:iam::{account}:policy/{policy_name(settings, kind)}"


def boundary_document(settings: DeploySettings, partition: str, account: str) -> dict:
    """The most any role of the stacks may do: what the server's functions, API Gateway's
    and the VPC flow log's CloudWatch roles, and make ci-role's deploy role need."""
    region = settings.region
    in_region = f"{region}:{account}"
    statements = [
        {
            # The functions' logs, the flow log's, and API Gateway's (its AWS-managed
            # AmazonAPIGatewayPushToCloudWatchLogs), in this region.
            "Sid": "Logs",
            "Effect": "Allow",
            "Action": [
                "logs:CreateLogGroup",
                "logs:CreateLogStream",
                "logs:DescribeLogGroups",
                "logs:DescribeLogStreams",
                "logs:PutLogEvents",
                "logs:GetLogEvents",
                "logs:FilterLogEvents",
            ],
            "Resource": f"arn:{partition}:logs:{in_region}:log-group:*",
        },
        {
            # X-Ray takes no resource.
            "Sid": "Tracing",
            "Effect": "Allow",
            "Action": ["xray:PutTelemetryRecords", "xray:PutTraceSegments"],
            "Resource": "*",
        },
        {
            "Sid": "DeployThroughCdk",
            "Effect": "Allow",
            "Action": ["sts:AssumeRole"],
            "Resource": f"arn:{partition}:iam::{account}:role/cdk-{CDK_QUALIFIER}-*-{account}-{region}",
        },
        {
            "Sid": "ReadTheServerStack",
            "Effect": "Allow",
            "Action": ["cloudformation:DescribeStacks"],
            "Resource": f"arn:{partition}:cloudformation:{in_region}:stack/{settings.name}/*",
        },
    ]
    if settings.vpc.mode != "none":
        # Lambda attaches the function to the VPC with the function's role (as in AWS's
        # AWSLambdaVPCAccessExecutionRole, on *).
        statements.append(
            {
                "Sid": "FunctionNetworkInterfaces",
                "Effect": "Allow",
                "Action": NETWORK_INTERFACE_ACTIONS,
                "Resource": "*",
            }
        )
    if settings.secrets:
        statements.append(
            {
                "Sid": "ReadTheNamedSecrets",
                "Effect": "Allow",
                "Action": ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"],
                "Resource": [
                    f"arn:{partition}:secretsmanager:{in_region}:secret:{name}-??????"
                    for name in settings.secrets.values()
                ],
            }
        )
    if settings.auth.provider == "cognito":
        # make smoke reads the machine client's secret.
        statements.append(
            {
                "Sid": "SmokeTestToken",
                "Effect": "Allow",
                "Action": ["cognito-idp:DescribeUserPoolClient"],
                "Resource": f"arn:{partition}:cognito-idp:{in_region}:userpool/*",
            }
        )
    if settings.auth.provider == "iam":
        statements.append(
            {
                "Sid": "SmokeTestCall",
                "Effect": "Allow",
                "Action": ["execute-api:Invoke"],
                "Resource": f"arn:{partition}:execute-api:{in_region}:*/*/*/mcp",
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def name_problem(settings: DeploySettings) -> str:
    """The policy reaches the stacks' roles and functions by their names, which CloudFormation
    makes <stack>-<logical id>-<suffix> within 64 characters."""
    if f"{settings.name}-".startswith("cdk-") or len(settings.name) > MAX_NAME_LENGTH:
        return (
            f"make bootstrap: [server] name = {settings.name!r} is not allowed with a scoped "
            f"bootstrap policy: use at most {MAX_NAME_LENGTH} characters, not starting with "
            "cdk- (CDK's own roles and policies are named so)"
        )
    return ""


def ensure_policy(settings: DeploySettings, aws: boto3.Session) -> str:
    """Writes the boundary, then the execution policy; returns the execution policy's ARN."""
    caller = aws.client("sts").get_caller_identity()
    partition, account = caller["Arn"].split(":")[1], caller["Account"]
    iam = aws.client("iam")
    write_policy(
        iam,
        policy_arn(settings, partition, account, "boundary"),
        boundary_document(settings, partition, account),
        f"The most a role that CDK deploys for {settings.name} may do",
    )
    arn = policy_arn(settings, partition, account)
    write_policy(
        iam,
        arn,
        policy_document(settings, partition, account),
        f"What CloudFormation may do when CDK deploys {settings.name}",
    )
    return arn


def write_policy(iam, arn: str, document: dict, description: str) -> None:
    """Creates the policy, or makes the document its default version if it differs."""
    try:
        policy = iam.get_policy(PolicyArn=arn)["Policy"]
    except iam.exceptions.NoSuchEntityException:
        iam.create_policy(
            PolicyName=arn.split("/")[-1],
            PolicyDocument=json.dumps(document),
            Description=description,
        )
        return
    current = iam.get_policy_version(PolicyArn=arn, VersionId=policy["DefaultVersionId"])
    if current["PolicyVersion"]["Document"] == document:
        return
    versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
    if len(versions) >= MAX_POLICY_VERSIONS:
        oldest = min(
            (version for version in versions if not version["IsDefaultVersion"]),
            key=lambda version: version["CreateDate"],
        )
        iam.delete_policy_version(PolicyArn=arn, VersionId=oldest["VersionId"])
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(document), SetAsDefault=True)


def execution_policies(aws: boto3.Session, arn: str) -> str:
    """For `cdk bootstrap`: the policies the account's bootstrap already gives CloudFormation
    (other projects' ones), without CDK's default AdministratorAccess, and this project's."""
    try:
        stack = aws.client("cloudformation").describe_stacks(StackName=BOOTSTRAP_STACK)["Stacks"][0]
    except ClientError as error:
        if "does not exist" in str(error):
            return arn
        raise
    parameters = {
        item["ParameterKey"]: item["ParameterValue"] for item in stack.get("Parameters", [])
    }
    administrator = f"arn:{arn.split(':')[1]}:iam::aws:policy/AdministratorAccess"
    listed = (
        policy.strip()
        for policy in parameters.get("CloudFormationExecutionPolicies", "").split(",")
    )
    others = [policy for policy in listed if policy not in ("", administrator, arn)]
    return ",".join([*others, arn])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m ops.bootstrap_policy", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--profile", help="AWS profile; default deploy.toml's, '' for environment")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        problem = name_problem(settings)
        if problem:
            sys.exit(problem)
        aws = session(settings, args.profile)
        print(execution_policies(aws, ensure_policy(settings, aws)))
    except (DeployConfigError, OperationError) as error:
        sys.exit(str(error))
    except (BotoCoreError, ClientError) as error:
        sys.exit(f"make bootstrap: AWS refused the deployment policy: {error}")


if __name__ == "__main__":
    main()

"""The Lambda function: the container image, its role, logs, secrets and warm instances."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from .network import McpNetwork
from .observability import retention
from .settings import PROJECT_ROOT, DeploySettings

# What a function in a VPC needs to manage its network interfaces: the EC2 actions of
# AWSLambdaVPCAccessExecutionRole, without its log permissions for every log group.
NETWORK_INTERFACE_ACTIONS = [
    "ec2:AssignPrivateIpAddresses",
    "ec2:CreateNetworkInterface",
    "ec2:DeleteNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:UnassignPrivateIpAddresses",
]
ARCHITECTURES = {
    "arm64": (lambda_.Architecture.ARM_64, ecr_assets.Platform.LINUX_ARM64),
    "x86_64": (lambda_.Architecture.X86_64, ecr_assets.Platform.LINUX_AMD64),
}


class McpFunction(Construct):
    """The server image on Lambda. `target` is what the API invokes: the function itself,
    or its `live` alias when provisioned concurrency keeps instances warm."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        settings: DeploySettings,
        network: McpNetwork | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        config = settings.function
        architecture = ARCHITECTURES[config.architecture][0]

        self.log_group, role = logs_and_role(self, settings)
        self.function = lambda_.DockerImageFunction(
            self,
            "Function",
            description=settings.description or None,
            code=server_image(settings),
            architecture=architecture,
            memory_size=config.memory_mb,
            timeout=Duration.seconds(config.timeout_seconds),
            reserved_concurrent_executions=config.reserved_concurrency,
            tracing=lambda_.Tracing.ACTIVE if settings.observability.tracing else None,
            role=role,
            log_group=self.log_group,
            # The server already writes JSON lines; Lambda's own START/REPORT lines match them.
            logging_format=lambda_.LoggingFormat.JSON,
            environment=environment(settings),
            **(network.function_options() if network else {}),
        )
        self._grant_secrets(settings, role)
        if network:
            # CDK adds AWSLambdaVPCAccessExecutionRole only to roles it creates itself. Lambda
            # checks these when it creates the function, so they sit in the role's default
            # policy, which the function depends on.
            role.add_to_policy(
                iam.PolicyStatement(actions=NETWORK_INTERFACE_ACTIONS, resources=["*"])
            )
        self.target: lambda_.IFunction = self.function
        if config.provisioned_concurrency > 0:
            self.target = lambda_.Alias(
                self,
                "Live",
                alias_name="live",
                version=self.function.current_version,
                provisioned_concurrent_executions=config.provisioned_concurrency,
            )
        self._explain_wildcards(role, settings, in_vpc=network is not None)

    def _grant_secrets(self, settings: DeploySettings, role: iam.IRole) -> None:
        for key, name in settings.secrets.items():
            secret = secretsmanager.Secret.from_secret_name_v2(self, f"Secret-{key}", name)
            secret.grant_read(role)

    def _explain_wildcards(self, role: iam.Role, settings: DeploySettings, in_vpc: bool) -> None:
        reasons = [
            "Log streams are created at run time; the grant is limited to this function's "
            "log group (its ARN ends in :*)."
        ]
        if settings.observability.tracing:
            reasons.append("X-Ray PutTraceSegments and PutTelemetryRecords take no resource but *.")
        if in_vpc:
            reasons.append(
                "Lambda manages the function's network interfaces with its role; AWS grants "
                "these EC2 actions on * in AWSLambdaVPCAccessExecutionRole."
            )
        if settings.secrets:
            reasons.append(
                "Secrets Manager appends a random 6-character suffix to each secret ARN; the "
                "grant's wildcard matches only that suffix of the named secrets."
            )
        NagSuppressions.add_resource_suppressions(
            role,
            [NagPackSuppression(id="AwsSolutions-IAM5", reason=" ".join(reasons))],
            apply_to_children=True,
        )


def logs_and_role(scope: Construct, settings: DeploySettings) -> tuple[logs.LogGroup, iam.Role]:
    """A function's log group, and a role of its own that may write to it."""
    log_group = logs.LogGroup(
        scope,
        "Logs",
        retention=retention(settings.observability.log_retention_days),
        # `make destroy` removes the logs with everything else.
        removal_policy=RemovalPolicy.DESTROY,
    )
    # Not AWSLambdaBasicExecutionRole, whose log permissions cover every log group in the account.
    role = iam.Role(scope, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    log_group.grant_write(role)
    return log_group, role


def server_image(
    settings: DeploySettings, command: list[str] | None = None
) -> lambda_.DockerImageCode:
    """The image `make build` builds. Functions that share it share one build and one push;
    `command` starts another entry point from the same image."""
    return lambda_.DockerImageCode.from_image_asset(
        str(PROJECT_ROOT),
        platform=ARCHITECTURES[settings.function.architecture][1],
        cmd=command,
    )


def environment(settings: DeploySettings) -> dict[str, str]:
    """What the server reads at start-up (see the README's Configuration table)."""
    variables = dict(settings.function.environment)
    for key, name in settings.secrets.items():
        variables[f"SECRET_{key.upper()}"] = name
    if settings.api.type == "rest":
        # An HTTP API answers CORS itself; behind a REST API the server adds the headers.
        variables["CORS_ALLOW_ORIGINS"] = ",".join(settings.api.cors_origins)
    return variables

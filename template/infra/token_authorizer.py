"""The REST API's check of your own OIDC issuer's tokens ([auth] provider = "oidc").

A REST API has no JWT authorizer, so a Lambda TOKEN authorizer does the job: a small
function started from the server's own image (src/<package>/authorizer.py), which checks
the token exactly as the server does and answers allow or deny.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_apigateway as rest
from aws_cdk import aws_lambda as lambda_
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from .function import ARCHITECTURES, logs_and_role, server_image
from .settings import DeploySettings

# The console script pyproject.toml installs in the image for authorizer.py.
AUTHORIZER_COMMAND = ["mcp-token-authorizer"]
# Only well-formed bearer headers reach the function; API Gateway answers 401 to the rest.
BEARER_HEADER = r"^[Bb]earer [-0-9A-Za-z._~+/]+=*$"
# API Gateway reuses an answer for the same token this long; the server still checks
# each request's token, expiry included.
ANSWER_CACHE = Duration.minutes(5)
# Enough for one JWKS fetch (3 s timeout) on a cold start.
TIMEOUT = Duration.seconds(10)
MEMORY_MB = 512


class TokenAuthorizer(Construct):
    def __init__(self, scope: Construct, construct_id: str, settings: DeploySettings) -> None:
        super().__init__(scope, construct_id)
        self.log_group, role = logs_and_role(self, settings)
        self.function = lambda_.DockerImageFunction(
            self,
            "Function",
            description="Checks bearer tokens for the REST API (authorizer.py)",
            code=server_image(settings, command=AUTHORIZER_COMMAND),
            architecture=ARCHITECTURES[settings.function.architecture][0],
            memory_size=MEMORY_MB,
            timeout=TIMEOUT,
            role=role,
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
        )
        self.authorizer = rest.TokenAuthorizer(
            self,
            "Authorizer",
            handler=self.function,
            identity_source=rest.IdentitySource.header("Authorization"),
            validation_regex=BEARER_HEADER,
            results_cache_ttl=ANSWER_CACHE,
        )
        NagSuppressions.add_resource_suppressions(
            role,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason="Log streams are created at run time; the grant is limited to this "
                    "function's log group (its ARN ends in :*).",
                )
            ],
            apply_to_children=True,
        )

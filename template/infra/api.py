"""API Gateway in front of the function: an HTTP API (default) or a REST API.

Both route /mcp (POST, plus GET and DELETE so the server can answer 405 as the MCP spec
expects) and the health path, throttle at the stage, write access logs, and let
browser-based MCP clients through CORS.
"""

from __future__ import annotations

import json

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_apigateway as rest
from aws_cdk import aws_apigatewayv2 as http
from aws_cdk import aws_apigatewayv2_integrations as http_integrations
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from .auth import McpAuth
from .domain import CustomDomain
from .observability import retention
from .settings import DeploySettings

MCP_PATH = "mcp"
# POST carries MCP; GET and DELETE reach the server so it can answer 405, as the spec expects.
MCP_METHODS = ("POST", "GET", "DELETE")
HEALTH_PATH = "health"
REST_STAGE = "prod"
# What browser-based MCP clients send and need to read (streamable HTTP transport).
CORS_ALLOW_HEADERS = [
    "Content-Type",
    "Authorization",
    "Mcp-Session-Id",
    "Mcp-Protocol-Version",
    "Last-Event-ID",
]
CORS_EXPOSE_HEADERS = ["Mcp-Session-Id", "Mcp-Protocol-Version"]
# One JSON object per request; these $context variables exist for both API types. Who
# called: the token's subject and client (cognito, oidc), the token authorizer's principal
# (a REST API with oidc) or the signed caller (iam); and why a request was refused. Never
# the token: API Gateway has no variable for the Authorization header.
ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "requestTime": "$context.requestTime",
        "httpMethod": "$context.httpMethod",
        "path": "$context.path",
        "status": "$context.status",
        "protocol": "$context.protocol",
        "responseLength": "$context.responseLength",
        "integrationLatency": "$context.integrationLatency",
        "sub": "$context.authorizer.claims.sub",
        "clientId": "$context.authorizer.claims.client_id",
        "principal": "$context.authorizer.principalId",
        "caller": "$context.identity.userArn",
        "authorizerError": "$context.authorizer.error",
        "error": "$context.error.message",
    }
)
METADATA_PATHS = (
    ".well-known/oauth-protected-resource",
    ".well-known/oauth-protected-resource/mcp",
)
OPEN_BY_CHOICE = (
    'deploy.toml says [auth] provider = "none": the API is public by choice, and anyone who '
    "knows the URL can call the tools; throttling caps the cost."
)
NOT_COGNITO = {
    "none": OPEN_BY_CHOICE,
    "iam": "IAM (SigV4) authorizes /mcp.",
    "oidc": "A token authorizer checks /mcp against your own OIDC issuer, not Cognito.",
}
CORS_PREFLIGHT = "CORS preflight (OPTIONS) requests carry no credentials, by the CORS standard."
OPEN_BY_DESIGN = (
    "Health checks and the RFC 9728 metadata must be reachable without a token: they are how "
    "clients find out where to get one. /mcp itself is authorized."
)


class McpApi(Construct):
    """`endpoint` is the API's base URL; MCP clients connect to `mcp_endpoint`. `api_id` is
    API Gateway's id for it, either type."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        settings: DeploySettings,
        target: lambda_.IFunction,
        auth: McpAuth,
        domain: CustomDomain | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.auth = auth
        self.domain = domain
        # With a custom domain in Route 53, the execute-api address goes: one URL for clients.
        self.default_endpoint_off = bool(domain and domain.replaces_default_endpoint)
        self.access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            retention=retention(settings.observability.log_retention_days),
            removal_policy=RemovalPolicy.DESTROY,
        )
        if settings.api.type == "http":
            self._http_api(settings, target)
        else:
            self._rest_api(settings, target)

    def _http_api(self, settings: DeploySettings, target: lambda_.IFunction) -> None:
        api = http.HttpApi(
            self,
            "HttpApi",
            api_name=settings.name,
            description=settings.description or None,
            cors_preflight=http.CorsPreflightOptions(
                allow_origins=list(settings.api.cors_origins),
                allow_methods=[
                    http.CorsHttpMethod.POST,
                    http.CorsHttpMethod.GET,
                    http.CorsHttpMethod.DELETE,
                    http.CorsHttpMethod.OPTIONS,
                ],
                allow_headers=CORS_ALLOW_HEADERS,
                expose_headers=CORS_EXPOSE_HEADERS,
                max_age=Duration.hours(1),
            ),
            # The $default stage below, with throttling and access logs, replaces this one.
            create_default_stage=False,
            disable_execute_api_endpoint=self.default_endpoint_off,
        )
        self.api_id = api.api_id
        integration = http_integrations.HttpLambdaIntegration("Function", target)
        protected = api.add_routes(
            path=f"/{MCP_PATH}",
            methods=[http.HttpMethod(method) for method in MCP_METHODS],
            integration=integration,
            authorizer=self.auth.http_authorizer(),
            authorization_scopes=self.auth.route_scopes(),
        )
        public = [
            route
            for path in (HEALTH_PATH, *METADATA_PATHS)
            for route in api.add_routes(
                path=f"/{path}", methods=[http.HttpMethod.GET], integration=integration
            )
        ]
        # $default keeps the stage name out of the URL and out of the path the server sees.
        stage = http.HttpStage(
            self,
            "DefaultStage",
            http_api=api,
            stage_name="$default",
            auto_deploy=True,
            throttle=http.ThrottleSettings(
                rate_limit=settings.api.throttling_rate, burst_limit=settings.api.throttling_burst
            ),
        )
        # Set on the CloudFormation resource: the construct's option wants a jsii interface.
        cfn_stage: http.CfnStage = stage.node.default_child
        cfn_stage.access_log_settings = http.CfnStage.AccessLogSettingsProperty(
            destination_arn=self.access_logs.log_group_arn, format=ACCESS_LOG_FORMAT
        )
        open_routes = public if self.auth.provider != "none" else [*public, *protected]
        for route in open_routes:
            reason = (
                OPEN_BY_DESIGN
                if route in public and self.auth.provider != "none"
                else OPEN_BY_CHOICE
            )
            NagSuppressions.add_resource_suppressions(
                route,
                [NagPackSuppression(id="AwsSolutions-APIG4", reason=reason)],
                apply_to_children=True,
            )
        self.mcp_invoke_arns = [
            api.arn_for_execute_api(m, f"/{MCP_PATH}", "$default") for m in MCP_METHODS
        ]
        if self.domain:
            self.domain.attach_http(api, stage)
            base_url = self.domain.base_url
        else:
            base_url = api.api_endpoint
        self.endpoint = base_url
        self.mcp_endpoint = self.mcp_resource_url = f"{base_url}/{MCP_PATH}"

    def _rest_api(self, settings: DeploySettings, target: lambda_.IFunction) -> None:
        api = rest.RestApi(
            self,
            "RestApi",
            rest_api_name=settings.name,
            description=settings.description or None,
            endpoint_types=[rest.EndpointType.REGIONAL],
            disable_execute_api_endpoint=self.default_endpoint_off,
            # Access logs need the account-wide API Gateway CloudWatch role; without it the
            # first deploy in a fresh account fails.
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN,
            deploy_options=rest.StageOptions(
                stage_name=REST_STAGE,
                throttling_rate_limit=settings.api.throttling_rate,
                throttling_burst_limit=settings.api.throttling_burst,
                tracing_enabled=settings.observability.tracing,
                # Execution logs for errors only; request bodies are never logged.
                logging_level=rest.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,
                access_log_destination=rest.LogGroupLogDestination(self.access_logs),
                access_log_format=rest.AccessLogFormat.custom(ACCESS_LOG_FORMAT),
            ),
            default_cors_preflight_options=rest.CorsOptions(
                allow_origins=list(settings.api.cors_origins),
                allow_methods=["POST", "GET", "DELETE", "OPTIONS"],
                allow_headers=CORS_ALLOW_HEADERS,
                max_age=Duration.hours(1),
            ),
        )
        self.api_id = api.rest_api_id
        integration = rest.LambdaIntegration(target)
        mcp = api.root.add_resource(MCP_PATH)
        for method in MCP_METHODS:
            mcp.add_method(method, integration, **self.auth.rest_method_options())
        public = [api.root.add_resource(HEALTH_PATH).add_method("GET", integration)]
        well_known = api.root.add_resource(".well-known").add_resource("oauth-protected-resource")
        public.append(well_known.add_method("GET", integration))
        public.append(well_known.add_resource(MCP_PATH).add_method("GET", integration))
        unauthorized = OPEN_BY_CHOICE if self.auth.provider == "none" else OPEN_BY_DESIGN
        for method in public:
            NagSuppressions.add_resource_suppressions(
                method,
                [
                    NagPackSuppression(id="AwsSolutions-APIG4", reason=unauthorized),
                    NagPackSuppression(id="AwsSolutions-COG4", reason=unauthorized),
                ],
            )
        if self.auth.provider != "cognito":
            # COG4 asks for a Cognito authorizer on every method; the other providers use none.
            other = NOT_COGNITO[self.auth.provider]
            suppressions = [NagPackSuppression(id="AwsSolutions-COG4", reason=other)]
            if self.auth.provider != "oidc":  # APIG4 is satisfied by the token authorizer
                suppressions.append(NagPackSuppression(id="AwsSolutions-APIG4", reason=other))
            NagSuppressions.add_resource_suppressions(mcp, suppressions, apply_to_children=True)
        for method in api.methods:
            if method.http_method == "OPTIONS":
                NagSuppressions.add_resource_suppressions(
                    method,
                    [
                        NagPackSuppression(id="AwsSolutions-APIG4", reason=CORS_PREFLIGHT),
                        NagPackSuppression(id="AwsSolutions-COG4", reason=CORS_PREFLIGHT),
                    ],
                )
        NagSuppressions.add_resource_suppressions(
            api,
            [
                NagPackSuppression(
                    id="AwsSolutions-APIG2",
                    reason="The server validates every JSON-RPC body itself and answers a bad "
                    "one with a JSON-RPC error, which a gateway model would replace.",
                ),
                NagPackSuppression(
                    id="AwsSolutions-APIG3",
                    reason="AWS WAF costs a monthly fee per web ACL; throttling protects the "
                    "function. Attach a web ACL to the stage for a high-traffic public API.",
                ),
                NagPackSuppression(
                    id="AwsSolutions-IAM4",
                    reason="API Gateway's account-wide CloudWatch role uses the AWS-managed "
                    "AmazonAPIGatewayPushToCloudWatchLogs policy, as API Gateway documents.",
                ),
            ],
            apply_to_children=True,
        )
        self.mcp_invoke_arns = [
            api.arn_for_execute_api(m, f"/{MCP_PATH}", REST_STAGE) for m in MCP_METHODS
        ]
        if self.domain:
            self.domain.attach_rest(api)
            base_url = self.domain.base_url
            self.endpoint = f"{base_url}/"
        else:
            # Built from the API id alone: the stage URL would make the function depend on
            # the deployment, which depends on the function.
            base_url = (
                f"https://{api.rest_api_id}.execute-api.{Aws.REGION}.{Aws.URL_SUFFIX}/{REST_STAGE}"
            )
            self.endpoint = api.url
        self.mcp_endpoint = self.mcp_resource_url = f"{base_url}/{MCP_PATH}"
        if self.auth.provider in ("cognito", "oidc"):
            self._bearer_challenges(api, f"{base_url}/{METADATA_PATHS[1]}")

    def _bearer_challenges(self, api: rest.RestApi, metadata_url: str) -> None:
        """A refused token gets 401 with the challenge that points MCP clients to the RFC 9728
        metadata, as the server itself answers. An HTTP API's own 401 cannot be changed;
        clients then find the metadata at its well-known address."""
        scope = " ".join(self.auth.scopes)
        challenge = f'Bearer error="invalid_token", resource_metadata="{metadata_url}"'
        if scope:
            challenge += f', scope="{scope}"'
        # No token (UNAUTHORIZED) and a refused one (ACCESS_DENIED, the token authorizer's
        # deny) are both "authenticate again" to a client: 401.
        for response_type in (rest.ResponseType.UNAUTHORIZED, rest.ResponseType.ACCESS_DENIED):
            api.add_gateway_response(
                f"Challenge{response_type.response_type}",
                type=response_type,
                status_code="401",
                response_headers={"WWW-Authenticate": f"'{challenge}'"},
            )

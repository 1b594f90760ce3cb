"""The one stack: auth, network, function, domain, API and alarms, and the outputs that
`make outputs` prints."""

from __future__ import annotations

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from .api import McpApi
from .auth import McpAuth
from .domain import CustomDomain
from .function import McpFunction
from .network import McpNetwork
from .observability import Alarms
from .settings import DeploySettings


class McpServerStack(Stack):
    def __init__(self, scope: Construct, settings: DeploySettings, **kwargs) -> None:
        super().__init__(scope, settings.name, description=settings.description or None, **kwargs)
        auth = McpAuth(self, "Auth", settings)
        network = McpNetwork(self, "Network", settings) if settings.vpc.mode != "none" else None
        function = McpFunction(self, "Server", settings, network)
        domain = CustomDomain(self, "Domain", settings) if settings.domain.mode != "none" else None
        api = McpApi(self, "Api", settings, function.target, auth, domain)
        # Set after the API exists: the server names its own public URL in the auth metadata.
        for name, value in auth.environment(api.mcp_resource_url).items():
            for checker in (function.function, *auth.token_functions):
                checker.add_environment(name, value)
        auth.add_outputs(api.mcp_invoke_arns)
        if settings.observability.alarms:
            Alarms(self, "Alarms", settings, function.function)

        CfnOutput(self, "ApiEndpoint", value=api.endpoint, description="Base URL of the API")
        CfnOutput(self, "ApiId", value=api.api_id, description="API Gateway's id for the API")
        CfnOutput(self, "McpEndpoint", value=api.mcp_endpoint, description="Point MCP clients here")
        CfnOutput(self, "FunctionName", value=function.function.function_name)
        CfnOutput(self, "LogGroupName", value=function.log_group.log_group_name)

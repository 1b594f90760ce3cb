"""The gateway side of [auth]: who may call /mcp before the function runs at all.

- cognito: a user pool (no self sign-up; `make user-add`), a resource server with the
  scopes, a public client for people (authorization code with PKCE, callbacks for local
  MCP clients), a confidential client for machines (client credentials), and a sign-in
  domain. The API checks the access tokens: a JWT authorizer (HTTP API) or a Cognito
  authorizer (REST API), each with the scopes.
- oidc: a JWT authorizer with your issuer and audience (HTTP API), or a token authorizer
  function that makes the same checks (REST API, which has no JWT authorizer).
- iam: SigV4 on /mcp; allow execute-api:Invoke on the `McpInvokeArns` output to callers.
- none: no check.

The function checks tokens again itself (src/<package>/auth.py); `environment()` tells it,
and the token authorizer, how.
"""

from __future__ import annotations

from aws_cdk import Aws, CfnOutput, Duration, Fn, RemovalPolicy
from aws_cdk import aws_apigateway as rest
from aws_cdk import aws_apigatewayv2 as http
from aws_cdk import aws_apigatewayv2_authorizers as http_authorizers
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_lambda as lambda_
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from .settings import DeploySettings
from .token_authorizer import TokenAuthorizer

MFA = {"off": cognito.Mfa.OFF, "optional": cognito.Mfa.OPTIONAL, "required": cognito.Mfa.REQUIRED}


class McpAuth(Construct):
    def __init__(self, scope: Construct, construct_id: str, settings: DeploySettings) -> None:
        super().__init__(scope, construct_id)
        self.settings = settings
        self.provider = settings.auth.provider
        self.scopes = list(settings.auth.scopes)
        self.issuer = settings.auth.issuer
        self.client_ids: list[str] = []
        self._rest_authorizer: rest.IAuthorizer | None = None
        # Functions that check tokens and need environment(): the token authorizer, if any.
        self.token_functions: list[lambda_.Function] = []
        if self.provider == "cognito":
            self._user_pool()

    def _user_pool(self) -> None:
        config = self.settings.auth
        self.user_pool = cognito.UserPool(
            self,
            "UserPool",
            # People are invited (make user-add); nobody signs up on their own.
            self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(email=True),
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            password_policy=cognito.PasswordPolicy(
                min_length=12,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
                temp_password_validity=Duration.days(3),
            ),
            mfa=MFA[config.mfa],
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            # Deliberate: with protect_user_pool = true the pool (and its users) survives
            # make destroy and cannot be deleted by accident; by default it goes with the stack.
            deletion_protection=config.protect_user_pool,
            removal_policy=RemovalPolicy.RETAIN
            if config.protect_user_pool
            else RemovalPolicy.DESTROY,
        )
        identifier = self.scopes[0].split("/")[0] if self.scopes else "mcp"
        resource_server = self.user_pool.add_resource_server(
            "ResourceServer",
            identifier=identifier,
            scopes=[
                cognito.ResourceServerScope(
                    scope_name=scope.split("/", 1)[1], scope_description=scope
                )
                for scope in self.scopes
            ],
        )
        oauth_scopes = [cognito.OAuthScope.custom(scope) for scope in self.scopes]
        self.public_client = self.user_pool.add_client(
            "PublicClient",
            generate_secret=False,
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(authorization_code_grant=True),
                scopes=[cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL, *oauth_scopes],
                callback_urls=list(config.callback_urls),
            ),
            access_token_validity=Duration.minutes(config.access_token_minutes),
            id_token_validity=Duration.minutes(config.access_token_minutes),
            refresh_token_validity=Duration.days(config.refresh_token_days),
            prevent_user_existence_errors=True,
            supported_identity_providers=[cognito.UserPoolClientIdentityProvider.COGNITO],
        )
        self.machine_client = self.user_pool.add_client(
            "MachineClient",
            generate_secret=True,
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(client_credentials=True), scopes=oauth_scopes
            ),
            access_token_validity=Duration.minutes(config.access_token_minutes),
        )
        # The clients name the scopes as plain strings, so they must wait for the server.
        self.public_client.node.add_dependency(resource_server)
        self.machine_client.node.add_dependency(resource_server)
        self.domain = self.user_pool.add_domain(
            "Domain",
            # The account id keeps the prefix unique across AWS, as Cognito requires.
            cognito_domain=cognito.CognitoDomainOptions(
                domain_prefix=f"{config.domain_prefix}-{Aws.ACCOUNT_ID}"
            ),
        )
        self.issuer = self.user_pool.user_pool_provider_url
        self.client_ids = [
            self.public_client.user_pool_client_id,
            self.machine_client.user_pool_client_id,
        ]
        NagSuppressions.add_resource_suppressions(
            self.user_pool,
            [
                NagPackSuppression(
                    id="AwsSolutions-COG2",
                    reason="MFA follows [auth] mfa in deploy.toml; machine clients use client "
                    "credentials, which MFA does not apply to.",
                ),
                NagPackSuppression(
                    id="AwsSolutions-COG3",
                    reason="Cognito threat protection (advanced security) is a paid feature plan; "
                    "the pool has no self sign-up and a strict password policy.",
                ),
                NagPackSuppression(
                    id="AwsSolutions-COG8",
                    reason="The Plus feature plan is billed per active user; choose it in the "
                    "console or here if you need threat protection.",
                ),
            ],
        )

    def http_authorizer(self) -> http.IHttpRouteAuthorizer | None:
        if self.provider == "cognito":
            return http_authorizers.HttpUserPoolAuthorizer(
                "Cognito",
                self.user_pool,
                user_pool_clients=[self.public_client, self.machine_client],
            )
        if self.provider == "oidc":
            return http_authorizers.HttpJwtAuthorizer(
                "Oidc", jwt_issuer=self.issuer, jwt_audience=[self.settings.auth.audience]
            )
        if self.provider == "iam":
            return http_authorizers.HttpIamAuthorizer()
        return None

    def rest_method_options(self) -> dict:
        if self.provider == "cognito":
            if self._rest_authorizer is None:
                self._rest_authorizer = rest.CognitoUserPoolsAuthorizer(
                    self, "RestCognito", cognito_user_pools=[self.user_pool]
                )
            return {
                "authorizer": self._rest_authorizer,
                "authorization_type": rest.AuthorizationType.COGNITO,
                "authorization_scopes": self.scopes,
            }
        if self.provider == "oidc":
            if self._rest_authorizer is None:
                checker = TokenAuthorizer(self, "TokenAuthorizer", self.settings)
                self.token_functions.append(checker.function)
                self._rest_authorizer = checker.authorizer
            return {"authorizer": self._rest_authorizer}
        if self.provider == "iam":
            return {"authorization_type": rest.AuthorizationType.IAM}
        return {}

    def route_scopes(self) -> list[str] | None:
        """The scopes the HTTP API's JWT authorizer requires on /mcp."""
        return self.scopes if self.provider in ("cognito", "oidc") and self.scopes else None

    def environment(self, resource_url: str) -> dict[str, str]:
        """What the function's own checks read (see the README's Configuration table)."""
        variables = {"AUTH_PROVIDER": self.provider}
        if self.provider in ("cognito", "oidc"):
            variables.update(
                AUTH_ISSUER=self.issuer,
                AUTH_REQUIRED_SCOPES=",".join(self.scopes),
                MCP_RESOURCE_URL=resource_url,
            )
        if self.provider == "cognito":
            variables["AUTH_CLIENT_IDS"] = ",".join(self.client_ids)
        if self.provider == "oidc":
            variables["AUTH_AUDIENCE"] = self.settings.auth.audience
        if self.provider == "iam" and self.settings.auth.allowed_principals:
            variables["AUTH_ALLOWED_PRINCIPALS"] = ",".join(self.settings.auth.allowed_principals)
        return variables

    def add_outputs(self, mcp_invoke_arns: list[str]) -> None:
        if self.provider in ("cognito", "oidc"):
            CfnOutput(
                self, "AuthIssuer", value=self.issuer, description="Token issuer"
            ).override_logical_id("AuthIssuer")
        if self.provider == "cognito":
            outputs = {
                "UserPoolId": self.user_pool.user_pool_id,
                "PublicClientId": self.public_client.user_pool_client_id,
                "MachineClientId": self.machine_client.user_pool_client_id,
                "TokenEndpoint": f"{self.domain.base_url()}/oauth2/token",
                "AuthorizeEndpoint": f"{self.domain.base_url()}/oauth2/authorize",
                "AuthScopes": " ".join(self.scopes),
            }
            for name, value in outputs.items():
                CfnOutput(self, name, value=value).override_logical_id(name)
        if self.provider == "iam":
            # What to allow (execute-api:Invoke) in the policies of the callers you choose. Not a
            # managed policy of the stack's: whoever deploys could then rewrite what it grants.
            CfnOutput(
                self, "McpInvokeArns", value=Fn.join(",", mcp_invoke_arns)
            ).override_logical_id("McpInvokeArns")

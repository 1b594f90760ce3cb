"""[domain]: the API at an address you own, e.g. https://mcp.example.com/mcp.

- certificate: you bring an ACM certificate (in the stack's region: the API is regional)
  and point a CNAME at the `DomainTarget` output yourself.
- hosted-zone: your Route 53 zone; the stack makes a DNS-validated certificate and the
  alias record. The API's own execute-api address is then switched off, so clients see one
  URL, the one tokens and the RFC 9728 metadata name.
"""

from __future__ import annotations

from aws_cdk import CfnOutput
from aws_cdk import aws_apigateway as rest
from aws_cdk import aws_apigatewayv2 as http
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_route53_targets as targets
from constructs import Construct

from .settings import DeploySettings


class CustomDomain(Construct):
    def __init__(self, scope: Construct, construct_id: str, settings: DeploySettings) -> None:
        super().__init__(scope, construct_id)
        config = settings.domain
        self.name = config.name
        self.base_url = f"https://{config.name}"
        self.zone: route53.IHostedZone | None = None
        if config.mode == "hosted-zone":
            self.zone = route53.HostedZone.from_hosted_zone_attributes(
                self,
                "Zone",
                hosted_zone_id=config.hosted_zone_id,
                zone_name=config.hosted_zone_name,
            )
            self.certificate: acm.ICertificate = acm.Certificate(
                self,
                "Certificate",
                domain_name=config.name,
                validation=acm.CertificateValidation.from_dns(self.zone),
            )
        else:
            self.certificate = acm.Certificate.from_certificate_arn(
                self, "Certificate", config.certificate_arn
            )

    @property
    def replaces_default_endpoint(self) -> bool:
        """With the DNS record in the stack the custom URL works at once; without it, the
        default address stays until you have made the CNAME."""
        return self.zone is not None

    def attach_http(self, api: http.HttpApi, stage: http.HttpStage) -> None:
        domain = http.DomainName(
            self,
            "HttpDomain",
            domain_name=self.name,
            certificate=self.certificate,
            security_policy=http.SecurityPolicy.TLS_1_2,
        )
        http.ApiMapping(self, "Mapping", api=api, domain_name=domain, stage=stage)
        self._point_dns(
            targets.ApiGatewayv2DomainProperties(
                domain.regional_domain_name, domain.regional_hosted_zone_id
            ),
            domain.regional_domain_name,
        )

    def attach_rest(self, api: rest.RestApi) -> None:
        domain = rest.DomainName(
            self,
            "RestDomain",
            domain_name=self.name,
            certificate=self.certificate,
            endpoint_type=rest.EndpointType.REGIONAL,
            security_policy=rest.SecurityPolicy.TLS_1_2,
        )
        # No base path: /mcp on the domain is /mcp on the stage.
        rest.BasePathMapping(self, "Mapping", domain_name=domain, rest_api=api)
        self._point_dns(targets.ApiGatewayDomain(domain), domain.domain_name_alias_domain_name)

    def _point_dns(self, alias: route53.IAliasRecordTarget, target_name: str) -> None:
        if self.zone is not None:
            route53.ARecord(
                self,
                "Alias",
                zone=self.zone,
                record_name=self.name,
                target=route53.RecordTarget.from_alias(alias),
            )
        CfnOutput(
            self,
            "DomainTarget",
            value=target_name,
            description=f"Where {self.name} points (a CNAME, if you manage its DNS yourself)",
        ).override_logical_id("DomainTarget")

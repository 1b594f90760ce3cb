"""[vpc]: the function inside a VPC, so it can reach private resources such as a database.

- existing: your VPC and private subnets, imported from their ids (no lookup, so synth
  needs no AWS credentials).
- new: a VPC with private subnets in two AZs, reaching out through one NAT gateway, or
  only to the AWS services listed in `endpoints` through interface endpoints.

Either way the function gets a security group of its own that allows only the traffic it
needs out: HTTPS, and the database port when [vpc] names a database.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct

from .observability import retention
from .settings import DeploySettings, VpcSettings

AZ_COUNT = 2
HTTPS = ec2.Port.tcp(443)


class McpNetwork(Construct):
    """`function_options()` are the VPC arguments for the server function."""

    def __init__(self, scope: Construct, construct_id: str, settings: DeploySettings) -> None:
        super().__init__(scope, construct_id)
        config = settings.vpc
        self.endpoints: list[ec2.InterfaceVpcEndpoint] = []
        if config.mode == "existing":
            self.vpc = ec2.Vpc.from_vpc_attributes(
                self,
                "Vpc",
                vpc_id=config.vpc_id,
                # Required by the import, but unused: the function is given the subnets below.
                availability_zones=[f"{settings.region}{letter}" for letter in "ab"],
            )
            self.subnets = [
                ec2.Subnet.from_subnet_id(self, f"Subnet{index}", subnet_id)
                for index, subnet_id in enumerate(config.subnet_ids)
            ]
        else:
            self.vpc = self._new_vpc(config, settings.observability.log_retention_days)
            self.subnets = self.vpc.isolated_subnets or self.vpc.private_subnets
        self.security_group = ec2.SecurityGroup(
            self,
            "FunctionSecurityGroup",
            vpc=self.vpc,
            description=f"{settings.name} function: only the traffic it needs goes out",
            allow_all_outbound=False,
        )
        self.extra_security_groups = [
            ec2.SecurityGroup.from_security_group_id(self, f"Extra{index}", group_id)
            for index, group_id in enumerate(config.security_group_ids)
        ]
        self._allow_https_out(config)
        if config.opens_database:
            self._allow_database(config)

    def function_options(self) -> dict:
        return {
            "vpc": self.vpc,
            "vpc_subnets": ec2.SubnetSelection(subnets=self.subnets),
            "security_groups": [self.security_group, *self.extra_security_groups],
        }

    def _new_vpc(self, config: VpcSettings, log_retention_days: int) -> ec2.Vpc:
        with_nat = config.egress == "nat"
        private = (
            ec2.SubnetType.PRIVATE_WITH_EGRESS if with_nat else ec2.SubnetType.PRIVATE_ISOLATED
        )
        subnets = [ec2.SubnetConfiguration(name="private", subnet_type=private, cidr_mask=22)]
        if with_nat:  # the NAT gateway lives in a public subnet
            subnets.append(
                ec2.SubnetConfiguration(
                    name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24
                )
            )
        vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=AZ_COUNT,
            # One NAT gateway for both AZs: half the cost of one per AZ, at the price of
            # losing egress while its AZ is down.
            nat_gateways=1 if with_nat else 0,
            subnet_configuration=subnets,
        )
        flow_logs = logs.LogGroup(
            self,
            "FlowLogs",
            retention=retention(log_retention_days),
            removal_policy=RemovalPolicy.DESTROY,
        )
        # Rejected traffic only: what a security group or route blocked, which is what you
        # look for when the function cannot reach something; accepted traffic costs more.
        vpc.add_flow_log(
            "RejectedTraffic",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs),
            traffic_type=ec2.FlowLogTrafficType.REJECT,
        )
        if not with_nat:
            for service in config.endpoints:
                self._interface_endpoint(vpc, service)
        return vpc

    def _interface_endpoint(self, vpc: ec2.Vpc, service: str) -> None:
        endpoint = vpc.add_interface_endpoint(
            f"Endpoint-{service}",
            service=ec2.InterfaceVpcEndpointAwsService(service),
            private_dns_enabled=True,
            # Reachable from the function alone (the rule is added below), not the whole VPC.
            open=False,
        )
        self.endpoints.append(endpoint)

    def _allow_https_out(self, config: VpcSettings) -> None:
        if config.mode == "new" and config.egress == "endpoints":
            for endpoint in self.endpoints:
                endpoint.connections.allow_default_port_from(
                    self.security_group, "the function calls AWS through this endpoint"
                )
            return
        # Through the NAT gateway (or your VPC's own routes): AWS APIs and the token
        # issuer's keys are all HTTPS.
        self.security_group.add_egress_rule(
            ec2.Peer.any_ipv4(), HTTPS, "HTTPS to AWS APIs and the token issuer"
        )

    def _allow_database(self, config: VpcSettings) -> None:
        port = ec2.Port.tcp(config.database_port)
        if config.database_cidr:
            self.security_group.add_egress_rule(
                ec2.Peer.ipv4(config.database_cidr), port, "the database"
            )
        if config.database_security_group_id:
            database = ec2.SecurityGroup.from_security_group_id(
                self, "Database", config.database_security_group_id, mutable=True
            )
            # Both directions: out of the function's group, and into the database's.
            database.connections.allow_from(self.security_group, port, "the MCP server function")

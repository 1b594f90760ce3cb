"""`make bootstrap`'s deployment policy and permissions boundary, written into a local AWS
stand-in (moto).

That they cover every resource the server stack creates and every action its roles and the
CI role are granted is checked in test_infra.py, on each synthesized shape; that the policy
covers the CI role's stack, in test_ci_role.py.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import boto3
import pytest

from infra.settings import load_settings
from ops import bootstrap_policy


def replace(settings: object, **changes: object) -> SimpleNamespace:
    """settings with some values changed, as the bootstrap policy reads them."""
    names = [name for name in dir(settings) if not name.startswith(("_", "model_"))]
    return SimpleNamespace(**{name: getattr(settings, name) for name in names} | changes)


# Named within what a scoped policy allows, whatever name deploy.toml gives the project.
SETTINGS = replace(load_settings(), name="my-mcp-server")
ACCOUNT = "123456789012"  # moto's
POLICY_ARN = f"arn:aws:iam::{ACCOUNT}:policy/cdk-hnb659fds-{SETTINGS.name}-execution"
BOUNDARY_ARN = f"arn:aws:iam::{ACCOUNT}:policy/cdk-hnb659fds-{SETTINGS.name}-boundary"
ADMINISTRATOR = "arn:aws:iam::aws:policy/AdministratorAccess"
OTHER_PROJECT = f"arn:aws:iam::{ACCOUNT}:policy/cdk-hnb659fds-weather-mcp-execution"


REGIONS = ("us-east-1", "eu-west-1", "eu-central-1", "ap-southeast-2", "us-west-2", "sa-east-1")


def edited(run: int):
    """deploy.toml as edited before each run: each one asks for a different document."""
    observability = replace(SETTINGS.observability, alarms=run % 2 == 0)
    return replace(SETTINGS, observability=observability, region=REGIONS[run % 6])


def versions(aws: boto3.Session, arn: str = POLICY_ARN) -> list[dict]:
    listed = aws.client("iam").list_policy_versions(PolicyArn=arn)["Versions"]
    return sorted(listed, key=lambda version: version["VersionId"])


def default_document(aws: boto3.Session, arn: str = POLICY_ARN) -> dict:
    iam = aws.client("iam")
    default = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    return iam.get_policy_version(PolicyArn=arn, VersionId=default)["PolicyVersion"]["Document"]


def test_the_first_run_creates_the_policy_and_the_boundary(aws: boto3.Session) -> None:
    arn = bootstrap_policy.ensure_policy(SETTINGS, aws)

    assert arn == POLICY_ARN
    assert default_document(aws) == bootstrap_policy.policy_document(SETTINGS, "aws", ACCOUNT)
    assert default_document(aws, BOUNDARY_ARN) == bootstrap_policy.boundary_document(
        SETTINGS, "aws", ACCOUNT
    )


def test_a_later_run_updates_both_in_place(aws: boto3.Session) -> None:
    bootstrap_policy.ensure_policy(SETTINGS, aws)
    changed = replace(SETTINGS, region="eu-west-1")

    arn = bootstrap_policy.ensure_policy(changed, aws)

    assert arn == POLICY_ARN
    for policy in (POLICY_ARN, BOUNDARY_ARN):
        assert [version["IsDefaultVersion"] for version in versions(aws, policy)] == [False, True]
    assert default_document(aws) == bootstrap_policy.policy_document(changed, "aws", ACCOUNT)
    services = default_document(aws)["Statement"][0]
    assert services["Condition"] == {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}
    logs = default_document(aws, BOUNDARY_ARN)["Statement"][0]
    assert logs["Resource"] == f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:*"


def test_an_unchanged_document_adds_no_version(aws: boto3.Session) -> None:
    bootstrap_policy.ensure_policy(SETTINGS, aws)
    bootstrap_policy.ensure_policy(SETTINGS, aws)

    assert len(versions(aws)) == 1


def test_the_oldest_version_goes_when_iam_holds_five(aws: boto3.Session) -> None:
    for run in range(7):
        bootstrap_policy.ensure_policy(edited(run), aws)

    kept = versions(aws)
    assert [version["VersionId"] for version in kept] == ["v3", "v4", "v5", "v6", "v7"]
    assert kept[-1]["IsDefaultVersion"]
    assert default_document(aws) == bootstrap_policy.policy_document(edited(6), "aws", ACCOUNT)


@pytest.fixture
def main(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(bootstrap_policy, "load_settings", lambda: SETTINGS)
    return lambda: bootstrap_policy.main(["--profile", ""])


def test_make_bootstrap_gets_the_arn_on_stdout(aws, main, capsys: pytest.CaptureFixture) -> None:
    main()

    assert capsys.readouterr().out == f"{POLICY_ARN}\n"


def bootstrapped_with(aws: boto3.Session, execution_policies: str) -> None:
    """The CDKToolkit stack as an earlier `cdk bootstrap` left it, as far as its parameter goes."""
    # CDK declares it a CommaDelimitedList, which AWS describes as the string it was given;
    # moto would describe a list, so it is a String here.
    template = {
        "Parameters": {"CloudFormationExecutionPolicies": {"Type": "String"}},
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
    }
    aws.client("cloudformation").create_stack(
        StackName="CDKToolkit",
        TemplateBody=json.dumps(template),
        Parameters=[
            {
                "ParameterKey": "CloudFormationExecutionPolicies",
                "ParameterValue": execution_policies,
            }
        ],
    )


@pytest.mark.parametrize(
    ("before", "after"),
    [
        # CDK's default: this project's policy replaces AdministratorAccess.
        (ADMINISTRATOR, POLICY_ARN),
        # Another project's policy stays; this project's joins it, once.
        (OTHER_PROJECT, f"{OTHER_PROJECT},{POLICY_ARN}"),
        (f"{OTHER_PROJECT},{POLICY_ARN}", f"{OTHER_PROJECT},{POLICY_ARN}"),
        (f"{POLICY_ARN}, {OTHER_PROJECT}", f"{OTHER_PROJECT},{POLICY_ARN}"),
    ],
)
def test_a_bootstrap_keeps_the_other_projects_policies(
    aws: boto3.Session, main, capsys: pytest.CaptureFixture, before: str, after: str
) -> None:
    bootstrapped_with(aws, before)

    main()

    assert capsys.readouterr().out == f"{after}\n"


def statements(settings) -> dict[str, dict]:
    document = bootstrap_policy.policy_document(settings, "aws", ACCOUNT)
    return {statement["Sid"]: statement for statement in document["Statement"]}


def test_iam_and_lambda_reach_only_the_stacks_own_roles_policies_and_functions() -> None:
    granted = statements(SETTINGS)
    project_roles = f"arn:aws:iam::{ACCOUNT}:role/{SETTINGS.name}-*"
    iam_statements = {
        sid
        for sid, statement in granted.items()
        if any(action.startswith("iam:") for action in statement["Action"])
    }

    # A custom domain adds API Gateway's service-linked role, checked below.
    assert iam_statements - {"ApiGatewayServiceRole"} == {
        "ProjectRoles",
        "ProjectRolesWithinTheBoundary",
        "KeepTheBoundary",
        "HandsOffTheCiRole",
    }
    assert granted["ProjectRoles"]["Resource"] == project_roles
    # A role gets rights only with the boundary on it, and keeps it.
    within = granted["ProjectRolesWithinTheBoundary"]
    assert within["Resource"] == project_roles
    assert within["Condition"] == {"StringEquals": {"iam:PermissionsBoundary": BOUNDARY_ARN}}
    assert set(within["Action"]).isdisjoint(granted["ProjectRoles"]["Action"])
    assert granted["KeepTheBoundary"]["Effect"] == "Deny"
    assert granted["KeepTheBoundary"]["Action"] == ["iam:DeleteRolePermissionsBoundary"]
    # The CI role and its OIDC provider are out of reach, whatever a template asks.
    hands_off = granted["HandsOffTheCiRole"]
    assert (hands_off["Effect"], hands_off["Action"]) == ("Deny", ["iam:*"])
    assert hands_off["Resource"] == [
        f"arn:aws:iam::{ACCOUNT}:role/{SETTINGS.name}-ci-*",
        f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com",
    ]
    assert granted["ProjectFunctions"]["Resource"] == (
        f"arn:aws:lambda:{SETTINGS.region}:{ACCOUNT}:function:{SETTINGS.name}-*"
    )
    assert not any("lambda" in action for action in granted["ProjectServices"]["Action"])
    # Both policies lie outside what the stacks may change.
    for arn in (POLICY_ARN, BOUNDARY_ARN):
        assert not arn.split("/")[-1].startswith(f"{SETTINGS.name}-")


def test_services_follow_the_features_that_are_on() -> None:
    plain = replace(
        SETTINGS,
        auth=replace(SETTINGS.auth, provider="none"),
        vpc=replace(SETTINGS.vpc, mode="none"),
        domain=replace(SETTINGS.domain, mode="none"),
        observability=replace(SETTINGS.observability, alarms=False),
    )
    everything = replace(
        SETTINGS,
        auth=replace(SETTINGS.auth, provider="cognito"),
        vpc=replace(SETTINGS.vpc, mode="new", egress="nat"),
        domain=replace(SETTINGS.domain, mode="hosted-zone", hosted_zone_id="Z0123456789ABCDEFGHIJ"),
        observability=replace(SETTINGS.observability, alarms=True),
    )

    endpoints = replace(plain, vpc=replace(SETTINGS.vpc, mode="new", egress="endpoints"))
    certificate = replace(plain, domain=replace(SETTINGS.domain, mode="certificate"))

    assert bootstrap_policy.services(plain) == ["apigateway", "logs"]
    assert bootstrap_policy.services(everything) == [
        "acm", "apigateway", "cloudwatch", "cognito-idp", "ec2", "logs", "sns",
    ]  # fmt: skip
    assert {"HostedZoneRecords", "ApiGatewayServiceRole", "EndpointPrivateDns"}.isdisjoint(
        statements(plain)
    )
    assert statements(everything)["HostedZoneRecords"]["Resource"][0] == (
        "arn:aws:route53:::hostedzone/Z0123456789ABCDEFGHIJ"
    )
    # A custom domain, with or without the hosted zone: API Gateway's service-linked role.
    for settings in (everything, certificate):
        assert statements(settings)["ApiGatewayServiceRole"]["Condition"] == {
            "StringEquals": {"iam:AWSServiceName": "ops.apigateway.amazonaws.com"}
        }
    # Only a new VPC that reaches AWS through endpoints uses their private DNS.
    assert "EndpointPrivateDns" not in statements(everything)
    assert statements(endpoints)["EndpointPrivateDns"]["Action"] == [
        "route53:AssociateVPCWithHostedZone",
        "route53:DisassociateVPCFromHostedZone",
    ]


def boundary_statements(settings) -> dict[str, dict]:
    document = bootstrap_policy.boundary_document(settings, "aws", ACCOUNT)
    return {statement["Sid"]: statement for statement in document["Statement"]}


def test_the_boundary_names_this_projects_secrets_stack_and_smoke_target() -> None:
    cognito = replace(
        SETTINGS,
        auth=replace(SETTINGS.auth, provider="cognito"),
        secrets={"api_key": "weather/api-key", "database": "app/database"},
    )
    iam = replace(SETTINGS, auth=replace(SETTINGS.auth, provider="iam"), secrets={})
    in_region = f"{SETTINGS.region}:{ACCOUNT}"

    assert boundary_statements(cognito)["ReadTheNamedSecrets"]["Resource"] == [
        f"arn:aws:secretsmanager:{in_region}:secret:weather/api-key-??????",
        f"arn:aws:secretsmanager:{in_region}:secret:app/database-??????",
    ]
    assert boundary_statements(cognito)["ReadTheServerStack"]["Resource"] == (
        f"arn:aws:cloudformation:{in_region}:stack/{SETTINGS.name}/*"
    )
    assert "SmokeTestCall" not in boundary_statements(cognito)
    assert {"ReadTheNamedSecrets", "SmokeTestToken"}.isdisjoint(boundary_statements(iam))
    assert boundary_statements(iam)["SmokeTestCall"]["Resource"] == (
        f"arn:aws:execute-api:{in_region}:*/*/*/mcp"
    )


def test_a_name_the_policy_cannot_scope_is_refused() -> None:
    for name in ("cdk", "cdk-hnb659fds", "cdk-tools", "a" * 33):
        problem = bootstrap_policy.name_problem(replace(SETTINGS, name=name))
        assert problem.startswith(f"make bootstrap: [server] name = {name!r} is not allowed")
    for name in ("cdktools", "a" * 32, SETTINGS.name):
        assert bootstrap_policy.name_problem(replace(SETTINGS, name=name)) == ""

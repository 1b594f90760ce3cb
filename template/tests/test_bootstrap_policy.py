"""`make bootstrap`'s deployment policy, written into a local AWS stand-in (moto).

That it covers every resource the server stack creates is checked in test_infra.py, on each
synthesized shape; that it covers the CI role's stack, in test_ci_role.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from infra import bootstrap_policy
from infra.settings import load_settings

SETTINGS = load_settings()
ACCOUNT = "123456789012"  # moto's
POLICY_ARN = f"arn:aws:iam::{ACCOUNT}:policy/cdk-hnb659fds-{SETTINGS.name}-execution"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[boto3.Session]:
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield boto3.Session(region_name=SETTINGS.region)


REGIONS = ("us-east-1", "eu-west-1", "eu-central-1", "ap-southeast-2", "us-west-2", "sa-east-1")


def edited(run: int):
    """deploy.toml as edited before each run: each one asks for a different document."""
    observability = dataclasses.replace(SETTINGS.observability, alarms=run % 2 == 0)
    return dataclasses.replace(SETTINGS, observability=observability, region=REGIONS[run % 6])


def versions(aws: boto3.Session) -> list[dict]:
    listed = aws.client("iam").list_policy_versions(PolicyArn=POLICY_ARN)["Versions"]
    return sorted(listed, key=lambda version: version["VersionId"])


def default_document(aws: boto3.Session) -> dict:
    iam = aws.client("iam")
    default = iam.get_policy(PolicyArn=POLICY_ARN)["Policy"]["DefaultVersionId"]
    return iam.get_policy_version(PolicyArn=POLICY_ARN, VersionId=default)["PolicyVersion"][
        "Document"
    ]


def test_the_first_run_creates_the_policy(aws: boto3.Session) -> None:
    arn = bootstrap_policy.ensure_policy(SETTINGS, aws)

    assert arn == POLICY_ARN
    assert default_document(aws) == bootstrap_policy.policy_document(SETTINGS, "aws", ACCOUNT)


def test_a_later_run_updates_it_in_place(aws: boto3.Session) -> None:
    bootstrap_policy.ensure_policy(SETTINGS, aws)
    changed = dataclasses.replace(SETTINGS, region="eu-west-1")

    arn = bootstrap_policy.ensure_policy(changed, aws)

    assert arn == POLICY_ARN
    assert [version["IsDefaultVersion"] for version in versions(aws)] == [False, True]
    assert default_document(aws) == bootstrap_policy.policy_document(changed, "aws", ACCOUNT)
    services = default_document(aws)["Statement"][0]
    assert services["Condition"] == {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}


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


def test_make_bootstrap_gets_the_arn_on_stdout(aws, capsys: pytest.CaptureFixture) -> None:
    bootstrap_policy.main(["--profile", ""])

    assert capsys.readouterr().out == f"{POLICY_ARN}\n"


def statements(settings) -> dict[str, dict]:
    document = bootstrap_policy.policy_document(settings, "aws", ACCOUNT)
    return {statement["Sid"]: statement for statement in document["Statement"]}


def test_iam_reaches_only_the_stacks_own_roles_and_policies() -> None:
    project_roles = statements(SETTINGS)["ProjectRoles"]
    iam_statements = {
        sid
        for sid, statement in statements(SETTINGS).items()
        if any(action.startswith("iam:") for action in statement["Action"])
    }

    assert project_roles["Resource"] == [
        f"arn:aws:iam::{ACCOUNT}:role/{SETTINGS.name}-*",
        f"arn:aws:iam::{ACCOUNT}:policy/{SETTINGS.name}-*",
    ]
    assert iam_statements == {"ProjectRoles", "GitHubOidcProvider"}
    assert statements(SETTINGS)["GitHubOidcProvider"]["Resource"] == (
        f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
    )
    # The policy itself lies outside what the stacks may change.
    assert not POLICY_ARN.split("/")[-1].startswith(f"{SETTINGS.name}-")


def test_services_follow_the_features_that_are_on() -> None:
    plain = dataclasses.replace(
        SETTINGS,
        auth=dataclasses.replace(SETTINGS.auth, provider="none"),
        vpc=dataclasses.replace(SETTINGS.vpc, mode="none"),
        domain=dataclasses.replace(SETTINGS.domain, mode="none"),
        observability=dataclasses.replace(SETTINGS.observability, alarms=False),
    )
    everything = dataclasses.replace(
        SETTINGS,
        auth=dataclasses.replace(SETTINGS.auth, provider="cognito"),
        vpc=dataclasses.replace(SETTINGS.vpc, mode="new"),
        domain=dataclasses.replace(
            SETTINGS.domain, mode="hosted-zone", hosted_zone_id="Z0123456789ABCDEFGHIJ"
        ),
        observability=dataclasses.replace(SETTINGS.observability, alarms=True),
    )

    assert bootstrap_policy.services(plain) == ["apigateway", "lambda", "logs"]
    assert bootstrap_policy.services(everything) == [
        "acm", "apigateway", "cloudwatch", "cognito-idp", "ec2", "lambda", "logs", "sns",
    ]  # fmt: skip
    assert "HostedZoneRecords" not in statements(plain)
    assert statements(everything)["HostedZoneRecords"]["Resource"][0] == (
        "arn:aws:route53:::hostedzone/Z0123456789ABCDEFGHIJ"
    )


def test_a_name_that_reaches_the_bootstrap_roles_is_refused() -> None:
    for name in ("cdk", "cdk-hnb659fds"):
        problem = bootstrap_policy.name_problem(dataclasses.replace(SETTINGS, name=name))
        assert problem.startswith(f"make bootstrap: [server] name = {name!r} is not allowed")
    assert bootstrap_policy.name_problem(dataclasses.replace(SETTINGS, name="cdk-tools")) == ""

"""`make ci-role`: the deploy role's stack, trusted for one repository's default branch, with
grants limited to this server; and the GitHub side of that trust, through the GitHub CLI."""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import boto3
import pytest
from aws_cdk.assertions import Annotations, Match, Template

from infra.settings import DeploySettings, load_settings
from ops import bootstrap_policy, ci_role, github_trust

REPOSITORY = "octo-org/weather-mcp"
BRANCH = "main"
SUBJECT = "repo:octo-org/weather-mcp:environment:production:ref:refs/heads/main"
PROVIDER_ARN = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
USER_POOL_ID = "us-east-1_Ab12Cd34E"
API_ID = "a1b2c3d4e5"
# What each provider's smoke test reaches in the deployed server stack.
SMOKE_TARGETS = {"none": "", "oidc": "", "cognito": USER_POOL_ID, "iam": API_ID}
PROJECT = Path(__file__).resolve().parent.parent
SETTINGS = load_settings()


def with_auth(provider: str) -> DeploySettings:
    return SETTINGS.model_copy(update={"auth": SimpleNamespace(provider=provider)})


def synthesize(
    tmp_path: Path, provider: str = "none", provider_arn: str = ""
) -> tuple[Template, Annotations, Path]:
    app = ci_role.build_app(
        with_auth(provider),
        REPOSITORY,
        BRANCH,
        SMOKE_TARGETS[provider],
        provider_arn,
        outdir=str(tmp_path),
    )
    (stack,) = app.node.children
    app.synth()
    return (
        Template.from_stack(stack),
        Annotations.from_stack(stack),
        tmp_path / f"{stack.stack_name}.template.json",
    )


def rendered(value: object) -> object:
    """A CloudFormation value as one string: Fn::Join flattened, Ref as ${Name}."""
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(str(rendered(part)) for part in parts)
    if isinstance(value, dict) and "Ref" in value:
        return f"${{{value['Ref']}}}"
    return value


def grants(template: Template) -> dict[str, object]:
    """The role's policy as action -> resource."""
    (policy,) = template.find_resources("AWS::IAM::Policy").values()
    return {
        statement["Action"]: rendered(statement["Resource"])
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    }


def test_only_the_default_branchs_production_jobs_may_assume_the_role(tmp_path: Path) -> None:
    template, _, _ = synthesize(tmp_path)

    template.has_resource_properties(
        "AWS::IAM::OIDCProvider",
        {
            "Url": "https://token.actions.githubusercontent.com",
            "ClientIdList": ["sts.amazonaws.com"],
        },
    )
    (role,) = template.find_resources("AWS::IAM::Role").values()
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert role["Properties"]["MaxSessionDuration"] == 3600
    assert trust["Action"] == "sts:AssumeRoleWithWebIdentity"
    # Exactly one condition operator, with exact values: no StringLike, no wildcard.
    assert trust["Condition"] == {
        "StringEquals": {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:sub": SUBJECT,
        }
    }
    assert "DeployRoleArn" in template.find_outputs("*")


REGION = SETTINGS.region


@pytest.mark.parametrize(
    ("provider", "smoke_grant"),
    [
        ("none", {}),
        ("oidc", {}),
        (
            "cognito",
            {
                "cognito-idp:DescribeUserPoolClient": (
                    f"arn:${{AWS::Partition}}:cognito-idp:{REGION}:${{AWS::AccountId}}:userpool/{USER_POOL_ID}"
                )
            },
        ),
        (
            "iam",
            {
                "execute-api:Invoke": (
                    f"arn:${{AWS::Partition}}:execute-api:{REGION}:${{AWS::AccountId}}:{API_ID}/*/*/mcp"
                )
            },
        ),
    ],
)
def test_the_role_can_deploy_and_smoke_test_this_server_and_nothing_more(
    tmp_path: Path, provider: str, smoke_grant: dict[str, str]
) -> None:
    template, _, _ = synthesize(tmp_path, provider)

    assert grants(template) == {
        # The CDK bootstrap roles, which hold the deployment permissions.
        "sts:AssumeRole": (
            f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role/cdk-hnb659fds-*-${{AWS::AccountId}}-{REGION}"
        ),
        "cloudformation:DescribeStacks": (
            f"arn:${{AWS::Partition}}:cloudformation:{REGION}:${{AWS::AccountId}}:stack/{SETTINGS.name}/*"
        ),
        **smoke_grant,
    }


def test_an_existing_provider_is_reused(tmp_path: Path) -> None:
    template, _, _ = synthesize(tmp_path, provider_arn=PROVIDER_ARN)

    template.resource_count_is("AWS::IAM::OIDCProvider", 0)
    role = next(iter(template.find_resources("AWS::IAM::Role").values()))
    principal = role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]
    assert principal == {"Federated": PROVIDER_ARN}


@pytest.mark.parametrize("provider", ["cognito", "iam"])
def test_cdk_nag_and_cfn_lint_are_clean(tmp_path: Path, provider: str) -> None:
    _, annotations, template_file = synthesize(tmp_path, provider)
    findings = annotations.find_error("*", Match.string_like_regexp("AwsSolutions-.*"))
    lint = subprocess.run(
        [Path(sys.executable).parent / "cfn-lint", "--format", "parseable", template_file],
        capture_output=True,
        text=True,
    )

    assert not findings, [finding.entry.data for finding in findings]
    assert not [line for line in lint.stdout.splitlines() if ":E" in line], lint.stdout


def test_the_ci_stack_deploys_with_your_credentials_out_of_cloudformations_reach(
    tmp_path: Path,
) -> None:
    template, _, _ = synthesize(tmp_path)
    document = bootstrap_policy.policy_document(SETTINGS, "aws", "123456789012")
    denied = [s for s in document["Statement"] if s["Effect"] == "Deny" and "iam:*" in s["Action"]]
    role_name = f"{SETTINGS.name}-ci-DeployRole0123-ABCDEF"  # as CloudFormation names it

    # No bootstrap version check: the CLI deploys it with your credentials, not CDK's roles.
    assert "BootstrapVersion" not in template.to_json().get("Parameters", {})
    assert any(
        fnmatch.fnmatchcase(f"arn:aws:iam::123456789012:role/{role_name}", resource)
        for statement in denied
        for resource in statement["Resource"]
    )


def deploy_server(aws: boto3.Session) -> None:
    """The server stack as make deploy leaves it, as far as the role's grants look."""
    outputs = {"UserPoolId": USER_POOL_ID, "ApiId": API_ID, "McpEndpoint": "https://x/mcp"}
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    aws.client("cloudformation").create_stack(
        StackName=SETTINGS.name, TemplateBody=json.dumps(template)
    )


@pytest.mark.parametrize("provider", ["cognito", "iam"])
def test_the_grants_name_the_deployed_servers_pool_or_api(
    aws: boto3.Session, provider: str
) -> None:
    deploy_server(aws)

    assert ci_role.smoke_target(with_auth(provider), aws) == SMOKE_TARGETS[provider]


@pytest.mark.parametrize("provider", ["none", "oidc"])
def test_no_server_is_needed_when_the_smoke_test_needs_no_grant(
    aws: boto3.Session, provider: str
) -> None:
    assert ci_role.smoke_target(with_auth(provider), aws) == ""


@pytest.mark.parametrize(("provider", "output"), [("cognito", "UserPoolId"), ("iam", "ApiId")])
def test_make_ci_role_stops_until_the_server_is_deployed(
    aws: boto3.Session,
    monkeypatch: pytest.MonkeyPatch,
    provider: str,
    output: str,
) -> None:
    monkeypatch.setenv("REPO", REPOSITORY)
    monkeypatch.setenv("BRANCH", BRANCH)
    monkeypatch.setenv("PROFILE", "")
    monkeypatch.setattr(sys, "argv", ["ops.ci_role"])
    monkeypatch.setattr(ci_role, "load_settings", lambda: with_auth(provider))

    with pytest.raises(SystemExit) as stopped:
        ci_role.main()

    assert stopped.value.code == (
        f"make ci-role: the role's smoke-test grant names the server's {output}, and stack "
        f"{SETTINGS.name} in {SETTINGS.region} has none yet: deploy the server first: make deploy"
    )


@pytest.mark.parametrize(
    ("url", "repository"),
    [
        ("https://github.com/octo-org/weather-mcp.git", "octo-org/weather-mcp"),
        ("git@github.com:octo-org/weather-mcp.git", "octo-org/weather-mcp"),
        ("https://github.com/octo-org/weather.mcp", "octo-org/weather.mcp"),
        ("https://gitlab.com/octo-org/weather-mcp.git", ""),
    ],
)
def test_the_repository_comes_from_the_origin_remote(url: str, repository: str) -> None:
    assert ci_role.repository_from_url(url) == repository


def test_bad_inputs_are_named_before_anything_is_synthesized() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ops.ci_role"],
        cwd=PROJECT,
        env={
            **os.environ,
            "REPO": "weather-mcp",
            "BRANCH": "main..x",
            "OIDC_PROVIDER_ARN": "arn:aws:iam::1:role/x",
        },
        capture_output=True,
        text=True,
    )

    assert result.returncode == 1
    # The last lines: Node.js may print its own notices first.
    assert result.stderr.splitlines()[-3:] == [
        "make ci-role: REPO='weather-mcp' is not allowed: use the GitHub repository as "
        "owner/name, e.g. REPO=octo-org/weather-mcp (make ci-role reads it from the origin remote)",
        "make ci-role: BRANCH='main..x' is not allowed: use the repository's default branch, "
        "e.g. BRANCH=main (make ci-role asks gh, or reads origin/HEAD: git remote set-head origin -a)",
        "make ci-role: OIDC_PROVIDER_ARN='arn:aws:iam::1:role/x' is not allowed: use the ARN of "
        "the account's GitHub provider, "
        "arn:aws:iam::<account>:oidc-provider/token.actions.githubusercontent.com, "
        "or leave it empty to create one",
    ]


@pytest.mark.parametrize("branch", ["main", "release/2.x", "trunk"])
def test_ordinary_branch_names_pass(branch: str) -> None:
    assert ci_role.input_problems(REPOSITORY, branch, "") == []


@pytest.mark.parametrize("branch", ["", "/main", "main/", "a..b", "main:x", "feature branch"])
def test_branch_names_git_refuses_are_refused(branch: str) -> None:
    (problem,) = ci_role.input_problems(REPOSITORY, branch, "")
    assert problem.startswith(f"BRANCH={branch!r} is not allowed")


# GitHub, as far as `make ci-role` talks to it: a stand-in `gh` that logs each call and answers
# the two reads (the repository's default branch, the environment's branch policies).
FAKE_GH = """#!{python}
import json, os, sys
args = sys.argv[1:]
with open(os.environ["GH_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
if os.environ.get("GH_REFUSES"):
    sys.exit("gh: Must have admin rights to Repository. (HTTP 403)")
if args[:2] == ["repo", "view"]:
    print(json.dumps({{"defaultBranchRef": {{"name": "trunk"}}}}))
elif args[:1] == ["api"] and len(args) == 2 and args[1].endswith("/deployment-branch-policies"):
    print(json.dumps({{"total_count": 2, "branch_policies": json.loads(os.environ["GH_POLICIES"])}}))
"""


@pytest.fixture
def bin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH with git and nothing else: no gh unless a test puts one there."""
    directory = tmp_path / "bin"
    directory.mkdir()
    (directory / "git").symlink_to(shutil.which("git"))
    monkeypatch.setenv("PATH", str(directory))
    return directory


@pytest.fixture
def gh(bin_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    script = bin_dir / "gh"
    script.write_text(FAKE_GH.format(python=sys.executable), encoding="utf-8")
    script.chmod(0o755)
    log = tmp_path / "gh.log"
    monkeypatch.setenv("GH_LOG", str(log))
    monkeypatch.setenv("GH_POLICIES", "[]")
    return lambda: [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]


def test_the_subject_names_the_environment_and_the_branch() -> None:
    assert github_trust.subject(REPOSITORY, BRANCH) == SUBJECT


def test_without_gh_the_exact_commands_are_printed(bin_dir: Path) -> None:
    message = github_trust.configure(REPOSITORY, BRANCH, PROJECT)

    assert message.splitlines()[1:] == [
        "  gh api --method PUT repos/octo-org/weather-mcp/actions/oidc/customization/sub "
        "-F use_default=false -f 'include_claim_keys[]=repo' -f 'include_claim_keys[]=context' "
        "-f 'include_claim_keys[]=ref'",
        "  gh api --method PUT repos/octo-org/weather-mcp/environments/production "
        "-F 'deployment_branch_policy[protected_branches]=false' "
        "-F 'deployment_branch_policy[custom_branch_policies]=true'",
        "  gh api --method POST repos/octo-org/weather-mcp/environments/production/"
        "deployment-branch-policies -f name=main -f type=branch",
    ]


def test_gh_sets_the_claim_and_leaves_the_default_branch_the_only_one(gh, monkeypatch) -> None:
    monkeypatch.setenv("GH_POLICIES", '[{"id": 7, "name": "release/*"}, {"id": 8, "name": "main"}]')

    github_trust.configure(REPOSITORY, BRANCH, PROJECT)

    environment = "repos/octo-org/weather-mcp/environments/production"
    calls = gh()
    assert calls == [
        github_trust.commands(REPOSITORY, BRANCH)[0][1:],
        github_trust.commands(REPOSITORY, BRANCH)[1][1:],
        ["api", f"{environment}/deployment-branch-policies"],
        ["api", "--method", "DELETE", f"{environment}/deployment-branch-policies/7"],
    ]
    assert calls[0][-6:] == [
        "-f",
        "include_claim_keys[]=repo",
        "-f",
        "include_claim_keys[]=context",
        "-f",
        "include_claim_keys[]=ref",
    ]


def test_gh_adds_the_default_branch_when_missing(gh) -> None:
    github_trust.configure(REPOSITORY, BRANCH, PROJECT)

    assert gh()[-1] == [
        "api",
        "--method",
        "POST",
        "repos/octo-org/weather-mcp/environments/production/deployment-branch-policies",
        "-f",
        "name=main",
        "-f",
        "type=branch",
    ]


def test_a_refusal_from_github_is_named(gh, monkeypatch) -> None:
    monkeypatch.setenv("GH_REFUSES", "1")

    with pytest.raises(github_trust.GitHubRefusedError) as refused:
        github_trust.configure(REPOSITORY, BRANCH, PROJECT)

    assert str(refused.value) == (
        "`gh api --method PUT repos/octo-org/weather-mcp/actions/oidc/customization/sub "
        "-F use_default=false -f 'include_claim_keys[]=repo' -f 'include_claim_keys[]=context' "
        "-f 'include_claim_keys[]=ref'` failed: gh: Must have admin rights to Repository. (HTTP 403)"
    )


def test_the_default_branch_comes_from_gh(gh, tmp_path: Path) -> None:
    assert github_trust.default_branch(REPOSITORY, tmp_path) == "trunk"
    assert gh() == [["repo", "view", REPOSITORY, "--json", "defaultBranchRef"]]


def test_without_gh_the_default_branch_comes_from_origin_head(bin_dir: Path, tmp_path) -> None:
    clone = tmp_path / "clone"
    for command in (
        ["git", "init", "-q", str(clone)],
        ["git", "-C", str(clone), "symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/develop"],
    ):  # fmt: skip
        subprocess.run(command, check=True)

    assert github_trust.default_branch(REPOSITORY, clone) == "develop"
    assert github_trust.default_branch(REPOSITORY, tmp_path) == ""

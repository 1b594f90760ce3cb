"""`copier copy` as a person runs it: in a terminal, typing answers, with no --defaults or --data.

Copier validates defaults before it prompts and does not validate a select answer once it is
made, so only a real terminal shows what people see. Each run below types one answer set of
tests/projects.py through every question and must write the same files as that set given with
--data, whose own checks test_generation.py runs; together the runs take every branch of every
feature question. At each validated follow-up it first types a wrong answer and reads the
refusal off the screen.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from scripts.serving import TEMPLATE_ROOT, TOOLS_BIN, generated_files, run
from scripts.terminal import Ask, Terminal, answer, copier_in_terminal
from tests.projects import ANSWER_SETS, CERTIFICATE_ARN, LONG_NAME, Generated


def identity(name: str, slug: str, *more: Ask) -> list[Ask]:
    return [
        Ask("Human-readable name", name, wrong=" ", refused='" " is not allowed: give a one-line name'),
        Ask("Short name for the repository", slug, wrong="Bad_Slug", refused='"Bad_Slug" is not allowed'),
        Ask("Python package name"),
        *(more or [Ask("One-line description"), Ask("Author or team name")]),
        Ask("Author email", "dev@example.com", wrong="nobody", refused='"nobody" is not allowed: use an address'),
    ]  # fmt: skip


DEFAULT_IDENTITY = identity("My MCP Server", "my-mcp-server")


def runtime(python: str = "3.13", architecture: str = "arm64") -> list[Ask]:
    return [
        Ask("Python version of the Lambda runtime", python, choose=True),
        Ask("AWS region to deploy to", "us-east-1"),
        Ask("AWS CLI profile"),
        Ask("Function memory in MB", "512"),
        Ask("CPU architecture", architecture, choose=True),
    ]


def api_and_auth(api: str, auth: str) -> list[Ask]:
    return [
        Ask("API Gateway flavour", api, choose=True),
        Ask("Who may call the server", auth, choose=True),
    ]


NO_NETWORK = [
    Ask("Put the function in a VPC", "No VPC", choose=True),
    Ask("Serve the API at your own", "No,", choose=True),
]
NO_DATA = [
    Ask("Add a read-only PostgreSQL", "No database", choose=True),
    Ask("Secrets Manager names"),
]
NO_CI_DEPLOY = [Ask("Let GitHub Actions deploy")]
CI_DEPLOY = [Ask("Let GitHub Actions deploy", "y")]

RUNS = {
    "defaults": [*DEFAULT_IDENTITY, *runtime(), *api_and_auth("HTTP API", "Cognito"), *NO_NETWORK, *NO_DATA, *NO_CI_DEPLOY],
    "rest-oidc-new-vpc-certificate-postgres": [
        *identity("My Server 2", "my-server-2"),
        *runtime("3.12", "x86_64"),
        *api_and_auth("REST API", "Your own OIDC"),
        Ask("Issuer URL", "https://tenant.example.com/"),
        Ask("Audience (aud)", "weather-api"),
        Ask("Put the function in a VPC", "A new VPC", choose=True),
        # With oidc the endpoints-only choice is shown disabled, with the reason; NAT is taken.
        Ask("How the new VPC reaches out", "One NAT gateway", choose=True),
        Ask("Serve the API at your own", "Yes, with my ACM certificate", choose=True),
        Ask("The domain name for the API", "weather.example.com"),
        Ask("ARN of the ACM certificate", CERTIFICATE_ARN),
        Ask("Add a read-only PostgreSQL", "PostgreSQL", choose=True),
        Ask("Secrets Manager names", '["my-server-2/api-key"]', wrong='["my-server-2/database"]', refused='its key "database" is the database'),
        *CI_DEPLOY,
    ],
    "http-iam-endpoints-hosted-zone": [
        *identity(
            "Météo Überall", "meteo-uberall",
            Ask("One-line description", ANSWER_SETS["http-iam-endpoints-hosted-zone"]["description"]),
            Ask("Author or team name", "Zoë O'Brien"),
        ),
        *runtime("3.14"),
        *api_and_auth("HTTP API", "AWS IAM"),
        Ask("Put the function in a VPC", "A new VPC", choose=True),
        Ask("How the new VPC reaches out", "Interface endpoints only", choose=True),
        Ask("Serve the API at your own", "Yes, in my Route 53 hosted zone", choose=True),
        Ask("The domain name for the API", "mcp.tools.example.com"),
        Ask("The Route 53 hosted zone's domain", "tools.example.com"),
        Ask("The hosted zone's id", "Z0123456789ABCDEFGHIJ"),
        Ask("Add a read-only PostgreSQL", "No database", choose=True),
        Ask("Secrets Manager names", '["meteo/api-key", "meteo/database"]'),
        *CI_DEPLOY,
    ],
    "rest-none-existing-vpc-postgres": [
        *identity(LONG_NAME, "an-unusually-long-server-name-to-stretch-every-generated-line-wi"),
        *runtime(),
        *api_and_auth("REST API", "Nobody checks"),
        Ask("Put the function in a VPC", "An existing VPC", choose=True),
        Ask("Id of your VPC", "vpc-0123456789abcdef0"),
        Ask("Private subnet ids", '["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]', wrong='["subnet-1"]', refused='"subnet-1" is not allowed: use subnet ids'),
        Ask("Security group ids", '["sg-0123456789abcdef0"]', wrong='["sg-1"]', refused='"sg-1" is not allowed: use security group ids'),
        Ask("Serve the API at your own", "No,", choose=True),
        Ask("Add a read-only PostgreSQL", "PostgreSQL", choose=True),
        Ask("Secrets Manager names"),
        *NO_CI_DEPLOY,
    ],
}  # fmt: skip
# What the after-copy message must say for each run's answers, and must not.
NEXT_STEPS = {
    "defaults": (["make token", "make user-add EMAIL="], ["secret-set", "CNAME", "Cost:", "ci-role"]),
    "rest-oidc-new-vpc-certificate-postgres": (
        ["make token", 'its tokens must carry aud "weather-api"',
         "MCP_TOKEN=<an access token from https://tenant.example.com/> make smoke",
         "make secret-set NAME=database", "make secret-set NAME=api_key",
         "point weather.example.com at DomainTarget with a CNAME", "NAT gateway bills about $33",
         "make ci-role"],
        ["user-add"],
    ),
    "http-iam-endpoints-hosted-zone": (
        ["SigV4 is checked only by API Gateway", "interface endpoints bill about $7.30",
         "make secret-set NAME=api_key", "make secret-set NAME=database", "make ci-role"],
        ["make token", "user-add", "CNAME"],
    ),
    "rest-none-existing-vpc-postgres": (
        ["make secret-set NAME=database"], ["make token", "user-add", "CNAME", "Cost:", "ci-role"]
    ),
}  # fmt: skip


# What the generated README and `make help` must name for each run's answers, and must not.
README_AND_HELP = {
    "defaults": (["user-add", "stack-token", "make token", "DATA=ci_deploy=true"], ["secret-set", "### VPC", "### Custom domain", "AUTH_AUDIENCE", "ci-role", "bootstrap policy"]),
    "rest-oidc-new-vpc-certificate-postgres": (
        ["make token", "`aud` is `weather-api`", "secret-set", "CNAME record", "one NAT gateway", "ci-role", "aws-region"],
        ["user-add", "stack-token", "AUTH_CLIENT_IDS", "interface endpoints"],
    ),
    "http-iam-endpoints-hosted-zone": (
        ["SigV4", "interface endpoints", "Route 53 zone", "secret-set", "ci-role", "keep the CI role there"],
        ["make token", "user-add", "CNAME", "AUTH_ISSUER"],
    ),
    "rest-none-existing-vpc-postgres": (
        ["secret-set", "your VPC and private subnets"],
        ["## Auth", "make token", "user-add", "### Custom domain", "AUTH_ISSUER", "NAT gateway"],
    ),
}  # fmt: skip


def same_commit(files: dict[str, str]) -> dict[str, str]:
    """The files with the template commit left out of the answers: with uncommitted work in this
    checkout, Copier makes a commit of its own for each copy."""
    answers = re.sub(r"^_commit: .*\n", "", files[".copier-answers.yml"], flags=re.MULTILINE)
    return {**files, ".copier-answers.yml": answers}


@pytest.mark.parametrize("name", RUNS)
def test_typed_answers_make_the_answer_sets_project(
    copied: Callable[[str], Generated], tmp_path: Path, name: str
) -> None:
    project = tmp_path / "typed"
    args = ["copy", "--vcs-ref", "HEAD", str(TEMPLATE_ROOT), str(project)]
    terminal = copier_in_terminal(args, tmp_path, RUNS[name])

    # The same files, answers included, as the answer set given with --data: that project's
    # own checks (test_generation.py) stand for this one.
    typed, given = same_commit(generated_files(project)), same_commit(copied(name).files)
    assert sorted(typed) == sorted(given)
    assert [path for path in typed if typed[path] != given[path]] == []
    assert "Traceback" not in terminal.transcript
    message = terminal.text().split("is ready in", 1)[1]
    present, absent = NEXT_STEPS[name]
    assert [line for line in present if line not in message] == [], message
    assert [word for word in absent if word in message] == [], message
    shown = typed["README.md"] + run(["make"], cwd=project).stdout
    present, absent = README_AND_HELP[name]
    assert [text for text in present if text not in shown] == []
    assert [text for text in absent if text in shown] == []


def test_a_choice_that_cannot_work_is_shown_disabled_with_its_reason(tmp_path: Path) -> None:
    project = tmp_path / "disabled"
    terminal = Terminal(
        [str(TOOLS_BIN / "copier"), "copy", "--vcs-ref", "HEAD", str(TEMPLATE_ROOT), str(project)],
        tmp_path,
    )
    for ask in [*DEFAULT_IDENTITY, *runtime(), *api_and_auth("HTTP API", "Cognito")]:
        answer(terminal, Ask(ask.help, ask.answer, ask.choose))
    answer(terminal, Ask("Put the function in a VPC", "A new VPC", choose=True))
    terminal.wait_for("How the new VPC reaches out")
    terminal.settle()
    disabled = next(line for line in terminal.screen.display if "Interface endpoints" in line)
    assert "(not with auth cognito: its signing keys come from the internet)" in disabled
    # Down from NAT skips the disabled choice, so it cannot be picked.
    terminal.child.send("\x1b[B")
    terminal.settle()
    assert "One NAT gateway" in terminal.highlighted()
    terminal.child.close(force=True)

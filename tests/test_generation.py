"""`copier copy` for a matrix of answers: each project is clean and passes its own checks."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from scripts.serving import (
    TOOLS_BIN,
    add_plumbing_tests,
    check_generated_files,
    copier_copy,
    fresh_machine_env,
    run,
)
from tests.projects import ANSWER_SETS, DEFAULTS, Generated

EXISTING_VPC = {
    "vpc": "existing",
    "vpc_id": "vpc-0123456789abcdef0",
    "vpc_subnet_ids": '["subnet-0123456789abcdef0"]',
}


# The whole proof for an answer set, once: its files, then its own lint and every test, with
# the plumbing tests the template keeps for itself.
@pytest.mark.timeout(1200)
@pytest.mark.parametrize(
    "name",
    # Each on the worker of the other tests that use its project, set up (DEFAULTS, OIDC).
    [pytest.param(name, marks=pytest.mark.xdist_group(name)) for name in ANSWER_SETS],
)
def test_each_answer_set_makes_a_clean_project_that_passes_its_own_checks(
    generated: Callable[[str], Generated], name: str
) -> None:
    project = generated(name)

    check_generated_files(project.files)
    add_plumbing_tests(project.path)
    run(["make", "lint", "test-all"], cwd=project.path, timeout=1200)
    assert (project.path / "uv.lock").is_file()


# Each auth answer with each API type: the answer sets above cover only four of the eight, and
# the generated code branches on both, so each pair must at least be lint-clean.
@pytest.mark.parametrize("api_type", ["http", "rest"])
@pytest.mark.parametrize("auth", ["none", "cognito", "oidc", "iam"])
def test_every_auth_and_api_type_pair_is_lint_clean(
    tmp_path: Path, auth: str, api_type: str
) -> None:
    answers = {"auth": auth, "api_type": api_type}
    if auth == "oidc":
        answers |= {"auth_issuer": "https://login.example.com/", "auth_audience": "my-api"}
    copier_copy(tmp_path / "p", answers)

    run([str(TOOLS_BIN / "ruff"), "check", "."], cwd=tmp_path / "p")
    run([str(TOOLS_BIN / "ruff"), "format", "--check", "."], cwd=tmp_path / "p")


@DEFAULTS
def test_a_fresh_project_sets_up_without_uv_and_hooks_git_whatever_the_order(
    default_project: Path,
) -> None:
    # The generated fixture set it up with python3, make, git and node, but no uv on PATH.
    assert (default_project / ".venv-uv" / "bin" / "uv").is_file()
    assert (default_project / ".venv" / "bin" / "python").is_file()
    subprocess.run(["git", "init", "-q"], cwd=default_project, check=True)
    lint = run(["make", "lint"], cwd=default_project, env=fresh_machine_env())
    assert "pre-commit installed" in lint.stdout + lint.stderr
    assert (default_project / ".git" / "hooks" / "pre-commit").is_file()


@DEFAULTS
def test_make_help_is_the_default_and_lists_every_target(default_project: Path) -> None:
    makefile = (default_project / "Makefile").read_text()
    targets = re.findall(r"^([a-z-]+):", makefile, flags=re.MULTILINE)
    listed = run(["make"], cwd=default_project).stdout

    assert set(targets) >= {"help", "setup", "dev", "test", "lint", "fmt"}
    for target in targets:
        assert re.search(rf"^\s+{target}\s+\S", listed, flags=re.MULTILINE), target


def test_plain_copier_cli_copies_without_trust(copied: Callable[[str], Generated]) -> None:
    project = copied("defaults")

    assert "--trust" not in project.output
    answers = yaml.safe_load(project.files[".copier-answers.yml"])
    assert answers["project_slug"] == "my-mcp-server"
    assert answers["package_name"] == "my_mcp_server"
    assert "src/my_mcp_server/tools.py" in project.files
    assert "Your MCP server" in project.output


@pytest.mark.parametrize(
    ("name", "slug", "package"),
    [
        ("My Server 2", "my-server-2", "my_server_2"),
        ("  Spaces  and__Underscores ", "spaces-and-underscores", "spaces_and_underscores"),
        ("42 Tools", "mcp-42-tools", "mcp_42_tools"),
        ("Météo", "m-t-o", "m_t_o"),
        # The package name stops at 32 characters; the slug may take 64.
        (
            "A name far longer than a package name ought to be",
            "a-name-far-longer-than-a-package-name-ought-to-be",
            "a_name_far_longer_than_a_package",
        ),
    ],
)
def test_slug_and_package_derive_from_the_name(
    tmp_path: Path, name: str, slug: str, package: str
) -> None:
    project = tmp_path / "derived"
    copier_copy(project, {"project_name": name})

    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert (answers["project_slug"], answers["package_name"]) == (slug, package)


# Copier names the question once ("Validation error for question 'x': "), then the value and
# what is allowed follow from the validator; the interactive prompt shows the same line.
@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"project_name": "   "}, """'project_name': "   " is not allowed: give a one-line name"""),
        (
            {"project_slug": "Bad_Slug"},
            """'project_slug': "Bad_Slug" is not allowed: use lowercase letters, digits and """
            "hyphens, start with a letter, at most 64 characters",
        ),
        ({"project_slug": "9lives"}, """'project_slug': "9lives" is not allowed"""),
        ({"project_slug": "a" * 65}, "at most 64 characters"),
        ({"project_slug": "trailing-"}, "no trailing or doubled hyphens"),
        (
            {"package_name": "My-Package"},
            """'package_name': "My-Package" is not allowed: use lowercase letters, digits and """
            "underscores, starting with a letter",
        ),
        (
            {"package_name": "mcp"},
            """'package_name': "mcp" is not allowed: it is a Python keyword""",
        ),
        ({"package_name": "class"}, """'package_name': "class" is not allowed"""),
        ({"package_name": "a" * 33}, "at most 32 characters"),
        ({"description": "two\nlines"}, "is not allowed: use one line of text"),
        ({"author_name": ""}, """'author_name': "" is not allowed: give a name"""),
        ({"author_email": "nobody"}, """'author_email': "nobody" is not allowed: use an address"""),
        (
            {"secrets": '["a/db", "b/db"]'},
            """'secrets': "b/db" is not allowed: another entry ends in the same name "db\"""",
        ),
        ({"secrets": "api-key"}, """'secrets': "api-key" is not allowed: use a YAML list"""),
        ({"architecture": "arm"}, "'arm' is not in ['arm64', 'x86_64']"),
        (
            {**EXISTING_VPC, "vpc_subnet_ids": '["subnet-xyz"]'},
            """'vpc_subnet_ids': "subnet-xyz" is not allowed: use subnet ids like "subnet-""",
        ),
        (
            {**EXISTING_VPC, "vpc_subnet_ids": "subnet-0123456789abcdef0"},
            """'vpc_subnet_ids': "subnet-0123456789abcdef0" is not allowed: use a YAML list""",
        ),
        (
            {**EXISTING_VPC, "vpc_security_group_ids": '["sg-1"]'},
            """'vpc_security_group_ids': "sg-1" is not allowed: use security group ids like""",
        ),
        (
            {"database": "postgres", "secrets": '["app/database"]'},
            """'secrets': "app/database" is not allowed: its key "database" is the database""",
        ),
        (
            {"vpc": "new", "vpc_egress": "endpoints"},
            "Invalid choice for 'vpc_egress': not with auth cognito: its signing keys come from",
        ),
    ],
)
def test_invalid_answers_are_refused_and_nothing_is_written(
    tmp_path: Path, answers: dict[str, str], message: str
) -> None:
    project = tmp_path / "refused"
    result = copier_copy(project, answers, check=False)

    assert result.returncode != 0
    assert message in result.stderr
    assert not project.exists() or not any(project.iterdir())


# Answers that only seed deploy.toml pass the prompt, wrong or left empty (even with --defaults);
# deploy.toml's schema, in the project, names each bad one and what is allowed, all at once.
@pytest.mark.parametrize(
    ("answers", "named"),
    [
        (
            {
                "aws_region": "mars-1",
                "aws_profile": "two words",
                "memory_mb": "64",
                "auth": "oidc",
                "auth_issuer": "http://login.example.com",
                "domain": "certificate",
                "domain_name": "MCP",
                "certificate_arn": "arn:aws:acm:us-east-1:certificate/x",
            },
            [
                '[aws] region = "mars-1" is not allowed',
                '[aws] profile = "two words" is not allowed',
                "[lambda] memory_mb = 64 is not allowed: use at least 128",
                '[auth] issuer = "http://login.example.com" is not allowed',
                '[domain] name = "MCP" is not allowed',
                '[domain] certificate_arn = "arn:aws:acm:us-east-1:certificate/x" is not allowed',
            ],
        ),
        (
            {"auth": "oidc", "vpc": "existing", "domain": "hosted-zone"},
            [
                '[auth] issuer = "" is not allowed',
                '[vpc] vpc_id = "" is not allowed',
                "[vpc] subnet_ids = [] is not allowed",
                '[domain] name = "" is not allowed',
                '[domain] hosted_zone_id = "" is not allowed',
            ],
        ),
    ],
    ids=["wrong", "left empty"],
)
def test_settings_answered_wrong_are_named_by_deploy_toml(
    tmp_path: Path, answers: dict[str, str], named: list[str]
) -> None:
    copier_copy(tmp_path / "p", answers)
    check = "from infra.settings import load_settings, DeployConfigError\ntry: load_settings()\nexcept DeployConfigError as e: print(e)"
    shown = run(
        [sys.executable, "-c", check], cwd=tmp_path / "p", env={**os.environ, "PYTHONPATH": "src"}
    ).stdout

    for line in named:
        assert line in shown, shown

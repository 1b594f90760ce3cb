"""`copier copy` for a matrix of answers: each project is clean and passes its own checks."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import httpx2
import pytest
import yaml

from scripts.serving import (
    Server,
    check_generated_files,
    copier_copy,
    free_port,
    run,
    tool_env,
    wait_until_healthy,
)

# Names and text that stress rendering, crossed with the deployment choices: each set
# is generated and must pass its own `make lint test` (which synthesizes its stack).
# Typed answers, as people give them, are in test_prompts.py.
CERTIFICATE_ARN = (
    "arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012"
)
ANSWER_SETS = {
    "awkward-name-rest-x86": {
        "project_name": "My Server 2",
        "python_version": "3.12",
        "api_type": "rest",
        "architecture": "x86_64",
        "secrets": ["my-server-2/db-password"],
        "vpc": "new",
        "domain": "hosted-zone",
        "domain_name": "mcp.tools.example.com",
        "hosted_zone_id": "Z0123456789ABCDEFGHIJ",
    },
    "non-ascii-secrets": {
        "project_name": "Météo Überall",
        "description": 'Prévisions « météo » — "quoted", back\\slash, ✓',
        "author_name": "Zoë O'Brien",
        "python_version": "3.14",
        "secrets": ["meteo/api-key", "meteo/database"],
        "auth": "none",
        "vpc": "new",
        "vpc_egress": "endpoints",
    },
    "long-names-iam-postgres": {
        "project_name": "An Unusually Long Server Name To Stretch Every Generated Line Width",
        "auth": "iam",
        "vpc": "existing",
        "vpc_id": "vpc-0123456789abcdef0",
        "vpc_subnet_ids": ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"],
        "vpc_security_group_ids": ["sg-0123456789abcdef0"],
        "database": "postgres",
    },
}
EXISTING_VPC = {
    "vpc": "existing",
    "vpc_id": "vpc-0123456789abcdef0",
    "vpc_subnet_ids": '["subnet-0123456789abcdef0"]',
}


@pytest.mark.parametrize("answers", ANSWER_SETS.values(), ids=ANSWER_SETS.keys())
def test_generated_project_is_clean_and_passes_its_own_checks(copie, answers) -> None:
    result = copie.copy(extra_answers=answers)
    assert result.exit_code == 0, result.exception
    project = result.project_dir

    check_generated_files(project)
    run(["make", "setup", "lint", "test-all"], cwd=project)
    assert (project / "uv.lock").is_file()


def test_a_fresh_project_sets_up_without_uv_and_hooks_git_whatever_the_order(
    tmp_path: Path,
) -> None:
    project = tmp_path / "fresh"
    copier_copy(project)
    # A machine with python3, make, git and node, but no uv anywhere on PATH.
    env = tool_env()
    env["PATH"] = os.pathsep.join(
        folder for folder in env["PATH"].split(os.pathsep) if not (Path(folder) / "uv").exists()
    )
    assert shutil.which("uv", path=env["PATH"]) is None

    def make(*targets: str) -> str:
        result = subprocess.run(
            ["make", *targets], cwd=project, env=env, capture_output=True, text=True, timeout=600
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout + result.stderr

    make("setup")
    assert (project / ".venv-uv" / "bin" / "uv").is_file()
    assert (project / ".venv" / "bin" / "python").is_file()
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    assert "pre-commit installed" in make("lint")
    assert (project / ".git" / "hooks" / "pre-commit").is_file()

    # make dev serves the default (cognito) project before any deploy; make token lets a
    # client in, and nothing else does.
    port = free_port()
    log = (tmp_path / "dev.log").open("wb")
    dev = subprocess.Popen(
        ["make", "dev", f"PORT={port}"], cwd=project, env=env, stdout=log, stderr=log,
        start_new_session=True,
    )  # fmt: skip
    try:
        wait_until_healthy(Server(f"http://127.0.0.1:{port}", dev, tmp_path / "dev.log"), 60)
        token = make("-s", "token", f"PORT={port}").strip().splitlines()[-1]
        list_tools = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
        with httpx2.Client(base_url=f"http://127.0.0.1:{port}") as http:
            anonymous = http.post("/mcp", json=list_tools)
            signed_in = http.post(
                "/mcp", json=list_tools, headers={"Authorization": f"Bearer {token}"}
            )
    finally:
        os.killpg(dev.pid, signal.SIGTERM)
        dev.wait(timeout=10)
    assert anonymous.status_code == 401
    assert "resource_metadata=" in anonymous.headers["www-authenticate"]
    assert signed_in.status_code == 200
    assert [tool["name"] for tool in signed_in.json()["result"]["tools"]] == ["convert_units"]


def test_make_help_is_the_default_and_lists_every_target(default_project: Path) -> None:
    makefile = (default_project / "Makefile").read_text()
    targets = re.findall(r"^([a-z-]+):", makefile, flags=re.MULTILINE)
    listed = run(["make"], cwd=default_project).stdout

    assert set(targets) >= {"help", "setup", "dev", "test", "lint", "fmt"}
    for target in targets:
        assert re.search(rf"^\s+{target}\s+\S", listed, flags=re.MULTILINE), target


def test_plain_copier_cli_copies_without_trust(tmp_path: Path) -> None:
    project = tmp_path / "plain"
    result = copier_copy(project)

    assert "--trust" not in result.stderr
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["project_slug"] == "my-mcp-server"
    assert answers["package_name"] == "my_mcp_server"
    assert (project / "src" / "my_mcp_server" / "tools.py").is_file()
    assert "Your MCP server" in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("name", "slug", "package"),
    [
        ("My Server 2", "my-server-2", "my_server_2"),
        ("  Spaces  and__Underscores ", "spaces-and-underscores", "spaces_and_underscores"),
        ("42 Tools", "mcp-42-tools", "mcp_42_tools"),
        ("Météo", "m-t-o", "m_t_o"),
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
            {"domain": "hosted-zone", "domain_name": "example.com", "hosted_zone_name": "com"},
            """'hosted_zone_name': "com" is not allowed: use the zone that holds example.com""",
        ),
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
        ({"description": "two\nlines"}, "is not allowed: use one line of text"),
        ({"author_name": ""}, """'author_name': "" is not allowed: give a name"""),
        ({"author_email": "nobody"}, """'author_email': "nobody" is not allowed: use an address"""),
        ({"aws_region": "mars-1"}, """'aws_region': "mars-1" is not allowed: use a region name"""),
        (
            {"memory_mb": "64"},
            "'memory_mb': 64 is not allowed: use a whole number from 128 to 10240",
        ),
        (
            {"secrets": '["a/db", "b/db"]'},
            """'secrets': "b/db" is not allowed: another entry ends in the same name "db\"""",
        ),
        ({"secrets": "api-key"}, """'secrets': "api-key" is not allowed: use a YAML list"""),
        ({"architecture": "arm"}, "'arm' is not in ['arm64', 'x86_64']"),
        ({"auth": "oidc"}, 'Question "auth_issuer" is required'),
        (
            {"auth": "oidc", "auth_issuer": "http://login.example.com"},
            """'auth_issuer': "http://login.example.com" is not allowed: use your provider's """
            "https:// issuer URL",
        ),
        (
            {"vpc": "existing", "vpc_id": "vpc-1"},
            """'vpc_id': "vpc-1" is not allowed: use a VPC id like vpc-0123456789abcdef0""",
        ),
        ({"vpc": "existing", "vpc_id": "vpc-0123456789abcdef0"}, '"vpc_subnet_ids" is required'),
        (
            {**EXISTING_VPC, "vpc_subnet_ids": '["subnet-xyz"]'},
            """'vpc_subnet_ids': "subnet-xyz" is not allowed: use subnet ids like "subnet-""",
        ),
        (
            {**EXISTING_VPC, "vpc_subnet_ids": "[]"},
            """'vpc_subnet_ids': "[]" is not allowed: use a YAML list of subnet ids""",
        ),
        (
            {**EXISTING_VPC, "vpc_security_group_ids": '["sg-1"]'},
            """'vpc_security_group_ids': "sg-1" is not allowed: use security group ids like""",
        ),
        (
            {"domain": "certificate", "domain_name": "MCP", "certificate_arn": CERTIFICATE_ARN},
            """'domain_name': "MCP" is not allowed: use a lowercase domain name like""",
        ),
        (
            {
                "domain": "certificate",
                "domain_name": "mcp.example.com",
                "certificate_arn": CERTIFICATE_ARN.replace("us-east-1", "eu-west-1"),
            },
            "is not allowed: the API is regional, so the certificate must be in aws_region us-east-1",
        ),
        (
            {
                "domain": "hosted-zone",
                "domain_name": "mcp.example.com",
                "hosted_zone_name": "other.com",
                "hosted_zone_id": "Z0123456789ABCDEFGHIJ",
            },
            """'hosted_zone_name': "other.com" is not allowed: use the zone that holds """
            "mcp.example.com",
        ),
        (
            {"domain": "hosted-zone", "domain_name": "mcp.example.com", "hosted_zone_id": "Zbad"},
            """'hosted_zone_id': "Zbad" is not allowed: use a Route 53 zone id like""",
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

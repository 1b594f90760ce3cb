"""`make update` (copier update, no --trust) brings template changes in and keeps the user's
edits; conflicts it cannot merge are listed and fail it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from scripts.serving import TEMPLATE_ROOT, TOOLS_BIN, run
from scripts.terminal import Ask, copier_in_terminal

USER_TOOL = '''

def shout(text: str) -> str:
    """Upper-case the text: the user's own tool."""
    return text.upper()
'''


def git(cwd: Path, *args: str) -> None:
    identity = ["-c", "user.name=Test", "-c", "user.email=test@example.com"]
    subprocess.run(["git", *identity, *args], cwd=cwd, check=True, capture_output=True)


def release_template(source: Path, tag: str) -> None:
    git(source, "add", "-A")
    git(source, "commit", "-q", "-m", tag, "--allow-empty")
    git(source, "tag", tag)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.fixture
def template(tmp_path: Path) -> Path:
    """This checkout's files (uncommitted work included) as release v0.1.0 of a template repo."""
    template = tmp_path / "template-repo"
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=TEMPLATE_ROOT, capture_output=True, text=True, check=True,
    ).stdout.splitlines()  # fmt: skip
    for name in listed:
        if (TEMPLATE_ROOT / name).is_file():
            (template / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(TEMPLATE_ROOT / name, template / name)
    git(template, "init", "-q")
    release_template(template, "v0.1.0")
    return template


def generate(template: Path, tmp_path: Path, *data: str) -> Path:
    """A project from the template's newest tag, committed, as a user starts out."""
    project = tmp_path / "project"
    answers = [arg for answer in data for arg in ("--data", answer)]
    copier = [str(TOOLS_BIN / "copier"), "copy", "--defaults", *answers]
    run([*copier, str(template), str(project)], tmp_path)
    git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "generated")
    return project


def test_update_merges_template_changes_and_keeps_user_edits(
    template: Path, tmp_path: Path
) -> None:
    project = generate(template, tmp_path)

    # The user adds a tool, a README section and a make target, and tunes deploy.toml.
    package = project / "src" / "my_mcp_server"
    edit(package / "tools.py", "\n\ndef register(", f"{USER_TOOL}\n\ndef register(")
    edit(package / "tools.py", "server.prompt()(explain_conversion)\n",
         "server.prompt()(explain_conversion)\n    server.tool()(shout)\n")  # fmt: skip
    with (project / "README.md").open("a", encoding="utf-8") as readme:
        readme.write("\n## Our team notes\n\nAsk #mcp-help.\n")
    with (project / "Makefile").open("a", encoding="utf-8") as makefile:
        makefile.write("\nshout: ## Our own target\n\t@echo HELLO\n")
    edit(project / "deploy.toml", "throttling_rate = 100", "throttling_rate = 25")
    git(project, "commit", "-q", "-am", "user edits")

    # The template improves its plumbing, and its example tools, in v0.2.0.
    source = template / "template"
    edit(source / "src" / "{{package_name}}" / "contract.py.jinja",
         'HEALTH_PATH = "/health"\n', 'HEALTH_PATH = "/health"\nTEMPLATE_V2 = True\n')  # fmt: skip
    edit(source / "Makefile.jinja", "# Run `make`", "# Template v2. Run `make`")
    edit(source / "src" / "{{package_name}}" / "tools.py", "Your tools", "Template v2 tools")
    edit(
        source / "deploy.toml.jinja",
        "# `make smoke` lists the tools",
        "# v2: `make smoke` lists the tools",
    )
    release_template(template, "v0.2.0")

    result = run(["make", "update"], project)

    assert "--trust" not in result.stderr
    assert "Updating to template version 0.2.0" in result.stderr
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["_commit"] == "v0.2.0"
    assert "TEMPLATE_V2 = True" in (package / "contract.py").read_text()
    makefile = (project / "Makefile").read_text()
    assert makefile.startswith("# Template v2. Run `make`")
    assert "shout: ## Our own target" in makefile
    tools = (package / "tools.py").read_text()
    assert "def shout(text: str)" in tools
    assert "Template v2 tools" not in tools, "tools.py is the user's: updates must not touch it"
    assert "## Our team notes" in (project / "README.md").read_text()
    deploy = (project / "deploy.toml").read_text()
    assert "throttling_rate = 25" in deploy
    assert "# v2: `make smoke` lists the tools" in deploy
    leftovers = [p for p in project.rglob("*") if p.suffix == ".rej" or p.name.endswith(".orig")]
    assert not leftovers
    assert not conflicted_files(project)

    # The merged project still works (its fast layer; the default answers' whole suite runs in
    # test_generation.py), and make setup installed the git hook in this repository.
    run(["make", "setup", "lint", "test"], project)
    assert "pre-commit" in (project / ".git" / "hooks" / "pre-commit").read_text()


def test_a_changed_answer_at_a_pinned_version_reaches_deploy_toml(
    template: Path, tmp_path: Path
) -> None:
    project = generate(template, tmp_path)
    edit(project / "deploy.toml", "log_retention_days = 30", "log_retention_days = 7")
    git(project, "commit", "-q", "-am", "user edits")
    release_template(template, "v0.2.0")

    run(["make", "update", "VCS_REF=v0.1.0", "DATA=memory_mb=1024"], project)

    deploy = (project / "deploy.toml").read_text()
    assert "memory_mb = 1024" in deploy
    assert "log_retention_days = 7" in deploy
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["memory_mb"] == 1024
    assert answers["_commit"] == "v0.1.0"


# What auth = cognito and ci_deploy = true add to a project, and auth = none without it leaves out.
FEATURE_FILES = [
    "src/my_mcp_server/auth.py",
    "src/my_mcp_server/tokens.py",
    "src/my_mcp_server/oauth/provider.py",
    "infra/auth.py",
    "infra/oauth.py",
    "ops/local_issuer.py",
    "ops/local_dynamodb.py",
    "ops/bootstrap_policy.py",
    "ops/ci_role.py",
    "tests/test_auth.py",
    "tests/test_sign_in.py",
    "tests/test_access.py",
]


def test_a_feature_switches_on_and_off_through_update_and_keeps_user_edits(
    template: Path, tmp_path: Path
) -> None:
    project = generate(template, tmp_path, "auth=none")
    package = project / "src" / "my_mcp_server"
    edit(package / "tools.py", "\n\ndef register(", f"{USER_TOOL}\n\ndef register(")
    edit(project / "deploy.toml", "throttling_rate = 100", "throttling_rate = 25")
    git(project, "commit", "-q", "-am", "user edits")

    for on in (True, False):
        data = "auth=cognito ci_deploy=true" if on else "auth=none ci_deploy=false"
        run(["make", "update", f"DATA={data}"], project)
        git(project, "add", "-A")
        git(project, "commit", "-q", "-m", data)

        present = [name for name in FEATURE_FILES if (project / name).exists()]
        deploy = (project / "deploy.toml").read_text()
        assert present == (FEATURE_FILES if on else [])
        assert ("[auth]" in deploy) is on
        assert ("ci-role:" in (project / "Makefile").read_text()) is on
        assert "throttling_rate = 25" in deploy
        assert "def shout(text: str)" in (package / "tools.py").read_text()
        assert not conflicted_files(project)
        run(["make", "setup", "lint", "test"], project)
        if on:  # the CI role's and bootstrap's own tests are in the slow layer
            run(["uv", "run", "pytest", "tests/test_access.py"], project)
        git(project, "add", "-A")  # uv.lock, which make setup writes
        git(project, "commit", "-q", "--allow-empty", "-m", "checked")


def test_a_conflicting_edit_fails_the_update_names_the_file_and_the_hook_catches_it(
    template: Path, tmp_path: Path
) -> None:
    project = generate(template, tmp_path)
    contract = project / "src" / "my_mcp_server" / "contract.py"
    edit(contract, 'HEALTH_PATH = "/health"', 'HEALTH_PATH = "/healthz"')
    git(project, "commit", "-q", "-am", "user edits the template's line")
    edit(template / "template" / "src" / "{{package_name}}" / "contract.py.jinja",
         'HEALTH_PATH = "/health"', 'HEALTH_PATH = "/status"')  # fmt: skip
    release_template(template, "v0.2.0")

    result = run(["make", "update"], project, check=False)

    assert result.returncode != 0
    assert conflicted_files(project) == ["src/my_mcp_server/contract.py"]
    assert result.stdout.splitlines()[-2:] == [
        "Conflicts left inline: resolve each '<<<<<<< before updating' block in these files,"
        " then commit:",
        "  src/my_mcp_server/contract.py",
    ]
    again = run(["make", "update"], project, check=False)
    assert again.returncode != 0
    assert "Please commit or stash your local changes" in again.stderr
    run(["make", "setup"], project)
    hook = run(
        ["uv", "run", "pre-commit", "run", "check-merge-conflict", "--all-files"],
        project,
        check=False,
    )
    assert hook.returncode == 1
    assert "src/my_mcp_server/contract.py:" in hook.stdout
    assert "Merge conflict string" in hook.stdout


# The last commit of v0.1.0, whose questions included settings that now live only in
# deploy.toml: projects made from it must keep their answers when they update.
V0_1_0 = "5ba8350"


def test_settings_that_were_questions_keep_their_answers(template: Path, tmp_path: Path) -> None:
    old = tmp_path / "old-template"
    old.mkdir()
    archive = subprocess.run(
        ["git", "archive", V0_1_0], cwd=TEMPLATE_ROOT, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
    git(old, "init", "-q")
    release_template(old, "v0.1.0")
    project = tmp_path / "project"
    answers = {"timeout_seconds": 20, "reserved_concurrency": 5, "tracing": "false",
               "alarms": "true", "alarm_email": "ops@example.com", "log_retention_days": 7,
               "cors_origins": '["https://app.example.com"]', "access_token_minutes": 15}  # fmt: skip
    data = [arg for key, value in answers.items() for arg in ("--data", f"{key}={value}")]
    run([str(TOOLS_BIN / "copier"), "copy", "--defaults", *data, str(old), str(project)], tmp_path)
    git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "generated at v0.1.0")
    before = (project / "deploy.toml").read_text()

    # v0.2.0 of the same template repository is this checkout.
    git(old, "rm", "-rq", ".")
    shutil.copytree(template, old, ignore=shutil.ignore_patterns(".git"), dirs_exist_ok=True)
    release_template(old, "v0.2.0")
    run([str(TOOLS_BIN / "copier"), "update", "--defaults"], project)

    deploy = (project / "deploy.toml").read_text()
    for line in ["timeout_seconds = 20", "reserved_concurrency = 5", "tracing = false",
                 "alarms = true", 'alarm_email = "ops@example.com"', "log_retention_days = 7",
                 'cors_origins = ["https://app.example.com"]', "access_token_minutes = 15"]:  # fmt: skip
        assert line in before and line in deploy, line
    # The Python version moved from deploy.toml to the Dockerfile's FROM line; the update
    # moves it, keeping the answer.
    assert 'python_version = "3.13"' in before
    assert "python_version" not in deploy
    dockerfile = (project / "Dockerfile").read_text()
    assert "FROM public.ecr.aws/docker/library/python:3.13-slim@sha256:" in dockerfile
    assert not conflicted_files(project)


# The questions of a default project, in the order Copier asks them.
DEFAULT_QUESTIONS = [
    "Human-readable name", "Short name for the repository", "Python package name",
    "One-line description", "Author or team name", "Author email",
    "Python version of the Lambda runtime", "AWS region to deploy to", "AWS CLI profile",
    "Function memory in MB", "CPU architecture", "API Gateway flavour", "Who may call the server",
    "Put the function in a VPC", "Serve the API at your own", "Add a read-only PostgreSQL",
    "Secrets Manager names", "Let GitHub Actions deploy",
]  # fmt: skip


def test_interactive_update_offers_the_recorded_answers(template: Path, tmp_path: Path) -> None:
    # Answers other than the defaults, so that keeping them shows.
    answered = ["auth=iam", "aws_region=eu-west-2", "database=postgres", "ci_deploy=true"]
    project = generate(template, tmp_path, *answered)
    edit(template / "template" / "Makefile.jinja", "# Run `make`", "# Template v2. Run `make`")
    release_template(template, "v0.2.0")

    # Enter keeps each recorded answer; only the memory is typed anew.
    asks = [
        Ask(text, "1024" if text.startswith("Function memory") else "")
        for text in DEFAULT_QUESTIONS
    ]
    copier_in_terminal(["update"], project, asks)

    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["_commit"] == "v0.2.0"
    assert answers["memory_mb"] == 1024
    assert [
        f"{key}={str(answers[key]).lower()}"
        for key in ("auth", "aws_region", "database", "ci_deploy")
    ] == answered
    assert "memory_mb = 1024" in (project / "deploy.toml").read_text()
    assert (project / "Makefile").read_text().startswith("# Template v2. Run `make`")


def conflicted_files(project: Path) -> list[str]:
    """Files with a line that starts a merge conflict block."""
    return sorted(
        str(path.relative_to(project))
        for path in project.rglob("*")
        if path.is_file()
        and ".git" not in path.parts
        and ".venv" not in path.parts
        and any(
            line.startswith("<<<<<<< ") for line in path.read_text(errors="ignore").splitlines()
        )
    )

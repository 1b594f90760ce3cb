"""The generated GitHub Actions workflow, and the template repository's own, checked offline.

GitHub's workflow schema (check-jsonschema's vendored copy) and zizmor's audits, then the
rules the template keeps: steps are Makefile targets, third-party actions are pinned to a
commit, each job has its own minimal permissions and a timeout, deploys never race, and the
template is released only from main once its tests pass.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from scripts.serving import TEMPLATE_ROOT, TOOLS_BIN
from tests.projects import Generated

WORKFLOW = Path(".github/workflows/ci.yml")
DEPENDABOT = Path(".github/dependabot.yml")
PINNED = re.compile(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$")
MAKE_STEP = re.compile(
    r'^(?:echo "\w+=\$\()?make (?:-s )?([a-z-]+)(?: [A-Z_]+=\S*)*(?:\)" >> "\$GITHUB_OUTPUT")?$'
)

# An answer set with ci_deploy: its workflow is the default one's plus the deploy job.
CI_DEPLOY = "http-iam-endpoints-hosted-zone"


@pytest.fixture(scope="module")
def project(copied: Callable[[str], Generated]) -> Path:
    return copied(CI_DEPLOY).path


@pytest.fixture(params=["generated", "template"])
def repository(request: pytest.FixtureRequest, project: Path) -> Path:
    """The generated project, then the template repository: both keep a workflow at WORKFLOW."""
    return project if request.param == "generated" else TEMPLATE_ROOT


def load_workflow(repository: Path) -> dict:
    # PyYAML reads the key `on` as True (YAML 1.1); GitHub reads it as "on".
    document = yaml.safe_load((repository / WORKFLOW).read_text(encoding="utf-8"))
    document["on"] = document.pop(True)
    return document


@pytest.fixture(scope="module")
def workflow(project: Path) -> dict:
    return load_workflow(project)


def actions_used(repository: Path) -> set[str]:
    return set(re.findall(r"uses: (.+)$", (repository / WORKFLOW).read_text(), re.MULTILINE))


def schema_check(project: Path, schema: str, path: Path) -> subprocess.CompletedProcess[str]:
    """check-jsonschema with one of its vendored schemas: no network needed."""
    return subprocess.run(
        [TOOLS_BIN / "check-jsonschema", "--builtin-schema", schema, path],
        cwd=project,
        capture_output=True,
        text=True,
    )


def test_the_workflow_follows_githubs_schema(repository: Path) -> None:
    result = schema_check(repository, "vendor.github-workflows", WORKFLOW)

    assert result.returncode == 0, result.stdout + result.stderr


# What each Dependabot ecosystem reads, as the generated project has it.
MANIFESTS = {
    "github-actions": WORKFLOW,
    "uv": Path("pyproject.toml"),
    "docker": Path("Dockerfile"),
    "npm": Path("package-lock.json"),
}


def test_dependabot_keeps_every_pin_current(project: Path) -> None:
    result = schema_check(project, "vendor.dependabot", DEPENDABOT)
    config = yaml.safe_load((project / DEPENDABOT).read_text(encoding="utf-8"))
    updates = {update["package-ecosystem"]: update for update in config["updates"]}

    assert result.returncode == 0, result.stdout + result.stderr
    assert updates.keys() == MANIFESTS.keys()
    for ecosystem, update in updates.items():
        assert (project / update["directory"].lstrip("/") / MANIFESTS[ecosystem]).is_file()
        assert update["schedule"]["interval"] == "weekly", ecosystem
        assert update["groups"], f"{ecosystem}: one grouped pull request, not one per package"


def test_zizmor_finds_nothing_of_medium_severity_or_above(repository: Path) -> None:
    result = subprocess.run(
        [
            TOOLS_BIN / "zizmor",
            "--offline",
            "--min-severity",
            "medium",
            "--format",
            "plain",
            WORKFLOW,
        ],
        cwd=repository,
        capture_output=True,
        text=True,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings" in result.stdout, result.stdout


def test_every_step_is_a_makefile_target_the_user_runs_too(project: Path, workflow: dict) -> None:
    makefile = (project / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z-]+):.*## ", makefile, re.MULTILINE))
    runs = [
        step["run"] for job in workflow["jobs"].values() for step in job["steps"] if "run" in step
    ]

    assert runs
    for command in runs:
        match = MAKE_STEP.match(command.strip())
        assert match, f"not a make target: {command!r}"
        assert match.group(1) in targets, f"make {match.group(1)} is not in the Makefile"


def test_third_party_actions_are_pinned_to_a_commit(repository: Path) -> None:
    uses = actions_used(repository)

    assert uses
    for action in uses:
        assert PINNED.match(action), f"pin {action!r} to a full commit SHA with '# vX.Y.Z'"


def test_permissions_are_per_job_and_minimal(workflow: dict) -> None:
    assert workflow["permissions"] == {}
    jobs = workflow["jobs"]
    assert jobs["check"]["permissions"] == {"contents": "read"}
    assert jobs["deploy"]["permissions"] == {"contents": "read", "id-token": "write"}
    for name, job in jobs.items():
        assert 0 < job["timeout-minutes"] <= 60, name


def test_without_ci_deploy_the_workflow_only_checks(
    copied: Callable[[str], Generated], workflow: dict
) -> None:
    default = load_workflow(copied("defaults").path)

    assert default["jobs"] == {"check": workflow["jobs"]["check"]}
    assert {key: value for key, value in default.items() if key != "jobs"} == {
        key: value for key, value in workflow.items() if key != "jobs"
    }


def test_deploys_are_gated_and_never_race(workflow: dict) -> None:
    deploy = workflow["jobs"]["deploy"]

    assert deploy["needs"] == "check"
    assert deploy["environment"] == "production"
    assert deploy["concurrency"]["cancel-in-progress"] is False
    # Only the default branch deploys, pushed or started by hand: the role trusts no other ref.
    assert deploy["if"] == (
        "(github.event_name == 'push' || github.event_name == 'workflow_dispatch') && "
        "github.ref == format('refs/heads/{0}', github.event.repository.default_branch)"
    )
    assert set(workflow["on"]) == {"pull_request", "push", "workflow_dispatch"}
    credentials = next(
        step for step in deploy["steps"] if "configure-aws-credentials" in step.get("uses", "")
    )
    assert credentials["with"]["role-to-assume"] == "${{ vars.AWS_DEPLOY_ROLE_ARN }}"
    assert not any("aws-access-key-id" in step.get("with", {}) for step in deploy["steps"])
    runs = [step.get("run") for step in deploy["steps"]]
    assert runs.index("make deploy PROFILE=") < runs.index("make smoke PROFILE=")


def test_the_template_tests_every_change_and_releases_only_main_after_its_tests(
    project: Path,
) -> None:
    workflow = load_workflow(TEMPLATE_ROOT)
    test, release = workflow["jobs"]["test"], workflow["jobs"]["release"]

    assert workflow["on"] == {"pull_request": None, "push": {"branches": ["main"]}}
    assert workflow["permissions"] == {}
    assert test["permissions"] == {"contents": "read"}
    assert [step["run"] for step in test["steps"] if "run" in step] == ["bash .ci/run"]
    assert release["needs"] == "test"
    assert release["if"] == "github.event_name == 'push'"
    assert release["permissions"] == {"contents": "write"}
    # The pins live in includes/versions.jinja; the template uses the ones it generates.
    assert actions_used(TEMPLATE_ROOT) <= actions_used(project)


def test_the_changelog_opens_with_the_version_the_release_job_tags() -> None:
    changelog = (TEMPLATE_ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    # Work merged since the last release collects under "## Unreleased", which is never tagged.
    headings = re.findall(r"^## .*$", changelog, re.MULTILINE)
    newest = headings[1] if headings[0] == "## Unreleased" else headings[0]
    assert re.fullmatch(r"## v\d+\.\d+\.\d+ \(\d{4}-\d{2}-\d{2}\)", newest), newest

    # The release job's own first line reads the version it tags; run it on this CHANGELOG.
    workflow = yaml.safe_load((TEMPLATE_ROOT / WORKFLOW).read_text(encoding="utf-8"))
    script = workflow["jobs"]["release"]["steps"][-1]["run"]
    reads_version = script.splitlines()[0]
    assert reads_version.startswith("version=")
    tagged = subprocess.run(
        ["bash", "-c", f'{reads_version}\necho "$version"'],
        cwd=TEMPLATE_ROOT, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert tagged == newest.split()[1]

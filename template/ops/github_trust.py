"""The GitHub side of the deploy role's trust: which jobs get a token the role accepts.

The role trusts one OIDC subject, this repository's `production` environment on the
default branch. GitHub's default subject for an environment job names no branch, so
`make ci-role` asks GitHub to put the ref in it too, and limits the environment to the
default branch, so a job from another branch neither gets in nor gets a matching token.
It runs these through `gh api` when the GitHub CLI is installed, else prints them.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from pathlib import Path

# The GitHub environment the deploy job runs in (.github/workflows/ci.yml).
ENVIRONMENT = "production"
# The subject becomes repo:<owner/name>:environment:<environment>:ref:<ref>.
SUBJECT_CLAIM_KEYS = ("repo", "context", "ref")


class GitHubRefusedError(RuntimeError):
    """A `gh api` call failed; the message names it and GitHub's answer."""


def subject(repository: str, branch: str) -> str:
    """The `sub` claim of the deploy job's OIDC token once SUBJECT_CLAIM_KEYS apply."""
    return f"repo:{repository}:environment:{ENVIRONMENT}:ref:refs/heads/{branch}"


def default_branch(repository: str, cwd: Path) -> str:
    """The repository's default branch as GitHub says (gh), else as the clone last saw it."""
    if shutil.which("gh"):
        answer = _run(["gh", "repo", "view", repository, "--json", "defaultBranchRef"], cwd)
        if answer:
            return json.loads(answer)["defaultBranchRef"]["name"]
    origin_head = _run(["git", "symbolic-ref", "--short", "refs/remotes/origin/HEAD"], cwd)
    return origin_head.removeprefix("origin/")


def environment_path(repository: str) -> str:
    return f"repos/{repository}/environments/{ENVIRONMENT}"


def branch_policies_path(repository: str) -> str:
    return f"{environment_path(repository)}/deployment-branch-policies"


def commands(repository: str, branch: str) -> list[list[str]]:
    """The REST calls, as `gh api` commands a repository admin can run."""
    environment = environment_path(repository)
    claim_keys = [
        arg for key in SUBJECT_CLAIM_KEYS for arg in ("-f", f"include_claim_keys[]={key}")
    ]
    return [
        ["gh", "api", "--method", "PUT", f"repos/{repository}/actions/oidc/customization/sub",
         "-F", "use_default=false", *claim_keys],
        ["gh", "api", "--method", "PUT", environment,
         "-F", "deployment_branch_policy[protected_branches]=false",
         "-F", "deployment_branch_policy[custom_branch_policies]=true"],
        ["gh", "api", "--method", "POST", branch_policies_path(repository),
         "-f", f"name={branch}", "-f", "type=branch"],
    ]  # fmt: skip


def configure(repository: str, branch: str, cwd: Path) -> str:
    """Applies `commands()` with gh, leaving the default branch as the environment's only
    branch; without gh, returns them for the user to run. Raises GitHubRefusedError if gh fails."""
    claim, environment, add_branch = commands(repository, branch)
    if not shutil.which("gh"):
        lines = "\n".join(
            f"  {shlex.join(command)}" for command in (claim, environment, add_branch)
        )
        return (
            "The GitHub CLI (gh) is not installed. As a repository admin, run these (the last "
            f"one once), or make the same REST calls another way:\n{lines}"
        )
    for command in (claim, environment):
        _gh(command, cwd)
    policies = branch_policies_path(repository)
    listed = json.loads(_gh(["gh", "api", policies], cwd))["branch_policies"]
    for policy in listed:
        if policy["name"] != branch:
            _gh(["gh", "api", "--method", "DELETE", f"{policies}/{policy['id']}"], cwd)
    if branch not in {policy["name"] for policy in listed}:
        _gh(add_branch, cwd)
    return (
        f"GitHub: {repository}'s OIDC subject now names the ref, and only {branch} may deploy "
        f"to the {ENVIRONMENT} environment."
    )


def _gh(command: list[str], cwd: Path) -> str:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if result.returncode:
        reason = result.stderr.strip().splitlines()[-1:] or [f"exit status {result.returncode}"]
        raise GitHubRefusedError(f"`{shlex.join(command)}` failed: {reason[0]}")
    return result.stdout


def _run(command: list[str], cwd: Path) -> str:
    """The command's output, or "" when it cannot answer."""
    try:
        result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return ""
    return result.stdout.strip()

"""CDK entry point (`cdk.json` runs `python -m infra.app`): read deploy.toml, build the stack.

A deploy.toml problem stops here, before anything is synthesized, with one line per problem.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from cdk_nag import AwsSolutionsChecks

from .settings import (
    DEPLOY_FILE,
    PROJECT_ROOT,
    DeployConfigError,
    DeploySettings,
    load_settings,
)
from .stack import McpServerStack

CDK_JSON = PROJECT_ROOT / "cdk.json"
# `cdk bootstrap`'s default qualifier, part of the names of everything it creates.
CDK_QUALIFIER = "hnb659fds"


def new_app(outdir: str | None = None) -> cdk.App:
    """An app with cdk.json's feature flags, so tests that build it in-process get what
    `cdk synth` gets; cdk-nag findings fail its synth (each accepted one is suppressed next
    to its resource, with a reason)."""
    context = json.loads(CDK_JSON.read_text(encoding="utf-8"))["context"]
    app = cdk.App(outdir=outdir, context=context)
    cdk.Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    return app


def stack_environment(settings: DeploySettings) -> cdk.Environment:
    # The account comes from the AWS profile at deploy time; the region from deploy.toml.
    return cdk.Environment(account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=settings.region)


def policy_name(settings: DeploySettings, kind: str = "execution") -> str:
    """kind: "execution" or "boundary". Outside the stacks' own `<name>-` prefix, so a stack
    can never rewrite its own limits."""
    return f"cdk-{CDK_QUALIFIER}-{settings.name}-{kind}"


def within_boundary(stack: cdk.Stack, settings: DeploySettings) -> None:
    """make bootstrap's execution policy creates roles only with this boundary on them."""
    boundary = policy_name(settings, "boundary")
    iam.PermissionsBoundary.of(stack).apply(
        iam.ManagedPolicy.from_managed_policy_name(stack, "Boundary", boundary)
    )


def build_app(
    settings: DeploySettings, outdir: str | None = None
) -> tuple[cdk.App, McpServerStack]:
    app = new_app(outdir)
    stack = McpServerStack(app, settings, env=stack_environment(settings))
    cdk.Tags.of(stack).add("mcp-server", settings.name)
    within_boundary(stack, settings)
    return app, stack


def main(deploy_file: Path = DEPLOY_FILE) -> None:
    try:
        settings = load_settings(deploy_file)
    except DeployConfigError as error:
        sys.exit(str(error))
    app, _ = build_app(settings)
    app.synth()


if __name__ == "__main__":
    main()

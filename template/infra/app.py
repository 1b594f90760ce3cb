"""CDK entry point (`cdk.json` runs `python -m infra.app`): read deploy.toml, build the stack.

A deploy.toml problem stops here, before anything is synthesized, with one line per problem.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import aws_cdk as cdk
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


def build_app(
    settings: DeploySettings, outdir: str | None = None
) -> tuple[cdk.App, McpServerStack]:
    # cdk.json's feature flags, so tests that build the app in-process get what `cdk synth` gets.
    context = json.loads(CDK_JSON.read_text(encoding="utf-8"))["context"]
    app = cdk.App(outdir=outdir, context=context)
    # The account comes from the AWS profile at deploy time; the region from deploy.toml.
    env = cdk.Environment(account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=settings.region)
    stack = McpServerStack(app, settings, env=env)
    cdk.Tags.of(stack).add("mcp-server", settings.name)
    # Findings fail `cdk synth`; each accepted one is suppressed next to its resource, with a reason.
    cdk.Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
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

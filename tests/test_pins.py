"""What a generated project builds and deploys with is pinned: every base image by digest, for
each Python the questions offer, and the CDK CLI by its lock; nothing is fetched unpinned."""

from __future__ import annotations

import json
import re
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from scripts.serving import TEMPLATE_ROOT
from tests.projects import ANSWER_SETS, DEFAULTS, Generated

QUESTIONS = yaml.safe_load((TEMPLATE_ROOT / "copier.yml").read_text(encoding="utf-8"))
# name:tag@sha256:<64 hex>: the tag for people and Dependabot, the digest for the build.
PINNED_IMAGE = re.compile(r"[a-z0-9.-]+(?:/[a-z0-9._-]+)*:[\w.-]+@sha256:[0-9a-f]{64}")


def base_images(dockerfile: str) -> list[str]:
    """The images each FROM and COPY --from names, other than the Dockerfile's own stages."""
    stages: set[str] = set()
    images = []
    for line in dockerfile.splitlines():
        instruction, *words = line.split() or [""]
        if instruction == "FROM":
            image, *alias = [word for word in words if not word.startswith("--")]
            stages.update(alias[1:])
        elif instruction == "COPY":
            image = next((word[7:] for word in words if word.startswith("--from=")), "")
        else:
            continue
        if image and image not in stages:
            images.append(image)
    return images


@pytest.mark.parametrize("name", ANSWER_SETS)
def test_every_base_image_is_pinned_by_digest(
    copied: Callable[[str], Generated], name: str
) -> None:
    project = copied(name)
    python = yaml.safe_load(project.files[".copier-answers.yml"])["python_version"]
    images = base_images(project.files["Dockerfile"])

    assert images
    for image in images:
        assert PINNED_IMAGE.fullmatch(image), f"pin {image!r} as name:tag@sha256:<digest>"
    pythons = [image for image in images if f"/python:{python}-slim@" in image]
    assert len(pythons) == 1, images


def test_the_answer_sets_take_every_python_the_questions_offer() -> None:
    question = QUESTIONS["python_version"]
    taken = {sets.get("python_version", question["default"]) for sets in ANSWER_SETS.values()}
    assert taken == set(question["choices"])


@DEFAULTS
def test_the_cdk_cli_is_locked_to_one_2x_release(default_project: Path) -> None:
    package = json.loads((default_project / "package.json").read_text(encoding="utf-8"))
    lock = json.loads((default_project / "package-lock.json").read_text(encoding="utf-8"))
    pinned = package["devDependencies"]["aws-cdk"]

    # Exact, and 2.x: the 3.x CLI cannot read what aws-cdk-lib 2.x synthesizes.
    assert re.fullmatch(r"2\.\d+\.\d+", pinned), pinned
    assert lock["packages"][""]["devDependencies"] == package["devDependencies"]
    locked = lock["packages"]["node_modules/aws-cdk"]
    assert locked["version"] == pinned
    assert locked["integrity"].startswith("sha512-")


def test_no_generated_file_fetches_a_tool_unpinned(copied: Callable[[str], Generated]) -> None:
    for name in ANSWER_SETS:
        for path, text in copied(name).files.items():
            assert not re.search(r"npx (--yes|-y)\b", text), f"{name}: {path}"


# Recommended flags the stack does not take yet: with partition literals its roles' boundary
# ARNs name "aws" where its tests expect the partition reference; restricting a new VPC's
# default security group adds a custom-resource function that neither make bootstrap's
# policy nor the boundary covers; CloudFormation's rules at synth refuse the Cognito domain of a
# slug longer than 50 characters (slug-account is over 63).
FLAGS_KEPT_OFF = (
    "@aws-cdk/core:enablePartitionLiterals",
    "@aws-cdk/aws-ec2:restrictDefaultSecurityGroup",
    "@aws-cdk/core:validateAgainstDefaultRules",
)
# A flag changes only its own module's constructs: those of modules no stack imports are left out.
STACK_MODULES = re.compile(
    r"@aws-cdk/(core|custom-?resources|aws-(lambda|apigateway|iam|cognito|dynamodb|logs|cloudwatch"
    r"|cloudwatch-actions|sns|sns-subscriptions|ec2|route53|route53-targets|certificatemanager"
    r"|secretsmanager|kms)):"
)


@DEFAULTS
def test_cdk_json_carries_the_pinned_cdk_libs_recommended_flags(default_project: Path) -> None:
    # What `cdk init` writes for this aws-cdk-lib: the flags its jsii assembly ships.
    (assembly,) = default_project.glob(".venv/lib/python*/site-packages/aws_cdk/_jsii/*.jsii.tgz")
    with tarfile.open(assembly) as package:
        recommended = json.load(package.extractfile("package/recommended-feature-flags.json"))
    cdk_json = json.loads((default_project / "cdk.json").read_text(encoding="utf-8"))

    used = {flag: value for flag, value in recommended.items() if STACK_MODULES.match(flag)}
    assert cdk_json["context"] == {**used, **dict.fromkeys(FLAGS_KEPT_OFF, False)}

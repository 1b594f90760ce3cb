"""What a generated project builds and deploys with is pinned: every base image by digest, for
each Python the questions offer, and the CDK CLI by its lock; nothing is fetched unpinned."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from scripts.serving import TEMPLATE_ROOT, copier_copy, generated_files

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


@pytest.mark.parametrize("python_version", QUESTIONS["python_version"]["choices"])
def test_every_base_image_is_pinned_by_digest(python_version: str, tmp_path: Path) -> None:
    copier_copy(tmp_path / "project", {"python_version": python_version})
    images = base_images((tmp_path / "project" / "Dockerfile").read_text(encoding="utf-8"))

    assert images
    for image in images:
        assert PINNED_IMAGE.fullmatch(image), f"pin {image!r} as name:tag@sha256:<digest>"
    pythons = [image for image in images if f"/python:{python_version}-slim@" in image]
    assert len(pythons) == 1, images


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


def test_no_generated_file_fetches_a_tool_unpinned(default_project: Path) -> None:
    for path in generated_files(default_project):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"npx (--yes|-y)\b", text), path

"""The answer sets the suite generates: each is copied once per session and its own suite run
once (test_generation.py); test_prompts.py types each one in a terminal and must get the same
files. Together they take every branch of every feature question, with names and text that
stress rendering."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

CERTIFICATE_ARN = (
    "arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012"
)
LONG_NAME = "An Unusually Long Server Name To Stretch Every Generated Line Width"

ANSWER_SETS: dict[str, dict[str, object]] = {
    "defaults": {},
    "rest-oidc-new-vpc-certificate-postgres": {
        "project_name": "My Server 2",
        "python_version": "3.12",
        "architecture": "x86_64",
        "api_type": "rest",
        "auth": "oidc",
        "auth_issuer": "https://tenant.example.com/",
        "auth_audience": "weather-api",
        "vpc": "new",
        "vpc_egress": "nat",
        "domain": "certificate",
        "domain_name": "weather.example.com",
        "certificate_arn": CERTIFICATE_ARN,
        "database": "postgres",
        "secrets": ["my-server-2/api-key"],
        "ci_deploy": True,
    },
    "http-iam-endpoints-hosted-zone": {
        "project_name": "Météo Überall",
        "project_slug": "meteo-uberall",
        "description": 'Prévisions « météo » — "quoted", back\\slash, ✓',
        "author_name": "Zoë O'Brien",
        "python_version": "3.14",
        "auth": "iam",
        "vpc": "new",
        "vpc_egress": "endpoints",
        "domain": "hosted-zone",
        "domain_name": "mcp.tools.example.com",
        "hosted_zone_name": "tools.example.com",
        "hosted_zone_id": "Z0123456789ABCDEFGHIJ",
        "secrets": ["meteo/api-key", "meteo/database"],
        "ci_deploy": True,
    },
    "rest-none-existing-vpc-postgres": {
        "project_name": LONG_NAME,
        "api_type": "rest",
        "auth": "none",
        "vpc": "existing",
        "vpc_id": "vpc-0123456789abcdef0",
        "vpc_subnet_ids": ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"],
        "vpc_security_group_ids": ["sg-0123456789abcdef0"],
        "database": "postgres",
    },
}

# pytest-xdist runs the tests that use the default project, set up, on one worker, so that only
# that worker sets it up.
DEFAULTS = pytest.mark.xdist_group("defaults")
# The answer set with auth oidc: test_oidc_upstream.py signs in to it through a real provider.
OIDC = "rest-oidc-new-vpc-certificate-postgres"


@dataclass(frozen=True)
class Generated:
    path: Path
    files: dict[str, str]  # as `copier copy` wrote them, by path, before anything ran there
    output: str  # what `copier copy` printed

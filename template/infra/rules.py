"""deploy.toml rules that tie keys together, within a section or across sections.

Each rule adds one Problem per mistake, naming the key, its value and what is allowed.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from .validation import Problem, toml_repr

# API Gateway stops waiting for the function after these many seconds.
API_TIMEOUT_SECONDS = {"http": 30, "rest": 29}
# Which [domain] keys each mode uses.
DOMAIN_KEYS = {
    "none": (),
    "certificate": ("name", "certificate_arn"),
    "hosted-zone": ("name", "hosted_zone_id", "hosted_zone_name"),
}
DOMAIN_EXAMPLES = {
    "name": '"mcp.example.com"',
    "certificate_arn": '"arn:aws:acm:<region>:<account>:certificate/<id>"',
    "hosted_zone_id": '"Z0123456789ABCDEFGHIJ"',
    "hosted_zone_name": '"example.com"',
}
# Cognito refuses domain prefixes with these words in them.
COGNITO_RESERVED_WORDS = ("aws", "amazon", "cognito")


def check_cross_field_rules(
    values: dict[str, dict[str, Any]], secrets: dict[str, str], problems: list[Problem]
) -> None:
    """Rules that tie keys together, within a section or across sections."""
    function, api, observability = values["lambda"], values["api_gateway"], values["observability"]
    timeout, api_type = function["timeout_seconds"], api["type"]
    if timeout is not None and api_type in API_TIMEOUT_SECONDS:
        limit = API_TIMEOUT_SECONDS[api_type]
        if timeout > limit:
            allowed = f"[api_gateway] type = {toml_repr(api_type)} stops waiting after {limit} s"
            problems.append(
                Problem("lambda", "timeout_seconds", timeout, f"{allowed}; use 1 to {limit}")
            )
    reserved, provisioned = function["reserved_concurrency"], function["provisioned_concurrency"]
    if reserved is not None and provisioned is not None and provisioned > reserved:
        allowed = f"use at most reserved_concurrency ({reserved})"
        problems.append(Problem("lambda", "provisioned_concurrency", provisioned, allowed))
    _check_auth_rules(values["auth"], api_type, values["server"]["name"], problems)
    _check_vpc_rules(values["vpc"], values["auth"]["provider"], secrets, problems)
    _check_domain_rules(values["domain"], values["aws"]["region"], problems)
    if observability["alarm_email"] and observability["alarms"] is False:
        allowed = "set alarms = true too, or leave the address empty"
        problems.append(
            Problem("observability", "alarm_email", observability["alarm_email"], allowed)
        )


def _check_auth_rules(
    auth: dict[str, Any], api_type: str | None, server_name: str | None, problems: list[Problem]
) -> None:
    provider = auth["provider"]
    if provider == "oidc":
        for key, example in (
            ("issuer", "https://login.example.com/"),
            ("audience", "my-mcp-server"),
        ):
            if not auth[key]:
                problems.append(
                    Problem("auth", key, auth[key], f'provider = "oidc" needs it, e.g. "{example}"')
                )
    principals = auth["allowed_principals"]
    if principals and provider not in (None, "iam"):
        allowed = (
            f'it names AWS callers, which only provider = "iam" checks (provider is '
            f"{toml_repr(provider)}): remove it"
        )
        problems.append(Problem("auth", "allowed_principals", list(principals), allowed))
    scopes = auth["scopes"] or ()
    if provider == "cognito" and len({scope.split("/")[0] for scope in scopes}) > 1:
        allowed = (
            "Cognito scopes share one resource server: use one prefix, e.g. mcp/tools, mcp/admin"
        )
        problems.append(Problem("auth", "scopes", list(scopes), allowed))
    prefix = auth["domain_prefix"] or server_name or ""
    if provider == "cognito" and any(word in prefix for word in COGNITO_RESERVED_WORDS):
        allowed = "Cognito refuses domain prefixes containing aws, amazon or cognito: set one without them"
        problems.append(Problem("auth", "domain_prefix", prefix, allowed))


def _check_vpc_rules(
    vpc: dict[str, Any], provider: str | None, secrets: dict[str, str], problems: list[Problem]
) -> None:
    mode = vpc["mode"]
    if mode is None:  # already reported
        return
    if mode == "existing":
        if vpc["vpc_id"] == "":
            allowed = 'mode = "existing" needs your VPC id, e.g. "vpc-0123456789abcdef0"'
            problems.append(Problem("vpc", "vpc_id", "", allowed))
        if vpc["subnet_ids"] == ():
            allowed = 'mode = "existing" needs its private subnet ids, one per AZ, e.g. two'
            problems.append(Problem("vpc", "subnet_ids", [], allowed))
    else:
        for key in ("vpc_id", "subnet_ids", "security_group_ids"):
            if vpc[key]:
                allowed = f'it is for mode = "existing" (mode is {toml_repr(mode)}): remove it'
                problems.append(Problem("vpc", key, _as_toml(vpc[key]), allowed))
    if mode == "none":
        for key in ("database_cidr", "database_security_group_id"):
            if vpc[key]:
                allowed = (
                    'a database port needs the function in a VPC: set mode = "existing" or "new"'
                )
                problems.append(Problem("vpc", key, vpc[key], allowed))
    if mode == "new" and vpc["egress"] == "endpoints" and provider in ("cognito", "oidc"):
        allowed = (
            f"the server fetches the {provider} issuer's signing keys over the internet, and "
            'private subnets with only endpoints have no route there: use egress = "nat"'
        )
        problems.append(Problem("vpc", "egress", "endpoints", allowed))
    endpoints = vpc["endpoints"] or ()
    if (
        mode == "new"
        and vpc["egress"] == "endpoints"
        and secrets
        and "secretsmanager" not in endpoints
    ):
        allowed = 'the function reads [secrets] through Secrets Manager: add "secretsmanager"'
        problems.append(Problem("vpc", "endpoints", list(endpoints), allowed))
    if vpc["database_cidr"] and not _is_ipv4_cidr(vpc["database_cidr"]):
        allowed = 'use an IPv4 CIDR like "10.0.0.0/16"'
        problems.append(Problem("vpc", "database_cidr", vpc["database_cidr"], allowed))


def _is_ipv4_cidr(value: str) -> bool:
    try:
        ipaddress.IPv4Network(value)
    except ValueError:
        return False
    return "/" in value


def _as_toml(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _check_domain_rules(
    domain: dict[str, Any], region: str | None, problems: list[Problem]
) -> None:
    mode = domain["mode"]
    if mode is None:  # already reported
        return
    for key, example in DOMAIN_EXAMPLES.items():
        used = key in DOMAIN_KEYS[mode]
        if used and domain[key] == "":
            allowed = f"mode = {toml_repr(mode)} needs it, e.g. {example}"
            problems.append(Problem("domain", key, "", allowed))
        elif not used and domain[key]:
            modes = " or ".join(toml_repr(m) for m, keys in DOMAIN_KEYS.items() if key in keys)
            allowed = f"it is for mode = {modes} (mode is {toml_repr(mode)}): remove it"
            problems.append(Problem("domain", key, domain[key], allowed))
    arn = domain["certificate_arn"]
    if mode == "certificate" and arn and region and arn.split(":")[3] != region:
        allowed = (
            f"the API is regional, so its certificate must be in [aws] region {toml_repr(region)}: "
            "request or import one there"
        )
        problems.append(Problem("domain", "certificate_arn", arn, allowed))
    name, zone = domain["name"], domain["hosted_zone_name"]
    if mode == "hosted-zone" and name and zone and not (name == zone or name.endswith(f".{zone}")):
        allowed = f"the name must be in the zone {toml_repr(zone)}, e.g. {toml_repr('mcp.' + zone)}"
        problems.append(Problem("domain", "name", name, allowed))

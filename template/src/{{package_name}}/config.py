"""Settings from environment variables, validated once at start-up.

The server reads nothing else: on Lambda the stack sets these variables, and
locally they come from the shell (see the README's Configuration table).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
AUTH_PROVIDERS = ("none", "cognito", "oidc", "iam")
NOT_SET_LOCALLY = (
    "make dev sets it for a local issuer; a server you start yourself takes it from make "
    "outputs, or runs without auth (locally only) with MCP_AUTH_DISABLED=1"
)
LOOPBACK = ("127.0.0.1", "localhost", "::1")
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("", "0", "false", "no", "off")


class ConfigError(ValueError):
    """An environment variable holds a value the server cannot use."""


@dataclass(frozen=True)
class AuthConfig:
    """Who may call /mcp. `provider` is what deploy.toml asks for; `disabled` is the local
    override (MCP_AUTH_DISABLED=1), refused on Lambda."""

    provider: str = "none"
    issuer: str = ""
    audience: str = ""
    client_ids: tuple[str, ...] = ()
    required_scopes: tuple[str, ...] = ()
    jwks_url: str = ""
    resource_url: str = ""
    # iam: the signed callers the server accepts; empty accepts any the gateway let through.
    allowed_principals: tuple[str, ...] = ()
    disabled: bool = False
    # Refetch the issuer's keys (JWKS) at most this often, however many unknown keys appear
    # and whatever the issuer's Cache-Control says.
    jwks_refresh_seconds: float = 30.0

    @property
    def enforced(self) -> str:
        return "none" if self.disabled else self.provider


@dataclass(frozen=True)
class Settings:
    host: str = "0.0.0.0"
    port: int = 8080
    log_level: str = "INFO"
    reload: bool = False
    # Lambda sets AWS_LAMBDA_FUNCTION_NAME in every function's environment.
    on_lambda: bool = False
    extra_allowed_hosts: tuple[str, ...] = ()
    # Browser origins the server answers CORS for (behind a REST API; HTTP APIs do it themselves).
    cors_allow_origins: tuple[str, ...] = ()
    auth: AuthConfig = AuthConfig()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        host = env.get("HOST", cls.host).strip() or cls.host
        port = _port(env.get("PORT", str(cls.port)))
        on_lambda = bool(env.get("AWS_LAMBDA_FUNCTION_NAME"))
        return cls(
            host=host,
            port=port,
            log_level=_log_level(env.get("LOG_LEVEL", cls.log_level)),
            reload=_flag("RELOAD", env.get("RELOAD", "")),
            on_lambda=on_lambda,
            extra_allowed_hosts=_host_list(env.get("MCP_ALLOWED_HOSTS", "")),
            cors_allow_origins=_origin_list(env.get("CORS_ALLOW_ORIGINS", "")),
            auth=_auth(env, on_lambda, f"http://{_local_name(host)}:{port}/mcp"),
        )


def _port(raw: str) -> int:
    if raw.strip().isdigit() and 1 <= int(raw) <= 65535:
        return int(raw)
    raise ConfigError(f"PORT={raw!r} is not allowed: use a whole number from 1 to 65535")


def _log_level(raw: str) -> str:
    level = raw.strip().upper()
    if level in LOG_LEVELS:
        return level
    raise ConfigError(f"LOG_LEVEL={raw!r} is not allowed: use one of {', '.join(LOG_LEVELS)}")


def _flag(name: str, raw: str) -> bool:
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    allowed = ", ".join(w for w in TRUE_WORDS + FALSE_WORDS if w)
    raise ConfigError(f"{name}={raw!r} is not allowed: use one of {allowed} (or leave it unset)")


def _host_list(raw: str) -> tuple[str, ...]:
    hosts = tuple(part.strip() for part in raw.split(",") if part.strip())
    for host in hosts:
        if any(char.isspace() or char in "/@" for char in host):
            raise ConfigError(
                f"MCP_ALLOWED_HOSTS entry {host!r} is not allowed: use host or host:port "
                "patterns separated by commas, e.g. 'myhost:8080,myhost:*'"
            )
    return hosts


def _origin_list(raw: str) -> tuple[str, ...]:
    origins = tuple(part.strip() for part in raw.split(",") if part.strip())
    for origin in origins:
        if origin != "*" and not origin.startswith(("http://", "https://")):
            raise ConfigError(
                f"CORS_ALLOW_ORIGINS entry {origin!r} is not allowed: use * or origins such as "
                "https://app.example.com, separated by commas"
            )
    return origins


def _auth(env: Mapping[str, str], on_lambda: bool, local_resource_url: str) -> AuthConfig:
    provider = env.get("AUTH_PROVIDER", "none").strip().lower() or "none"
    if provider not in AUTH_PROVIDERS:
        allowed = ", ".join(AUTH_PROVIDERS)
        raise ConfigError(f"AUTH_PROVIDER={provider!r} is not allowed: use one of {allowed}")
    disabled = _flag("MCP_AUTH_DISABLED", env.get("MCP_AUTH_DISABLED", ""))
    if disabled and on_lambda:
        raise ConfigError(
            "MCP_AUTH_DISABLED is not allowed on Lambda: it is for local development only"
        )
    config = AuthConfig(
        provider=provider,
        # Exactly as given: `iss` must match it byte for byte, trailing slash and all.
        issuer=env.get("AUTH_ISSUER", "").strip(),
        audience=env.get("AUTH_AUDIENCE", "").strip(),
        client_ids=_words(env.get("AUTH_CLIENT_IDS", "")),
        required_scopes=_words(env.get("AUTH_REQUIRED_SCOPES", "")),
        jwks_url=env.get("AUTH_JWKS_URL", "").strip(),
        resource_url=env.get("MCP_RESOURCE_URL", "").strip()
        or ("" if on_lambda else local_resource_url),
        disabled=disabled,
        # Checked where it is written: deploy.toml [auth] allowed_principals.
        allowed_principals=_words(env.get("AUTH_ALLOWED_PRINCIPALS", "")),
    )
    if config.enforced in ("cognito", "oidc"):
        _check_token_settings(config)
    if config.enforced == "iam" and not on_lambda:
        raise ConfigError(
            "AUTH_PROVIDER=iam is checked by API Gateway (SigV4), which is not in front of a "
            "local server: set MCP_AUTH_DISABLED=1 to run locally without it"
        )
    return config


def _check_token_settings(config: AuthConfig) -> None:
    provider = config.provider
    if not config.issuer:
        raise ConfigError(
            f"AUTH_PROVIDER={provider} needs AUTH_ISSUER, the token issuer's URL; {NOT_SET_LOCALLY}"
        )
    for name, url in (("AUTH_ISSUER", config.issuer), ("AUTH_JWKS_URL", config.jwks_url)):
        if url and not is_secure_url(url):
            raise ConfigError(f"{name}={url!r} is not allowed: use an https:// URL")
    if provider == "oidc" and not config.audience:
        raise ConfigError(
            "AUTH_PROVIDER=oidc needs AUTH_AUDIENCE, the audience (aud) tokens are issued for"
        )
    if provider == "cognito" and not config.client_ids:
        raise ConfigError(
            f"AUTH_PROVIDER=cognito needs AUTH_CLIENT_IDS, the app client ids; {NOT_SET_LOCALLY}"
        )
    if not config.resource_url:
        raise ConfigError(
            f"AUTH_PROVIDER={provider} needs MCP_RESOURCE_URL, this server's public /mcp URL"
        )


def is_secure_url(url: str) -> bool:
    """https, or plain http for a loopback host only (tests and local identity providers);
    the host is compared whole, so http://localhost.example.com is not loopback."""
    parts = urlsplit(url)
    return parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK)


def _words(raw: str) -> tuple[str, ...]:
    return tuple(word for word in raw.replace(",", " ").split() if word)


def _local_name(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host

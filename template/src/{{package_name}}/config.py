"""Settings from environment variables, validated once at start-up.

The server reads nothing else: on Lambda the stack sets these variables, and
locally they come from the shell (see the README's Configuration table).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("", "0", "false", "no", "off")


class ConfigError(ValueError):
    """An environment variable holds a value the server cannot use."""


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

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            host=env.get("HOST", cls.host).strip() or cls.host,
            port=_port(env.get("PORT", str(cls.port))),
            log_level=_log_level(env.get("LOG_LEVEL", cls.log_level)),
            reload=_flag("RELOAD", env.get("RELOAD", "")),
            on_lambda=bool(env.get("AWS_LAMBDA_FUNCTION_NAME")),
            extra_allowed_hosts=_host_list(env.get("MCP_ALLOWED_HOSTS", "")),
            cors_allow_origins=_origin_list(env.get("CORS_ALLOW_ORIGINS", "")),
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

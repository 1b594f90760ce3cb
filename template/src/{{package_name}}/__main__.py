"""Start-up: `python -m <package>` validates the settings, then serves with uvicorn."""

from __future__ import annotations

import sys

import uvicorn

from .config import ConfigError, Settings


def main() -> None:
    try:
        settings = Settings.from_env()
    except ConfigError as error:
        sys.exit(f"configuration error: {error}")
    uvicorn.run(
        f"{__package__}.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        reload=settings.reload,
        # Logging is set up by create_app (logs.py); uvicorn must not replace it.
        log_config=None,
        access_log=False,
        server_header=False,
    )


if __name__ == "__main__":
    main()

"""Start-up: `python -m <package>` validates the settings, then serves with uvicorn."""

from __future__ import annotations

import uvicorn

from . import config
from .logs import configure_logging


def main() -> None:
    settings = config.load()
    # Here for uvicorn's own start-up lines; the app configures the same in its process.
    configure_logging(settings.log_level)
    uvicorn.run(
        f"{__package__}.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        reload=settings.reload,
        # Logging is set up by logs.py; uvicorn must not replace it.
        log_config=None,
        access_log=False,
        server_header=False,
    )


if __name__ == "__main__":
    main()

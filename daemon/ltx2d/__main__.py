"""`python -m ltx2d` / `ltx2d`: serve a warm LTX-2 model (run with --help for every option)."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Sequence

from .config import ConfigError, DaemonConfig


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the configuration, set up logging, and serve until SIGTERM or SIGINT."""
    try:
        config = DaemonConfig.from_args(sys.argv[1:] if argv is None else argv, os.environ)
    except ConfigError as exc:
        print(f"ltx2d: error: {exc}", file=sys.stderr)
        return 2

    from . import logs
    from .errors import ServiceError
    from .server import run

    logs.configure(config.log_level, config.log_format)
    try:
        return asyncio.run(run(config))
    except OSError as exc:  # typically a port already in use
        print(f"ltx2d: error: {exc}", file=sys.stderr)
        return 1
    except ServiceError as exc:  # a model that cannot be read or loaded (--preload)
        print(f"ltx2d: error: {exc.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

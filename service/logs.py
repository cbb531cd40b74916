"""Herald's own log lines (the `herald.*` loggers), to stderr, in both processes."""

from __future__ import annotations

import logging
import sys


def configure(level: str) -> None:
    logger = logging.getLogger("herald")
    logger.setLevel(level)
    if not logger.handlers:  # uvicorn and ARQ configure only their own loggers
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False

"""Structured JSON logs with meeting and participant ids, never health data or phone numbers."""
from __future__ import annotations

import logging
import sys

import structlog


def configure(level: str = "INFO") -> None:
    """Send structlog events as one JSON object a line to stderr."""
    logging.basicConfig(stream=sys.stderr, level=getattr(logging, level.upper(), logging.INFO), format="%(message)s")
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )


def get(name: str = "mvc"):
    """A structured logger."""
    return structlog.get_logger(name)

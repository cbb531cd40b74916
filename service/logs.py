"""Herald's own log lines (the `herald.*` loggers), to stderr, in both processes.

One line per event. In production (LOG_FORMAT=json) each line is a JSON object that a log
pipeline can index; in development (`text`) it reads as `event key=value ...`. Fields are
passed with `event()`, never formatted into the message, so the JSON stays structured.
"""

from __future__ import annotations

import logging
import sys
import time
from contextvars import ContextVar
from typing import Any

from service import jsonio

# Set by service.requestlog for the duration of an HTTP request: every line logged meanwhile carries it.
REQUEST_ID: ContextVar[str | None] = ContextVar("herald_request_id", default=None)


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = dict(getattr(record, "fields", {}))
    if (request_id := REQUEST_ID.get()) is not None:
        fields["request_id"] = request_id
    return fields


class _Json(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {"at": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
                                "level": record.levelname.lower(), "logger": record.name,
                                "event": record.getMessage()}
        line |= _fields(record)
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return jsonio.dumps(line, default=str)


class _Text(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = _fields(record)
        return text + "".join(f" {key}={value}" for key, value in fields.items())


def configure(level: str, fmt: str = "text") -> None:
    logger = logging.getLogger("herald")
    logger.setLevel(level)
    if not logger.handlers:  # uvicorn and ARQ configure only their own loggers
        logger.addHandler(logging.StreamHandler(sys.stderr))
        logger.propagate = False
    formatter = _Json() if fmt == "json" else _Text("%(asctime)s %(levelname)s %(name)s: %(message)s")
    formatter.converter = time.gmtime  # timestamps in UTC, as the "Z" says
    for handler in logger.handlers:
        handler.setFormatter(formatter)


def event(logger: logging.Logger, name: str, *, level: int = logging.INFO, **fields: Any) -> None:
    """`name` is the event (`notification.sent`); fields go into the line as they are."""
    if logger.isEnabledFor(level):
        # Built and handed over directly: Logger.log would first walk the stack for the caller's
        # file and line, which no line of Herald's prints, on every request the web answers.
        record = logger.makeRecord(logger.name, level, "", 0, name, (), None, extra={"fields": fields})
        logger.handle(record)

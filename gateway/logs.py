"""Log lines an operator can follow: each carries the id of the request it belongs to; JSON on request.

`RequestIdMiddleware` (api) takes the caller's `X-Request-ID` when it is a sane token, or makes one, keeps it in
the context variable below for everything logged while the request runs (uvicorn's access line included) and
returns it in the response's `X-Request-ID`. `configure` sets up the root handler once: text, or JSON objects
(python-json-logger) with `timestamp`, `level`, `logger`, `message` and `request_id`.
"""

from __future__ import annotations

import logging
import re
import sys
from contextvars import ContextVar
from typing import Literal

from pythonjsonlogger.json import JsonFormatter

LogFormat = Literal["text", "json"]
#: The id of the request being served (None outside requests, e.g. the delivery worker).
request_id: ContextVar[str | None] = ContextVar("gateway_request_id", default=None)
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


def sane_request_id(value: str | None) -> str | None:
    """The caller's request id if it is a short token (it lands in every log line), else None."""
    return value if value is not None and _SANE_ID.fullmatch(value) else None


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get() or "-"
        return True


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is when a line is logged, not the stream it was at `configure` time (a
    command run inside a test runner, which swaps and closes stderr, must not break every later log line)."""

    @property
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


def configure(level: str, log_format: LogFormat = "text") -> None:
    """One stderr handler on the root logger, in `log_format`; uvicorn's loggers propagate to it. Handlers others
    installed (a test runner's) stay; a second `configure` replaces the first one's handler."""
    handler = _StderrHandler()
    handler.addFilter(RequestIdFilter())
    if log_format == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
                rename_fields={"asctime": "timestamp", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if not isinstance(h, _StderrHandler)] + [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True

"""Keep CPR numbers out of logs: a `logging.Filter` that masks them in messages, arguments and tracebacks.

A CPR number (personnummer, CPR-loven) is 10 digits `DDMMYY-SSSS`, written with or without the hyphen (or a space).
We mask any run of exactly 10 digits (optionally `DDMMYY-SSSS` / `DDMMYY SSSS`) whose first six digits are a
calendar-plausible DDMMYY (day 01-31, month 01-12), wherever it stands: inside a URL
(`identifier=urn:oid:1.2.208.176.1.2|0101709998`, `...1.2%7C0101709998`), JSON, or prose. The text is read as a URL
decoder would read it: percent-escapes of ASCII characters (`%30%31...` are digits, `%2D` a hyphen) and `+` (a
space in a query) are decoded before matching, and the whole encoded span is masked. Longer digit runs (SOR codes,
GLNs) are not CPR numbers and stay; a 10-digit Unix time such as 1767225600 has no valid month and stays. Masking
keeps the shape (`xxxxxx-xxxx`) so a reader sees that something was there.

`install_privacy_filter()` attaches the filter to the root logger, uvicorn's loggers and every handler they have
*at that moment* (a logger's filters do not see records propagated from child loggers; its handlers' filters do).
Call it after logging is configured (for uvicorn: in the app's lifespan start-up).
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Iterable
from typing import Any

CPR_MASK = "xxxxxx-xxxx"
_CPR = re.compile(r"(?<!\d)(?:0[1-9]|[12]\d|3[01])(?:0[1-9]|1[0-2])\d{2}[- ]?\d{4}(?!\d)")
#: What a URL decoder turns into one character: an ASCII percent-escape, or `+` (a space in a query string).
_ENCODED = re.compile(r"%[0-7][0-9A-Fa-f]|\+")
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


def mask_cpr(text: str) -> str:
    """`text` with every CPR-like number replaced by `xxxxxx-xxxx`, also when it is percent- or `+`-encoded."""
    if "%" not in text and "+" not in text:
        return _CPR.sub(CPR_MASK, text)
    decoded, starts = _decoded(text)
    spans = [(starts[m.start()], starts[m.end()]) for m in _CPR.finditer(decoded)]
    for start, end in reversed(spans):
        text = text[:start] + CPR_MASK + text[end:]
    return _CPR.sub(CPR_MASK, text)  # and as written: `%0101709998` is a CPR number after a stray `%` too


def _decoded(text: str) -> tuple[str, list[int]]:
    """The URL-decoded text, and for each of its characters (and its end) the offset in `text` it starts at."""
    chars: list[str] = []
    starts: list[int] = []
    position = 0
    for match in _ENCODED.finditer(text):
        chars.extend(text[position : match.start()])
        starts.extend(range(position, match.start()))
        token = match.group()
        chars.append(" " if token == "+" else chr(int(token[1:], 16)))
        starts.append(match.start())
        position = match.end()
    chars.extend(text[position:])
    starts.extend(range(position, len(text) + 1))
    return "".join(chars), starts


def _mask_arg(value: Any) -> Any:
    if isinstance(value, str):
        return mask_cpr(value)
    if isinstance(value, bool | float) or value is None:
        return value
    # ints (a CPR read as a number) and objects whose str() shows one (URLs, exceptions) become masked text.
    text = str(value)
    masked = mask_cpr(text)
    return value if masked == text else masked


class PrivacyFilter(logging.Filter):
    """Masks CPR numbers in `msg`, `args`, exception text and stack info; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = mask_cpr(record.msg)
        elif record.msg is not None:
            text = str(record.msg)
            masked = mask_cpr(text)
            if masked != text:
                record.msg = masked
        if isinstance(record.args, dict):
            record.args = {key: _mask_arg(value) for key, value in record.args.items()}
        elif isinstance(record.args, tuple):
            record.args = tuple(_mask_arg(value) for value in record.args)
        self._check_formats(record)
        if record.exc_info and not record.exc_text:
            # Formatter.format uses exc_text when set, so the traceback is formatted (and masked) once, here.
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if record.exc_text:
            record.exc_text = mask_cpr(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_cpr(record.stack_info)
        return True

    @staticmethod
    def _check_formats(record: logging.LogRecord) -> None:
        """A masked int under `%d` would make formatting fail (and logging print the raw args to stderr)."""
        if not record.args:
            return
        try:
            record.getMessage()
        except (TypeError, ValueError, KeyError):
            record.msg = f"{record.msg} (arguments: {record.args!r})"
            record.args = ()


def install_privacy_filter(extra_loggers: Iterable[str] = ()) -> PrivacyFilter:
    """Attach one `PrivacyFilter` to the root and uvicorn loggers and their handlers (idempotent)."""
    privacy = (
        next((item for item in logging.getLogger().filters if isinstance(item, PrivacyFilter)), None) or PrivacyFilter()
    )
    for name in ("", *UVICORN_LOGGERS, *extra_loggers):
        logger = logging.getLogger(name)
        for target in (logger, *logger.handlers):
            if not any(isinstance(item, PrivacyFilter) for item in target.filters):
                target.addFilter(privacy)
    return privacy

"""Reading JSON that others wrote, whose shape is not yet checked (a peer's answer, an operator's Bundle)."""

from __future__ import annotations

from typing import Any


def items(value: Any) -> list[Any]:
    """A JSON array's items; anything else (malformed data, reported elsewhere or not at all) as no items."""
    return value if isinstance(value, list) else []

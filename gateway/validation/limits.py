"""Value limits an element definition puts on its values: `minValue[x]`/`maxValue[x]`, `maxLength` and the
`minLength` extension (FHIR R4 ElementDefinition, http://hl7.org/fhir/R4/elementdefinition.html).

`minValue[x]`/`maxValue[x]` apply to integer, decimal, date, dateTime, instant, time and Quantity values; dates
and times compare on the precision both values have (ISO 8601 text of equal precision sorts as the time does).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: The extension giving a string's minimum length (R4 has `maxLength` only).
MIN_LENGTH_EXTENSION = "http://hl7.org/fhir/StructureDefinition/minLength"


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits of one element; `None` where the definition sets none."""

    min_value: Any = None
    max_value: Any = None
    min_length: int | None = None
    max_length: int | None = None


def limits_of(element: dict[str, Any]) -> Limits | None:
    """The limits an ElementDefinition (snapshot element) sets, or None when it sets none (the common case)."""
    min_value = _choice(element, "minValue")
    max_value = _choice(element, "maxValue")
    max_length = element.get("maxLength")
    min_length = next(
        (
            extension.get("valueInteger")
            for extension in element.get("extension", [])
            if isinstance(extension, dict) and extension.get("url") == MIN_LENGTH_EXTENSION
        ),
        None,
    )
    if min_value is None and max_value is None and not max_length and min_length is None:
        return None
    return Limits(
        min_value,
        max_value,
        min_length if isinstance(min_length, int) else None,
        max_length if isinstance(max_length, int) and max_length > 0 else None,
    )


def _choice(element: dict[str, Any], stem: str) -> Any:
    for key, value in element.items():
        if key.startswith(stem) and key[len(stem) : len(stem) + 1].isupper():
            return value
    return None


def violation(limits: Limits, value: Any) -> tuple[str, str] | None:
    """(message id, diagnostics) for the first limit `value` breaks, or None."""
    if isinstance(value, str):
        if limits.max_length is not None and len(value) > limits.max_length:
            return "validation.max-length", f"longer than {limits.max_length}"
        if limits.min_length is not None and len(value) < limits.min_length:
            return "validation.min-length", f"{value!r} is shorter than the minimum length of {limits.min_length}"
    if limits.min_value is not None and _compare(value, limits.min_value) == -1:
        return "validation.min-value", f"{_shown(value)} is less than the minimum value {_shown(limits.min_value)}"
    if limits.max_value is not None and _compare(value, limits.max_value) == 1:
        return "validation.max-value", f"{_shown(value)} is more than the maximum value {_shown(limits.max_value)}"
    return None


def _compare(value: Any, limit: Any) -> int | None:
    """-1, 0 or 1 as `value` is below, at or above `limit`; None when they cannot be compared."""
    if isinstance(limit, dict):  # Quantity: comparable in the limit's unit only (no UCUM conversion here)
        if not isinstance(value, dict) or any(
            key in limit and key in value and value[key] != limit[key] for key in ("system", "code")
        ):
            return None
        return _compare(value.get("value"), limit.get("value"))
    if isinstance(limit, bool) or isinstance(value, bool):
        return None
    if isinstance(limit, int | float) and isinstance(value, int | float):
        return (value > limit) - (value < limit)
    if isinstance(limit, str) and isinstance(value, str):
        size = min(len(value), len(limit), 19)  # to the second: time zones and fractions are not compared
        a, b = value[:size], limit[:size]
        return (a > b) - (a < b)
    return None


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return f"{value.get('value')} {value.get('code') or value.get('unit') or ''}".strip()
    return repr(value)

"""FHIR R4 primitive types: their JSON representation and value regexes.

The regexes are the ones the R4 specification publishes on each primitive's `value` element
(http://hl7.org/fhir/R4/datatypes.html#primitive, extension `http://hl7.org/fhir/StructureDefinition/regex`),
read from the core package at compile time; `FALLBACK_REGEX` repeats the few the validator needs before that.
FHIR regexes match the whole value, so they are compiled with `fullmatch`.
"""

from __future__ import annotations

import datetime
import re
from typing import Any, Protocol

PRIMITIVES = frozenset(
    {
        "boolean", "integer", "string", "decimal", "uri", "url", "canonical", "base64Binary", "instant", "date",
        "dateTime", "time", "code", "oid", "id", "markdown", "unsignedInt", "positiveInt", "uuid", "xhtml",
    }
)  # fmt: skip
INTEGER_TYPES = frozenset({"integer", "unsignedInt", "positiveInt"})
REGEX_EXTENSION = "http://hl7.org/fhir/StructureDefinition/regex"
#: Types used for `id`/`url` of elements in R4 snapshots (FHIRPath system types).
SYSTEM_STRING = "http://hl7.org/fhirpath/System.String"


def json_type_ok(type_code: str, value: Any) -> bool:
    """Whether `value` has the JSON form FHIR R4 JSON (§2.6.2) prescribes for `type_code`."""
    if type_code == "boolean":
        return isinstance(value, bool)
    if type_code in INTEGER_TYPES:
        return isinstance(value, int) and not isinstance(value, bool)
    if type_code == "decimal":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, str)


class ValuePattern(Protocol):
    """What the validator needs of a primitive's regex: `fullmatch`, truthy when the whole value matches."""

    def fullmatch(self, value: str) -> object: ...


#: R4's base64Binary regex, as the core package publishes it.
BASE64_REGEX = r"(\s*([0-9a-zA-Z\+/=]){4}\s*)+"
_BASE64_ALPHABET = re.compile(r"[0-9a-zA-Z+/=]+")


class Base64Pattern:
    """`BASE64_REGEX` decided in linear time. The regex backtracks: it takes ~9 ms on the 80 KB of a typical
    attached PDF, several times fhir.resources' whole parse of the message. It matches whitespace-separated runs
    of four-character groups, so: at least one run, each of a length divisible by 4 and only of the alphabet
    (`str.split()` and the regex's whitespace class both use Python's Unicode whitespace)."""

    pattern = BASE64_REGEX

    def fullmatch(self, value: str) -> bool:
        runs = value.split()
        return bool(runs) and all(len(run) % 4 == 0 and _BASE64_ALPHABET.fullmatch(run) for run in runs)


class CalendarPattern:
    """A date, dateTime or instant regex plus the calendar: R4's regexes accept any day 01-31 in any month
    (`2025-02-30`), which is no date (FHIR R4 §2.24.0.1: dates are valid dates of the Gregorian calendar)."""

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.pattern = pattern

    def fullmatch(self, value: str) -> bool:
        if self.pattern.fullmatch(value) is None:
            return False
        if len(value) < 10 or value[4] != "-" or value[7] != "-":
            return True  # a year or a year-month: the regex has said all there is
        try:
            datetime.date(int(value[:4]), int(value[5:7]), int(value[8:10]))
        except ValueError:
            return False
        return True


#: The primitives whose values are URIs.
URI_TYPES = frozenset({"uri", "url", "canonical"})
#: Domains the FHIR validator treats as examples (InstanceValidator: "Example URLs are not allowed in this context").
EXAMPLE_DOMAINS = ("example.org", "acme.com", "acme.org")  # spelled out in `UriPattern.fullmatch` too


def is_example_url(value: str) -> bool:
    return any(domain in value for domain in EXAMPLE_DOMAINS)


#: `UriPattern.seen`: at most this many values, each at most this long.
_SEEN_VALUES = 4096
_SEEN_LENGTH = 256


class UriPattern:
    """A uri/url/canonical regex plus the FHIR validator's rules on them: example URLs are refused unless allowed,
    and a canonical is absolute unless it is a fragment (`#vs`; FHIR R4 §2.24.0.8: canonical URLs are absolute).
    `why` says which rule a value breaks."""

    def __init__(self, pattern: ValuePattern | None, *, examples: bool, absolute: bool) -> None:
        self.pattern = pattern
        self.examples = examples
        self.absolute = absolute
        #: Verdicts on short values seen before: the same profile, system and endpoint URLs recur in every
        #: message. Bounded in entries (emptied when full) and in the length of what is kept, whatever the input.
        self.seen: dict[str, bool] = {}

    def fullmatch(self, value: str) -> bool:
        known = self.seen.get(value)
        if known is not None:
            return known
        verdict = self._fullmatch(value)
        if len(value) <= _SEEN_LENGTH:
            if len(self.seen) >= _SEEN_VALUES:
                self.seen.clear()  # one-off values (every notice's urn:uuid) must not keep out the recurring ones
            self.seen[value] = verdict
        return verdict

    def _fullmatch(self, value: str) -> bool:
        # `why`, without building its message (this runs on every uri of every resource)
        if not self.examples and ("example.org" in value or "acme.com" in value or "acme.org" in value):
            return False
        if self.absolute and value[:1] != "#" and (":" not in value or not _ABSOLUTE.match(value)):
            return False
        return self.pattern is None or bool(self.pattern.fullmatch(value))

    def why(self, value: str) -> str | None:
        if not self.examples and is_example_url(value):
            return f"example URLs are not allowed here ({value})"
        if self.absolute and not value.startswith("#") and not _ABSOLUTE.match(value):
            return f"a canonical URL is absolute unless it is a fragment reference ({value})"
        if self.pattern is not None and not self.pattern.fullmatch(value):
            return f"value {value!r} is not a valid URI"
        return None


_ABSOLUTE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")


#: The primitives whose values are calendar dates (checked beyond their regex by `CalendarPattern`).
CALENDAR_TYPES = frozenset({"date", "dateTime", "instant"})
#: FHIR R4 `id` (http://hl7.org/fhir/R4/datatypes.html#id), what every `Resource.id` is.
RESOURCE_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
#: FHIR R4 `integer` is a signed 32-bit integer (http://hl7.org/fhir/R4/datatypes.html#integer).
INTEGER_RANGE = (-(2**31), 2**31 - 1)


def compile_regex(pattern: str | None, type_code: str = "") -> ValuePattern | None:
    if not pattern:
        return None
    if pattern == BASE64_REGEX:
        return Base64Pattern()
    try:
        compiled = re.compile(pattern)
    except re.error:
        return None
    return CalendarPattern(compiled) if type_code in CALENDAR_TYPES else compiled


def regex_of(structure_definition: dict[str, Any]) -> str | None:
    """The value regex of a primitive type's StructureDefinition (`<type>.value`), when it declares one."""
    for element in structure_definition.get("snapshot", {}).get("element", []):
        if element.get("path", "").endswith(".value"):
            for type_ref in element.get("type", []):
                for extension in type_ref.get("extension", []):
                    if extension.get("url") == REGEX_EXTENSION:
                        return str(extension.get("valueString"))
    return None


def check_primitive(type_code: str, value: Any, pattern: ValuePattern | None) -> str | None:
    """A diagnostic when `value` is not a valid `type_code`, else `None`."""
    if not json_type_ok(type_code, value):
        numeric = type_code in INTEGER_TYPES or type_code == "decimal"
        expected = "boolean" if type_code == "boolean" else "number" if numeric else "string"
        return f"value {value!r} is not a JSON {expected} ({type_code})"
    if type_code == "positiveInt" and value < 1 or type_code == "unsignedInt" and value < 0:
        return f"value {value!r} is out of range for {type_code}"
    if type_code in INTEGER_TYPES and not INTEGER_RANGE[0] <= value <= INTEGER_RANGE[1]:
        return f"value {value!r} is out of range for {type_code} (a 32-bit integer)"
    if isinstance(value, str):
        if not value.strip() and type_code != "xhtml":
            return f"{type_code} value must not be empty or whitespace only"
        if pattern is not None and type_code not in ("string", "markdown", "xhtml") and not pattern.fullmatch(value):
            why = getattr(pattern, "why", None)
            reason = why(value) if why is not None else None
            return str(reason) if reason else f"value {value!r} is not a valid {type_code}"
    return None

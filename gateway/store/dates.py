"""FHIR date, dateTime and instant values as ranges of instants, for the `date` search type.

FHIR R4 search (http://hl7.org/fhir/R4/search.html#date) treats every date as the range its precision implies:
`2024` is all of 2024, `2024-03-05T10:00` the whole minute. Ranges are kept as fixed-width UTC strings
(`YYYY-MM-DDTHH:MM:SS.ffffffZ`) so that string order is time order in SQLite and PostgreSQL alike.
Values without a time zone are read as UTC (the spec leaves the zone to the server; ours is UTC).
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo

from mappings.issues import IssueError

MIN_INSTANT = "0001-01-01T00:00:00.000000Z"
MAX_INSTANT = "9999-12-31T23:59:59.999999Z"

_DATE_RE = re.compile(
    r"^(?P<year>\d{4})(-(?P<month>\d{2})(-(?P<day>\d{2})"
    r"(T(?P<hour>\d{2})(:(?P<minute>\d{2})(:(?P<second>\d{2})(?P<fraction>\.\d+)?)?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)
_TICK = timedelta(microseconds=1)


def format_instant(moment: datetime) -> str:
    """The canonical stored form of an aware datetime."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def fhir_instant(moment: datetime) -> str:
    """An aware datetime as a FHIR `instant` (milliseconds, UTC), e.g. for `meta.lastUpdated`."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def date_range(value: str) -> tuple[str, str]:
    """The inclusive [low, high] range of instants a FHIR date/dateTime/instant string denotes.

    Raises ValueError for text that is not a FHIR date (or lies outside what an instant can hold, such as
    0001-01-01T00:30+01:00); callers turn that into an Issue at their location.
    """
    try:
        return _date_range(value)
    except OverflowError as error:
        raise ValueError(f"date out of range: {value!r}") from error


def _date_range(value: str) -> tuple[str, str]:
    match = _DATE_RE.match(value.strip())
    if not match:
        raise ValueError(f"not a FHIR date/dateTime: {value!r}")
    parts = match.groupdict()
    year = int(parts["year"])
    tz = _zone(parts["tz"])
    if parts["month"] is None:
        low = datetime(year, 1, 1, tzinfo=tz)
        high = datetime(year + 1, 1, 1, tzinfo=tz) - _TICK if year < 9999 else datetime.max.replace(tzinfo=tz)
    elif parts["day"] is None:
        month = int(parts["month"])
        low = datetime(year, month, 1, tzinfo=tz)
        last_day = calendar.monthrange(year, month)[1]
        high = datetime(year, month, last_day, 23, 59, 59, 999999, tzinfo=tz)
    else:
        day = datetime(year, int(parts["month"]), int(parts["day"]), tzinfo=tz)
        if parts["hour"] is None:
            low, high = day, day + timedelta(days=1) - _TICK
        else:
            low = day.replace(hour=int(parts["hour"]), minute=int(parts["minute"] or 0))
            if parts["minute"] is None:
                high = low + timedelta(hours=1) - _TICK
            elif parts["second"] is None:
                high = low + timedelta(minutes=1) - _TICK
            else:
                low = low.replace(second=int(parts["second"]))
                fraction = parts["fraction"]
                if fraction:
                    digits = fraction[1:7]
                    low = low.replace(microsecond=int(digits.ljust(6, "0")))
                    high = low + timedelta(microseconds=10 ** (6 - len(digits))) - _TICK
                else:
                    high = low + timedelta(seconds=1) - _TICK
    return format_instant(low), format_instant(high)


def _zone(text: str | None) -> tzinfo:
    if text is None or text == "Z":
        return UTC
    sign = 1 if text[0] == "+" else -1
    hours, minutes = int(text[1:3]), int(text[4:6])
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def period_range(period: dict[str, object]) -> tuple[str, str] | None:
    """A FHIR Period as a range; an open end is unbounded (R4 search: a missing end means ongoing)."""
    start, end = period.get("start"), period.get("end")
    if not isinstance(start, str) and not isinstance(end, str):
        return None
    low = date_range(start)[0] if isinstance(start, str) else MIN_INSTANT
    high = date_range(end)[1] if isinstance(end, str) else MAX_INSTANT
    return low, high


def parse_search_date(raw: str, *, parameter: str) -> tuple[str, str, str]:
    """Split a date search value into (prefix, low, high); errors name the parameter."""
    prefix = raw[:2] if raw[:2] in DATE_PREFIXES else "eq"
    text = raw[2:] if raw[:2] in DATE_PREFIXES else raw
    try:
        low, high = date_range(text)
    except (ValueError, OverflowError) as error:
        raise IssueError.single(
            "invalid",
            f"Search parameter {parameter!r}: {raw!r} is not a FHIR date, dateTime or instant "
            "(optionally with a prefix eq, ne, gt, lt, ge, le, sa, eb, ap)",
            expression=parameter,
            message_id="search.invalid-date",
        ) from error
    return prefix, low, high


DATE_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")

"""hl7apy as the HL7 v2 parser of record, made affordable: only the segments and fields the ADT mapping reads.

hl7apy builds one Python object per field, component and sub-component, each assignment going through its
validating `__setattr__`; a whole ADT^A03 costs about 6-10 ms this way, against 0.4 ms for python-hl7
(`bench/bench_inbound_hl7v2.py` prints the ratios). Three things make it cheaper without a second reader:

1. **Library loading cached.** `hl7apy.load_library(version)` runs `importlib.import_module` on every element
   lookup (tens of thousands of calls per message); its result never changes for a version, so it is memoised
   once, for hl7apy's own modules, at import.
2. **No group finding.** Segments are parsed one by one (`hl7apy.parser.parse_segment`): the notices need the
   segments, not ADT_A03's group tree (`find_groups` is where hl7apy spends the most when it is on).
3. **Only what is read.** Segments the mapping does not use (NK1, OBX, AL1, DG1, ...) are not handed to hl7apy,
   and of the used ones only the fields in `FIELDS_READ` are; the others are left empty before parsing. The
   field positions stay where they were, so every value read is hl7apy's parse of the input at its position.
4. **Attribute names looked up in a set.** Every attribute assignment on an hl7apy element (about 3,000 per A03)
   first asks whether the name is in the class's `cls_attrs`, a list of 20-26 names searched from the start;
   they are made frozensets of the same names at import (hl7apy only ever tests membership in them), 8 % of the
   parse.

Escape sequences (HL7 v2.5 §2.7) are left in place by hl7apy; `Segment.get` undoes them for the value it returns.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import hl7apy
import hl7apy.core
import hl7apy.factories
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.exceptions import HL7apyException
from hl7apy.parser import parse_segment

from mappings.issues import Issue, IssueError

#: HL7 field positions the ADT mapping reads, per segment (MSH-1 and MSH-2 are the delimiters themselves).
FIELDS_READ: Mapping[str, frozenset[int]] = {
    "MSH": frozenset({3, 4, 5, 6, 7, 9, 10, 11, 12, 18}),
    "EVN": frozenset({2, 6}),
    "PID": frozenset({3, 5, 11, 29, 30}),
    "PD1": frozenset({4}),
    "PV1": frozenset({2, 19, 44, 45}),
    "ROL": frozenset({3, 4}),
}


def _cached_library_loading() -> None:
    """Memoise `hl7apy.load_library` where hl7apy's modules look it up (see the module docstring, point 1)."""
    if hasattr(hl7apy.load_library, "cache_info"):
        return
    cached = functools.cache(hl7apy.load_library)
    for module in (hl7apy, hl7apy.core, hl7apy.factories):
        module.load_library = cached


_cached_library_loading()


def _attribute_names_as_sets() -> None:
    """`cls_attrs` of every hl7apy element class as a frozenset of the same names (module docstring, point 4)."""
    for value in vars(hl7apy.core).values():
        if isinstance(value, type) and isinstance(vars(value).get("cls_attrs"), list | tuple):
            value.cls_attrs = frozenset(value.cls_attrs)  # type: ignore[attr-defined]


_attribute_names_as_sets()


def issue(code: str, location: str, diagnostics: str, message_id: str) -> IssueError:
    return IssueError((Issue("error", code, diagnostics, location, message_id),))  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Delimiters:
    field: str
    component: str
    repetition: str
    escape: str
    subcomponent: str

    def hl7apy_encoding(self) -> dict[str, str]:
        return {
            "FIELD": self.field,
            "COMPONENT": self.component,
            "REPETITION": self.repetition,
            "ESCAPE": self.escape,
            "SUBCOMPONENT": self.subcomponent,
            "GROUP": "\r",
            "SEGMENT": "\r",
        }

    def unescape(self, value: str) -> str:
        if self.escape not in value:
            return value
        replacements = {
            "F": self.field,
            "S": self.component,
            "R": self.repetition,
            "E": self.escape,
            "T": self.subcomponent,
        }
        esc = re.escape(self.escape)

        def one(match: re.Match[str]) -> str:
            body = match.group(1)
            if body in replacements:
                return replacements[body]
            if body.startswith("X") and len(body) > 1:
                try:
                    return bytes.fromhex(body[1:]).decode("latin-1")
                except ValueError:
                    return match.group(0)
            if body in (".br", "H", "N"):
                return "\n" if body == ".br" else ""
            return match.group(0)

        return re.sub(f"{esc}([^{esc}]*){esc}", one, value)


def _position(name: str) -> int:
    """`CX_4` → 4; a base datatype child (`ST`, `ID`) stands for the only, first, component."""
    head, _, tail = name.rpartition("_")
    return int(tail) if head and tail.isdigit() else 1


class Segment:
    """One hl7apy segment, read by HL7 position: field 1 is the first after the segment name."""

    def __init__(self, parsed: Any, delimiters: Delimiters) -> None:
        self.name: str = parsed.name
        self.d = delimiters
        self._fields: dict[int, list[Any]] = {}
        for field in parsed.children:
            self._fields.setdefault(_position(field.name), []).append(field)

    def repetitions(self, field: int) -> int:
        return len(self._fields.get(field, ()))

    def raw(self, field: int) -> str:
        """The whole first repetition of a field (components kept), e.g. an HD `RHP^2651...^SOR`."""
        found = self._fields.get(field)
        return str(found[0].to_er7()).strip() if found else ""

    def get(self, field: int, component: int = 1, subcomponent: int = 1, repetition: int = 0) -> str:
        found = self._fields.get(field, [])
        if repetition >= len(found):
            return ""
        part = _child(found[repetition], component)
        if part is not None and part.children:
            part = _child(part, subcomponent)
        elif subcomponent > 1:
            part = None
        return "" if part is None else self.d.unescape(str(part.to_er7())).strip()


def _child(element: Any, position: int) -> Any:
    """The child of an hl7apy field or component at an HL7 position (`None` when that position is empty)."""
    return next((child for child in element.children if _position(child.name) == position), None)


def _reduced(line: str, name: str, separator: str) -> str:
    """The segment with only the fields in `FIELDS_READ` (positions kept), for hl7apy to parse."""
    keep = FIELDS_READ[name]
    parts = line.split(separator)
    offset = 1 if name == "MSH" else 0  # MSH-1 is the separator itself: MSH-n sits at parts[n - 1]
    kept = [
        part if index == 0 or (name == "MSH" and index == 1) or (index + offset) in keep else ""
        for index, part in enumerate(parts)
    ]
    return separator.join(kept).rstrip(separator)


def parse_segments(lines: list[str], delimiters: Delimiters, version: str) -> dict[str, list[Segment]]:
    """The segments of `FIELDS_READ` among `lines`, each parsed by hl7apy, by name in message order."""
    if version not in hl7apy.SUPPORTED_LIBRARIES:
        raise issue("not-supported", "MSH-12", f"HL7 version {version!r} is not supported", "hl7v2.version")
    encoding = delimiters.hl7apy_encoding()
    found: dict[str, list[Segment]] = {}
    for line in lines:
        name = line[:3]
        if name not in FIELDS_READ:
            continue
        try:
            parsed = parse_segment(
                _reduced(line, name, delimiters.field),
                version=version,
                encoding_chars=encoding,
                validation_level=VALIDATION_LEVEL.TOLERANT,
            )
        except HL7apyException as exc:
            rejected = f"HL7 v2 parser rejected the {name} segment: {exc}"
            raise issue("structure", name, rejected, "hl7v2.syntax") from None
        found.setdefault(name, []).append(Segment(parsed, delimiters))
    return found

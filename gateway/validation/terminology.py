"""ValueSet expansion over the shipped CodeSystems, and the "is this code in this value set?" question.

Expansion follows FHIR R4 ValueSet.compose (http://hl7.org/fhir/R4/valueset.html#compose): the union of the
includes minus the excludes; an include is a concept list, a whole system, filters (`is-a`, `descendent-of`,
`=` on `concept` / a property) or other value sets. Systems we do not hold complete (SNOMED CT, LOINC, UCUM,
BCP-47, a CodeSystem with `content` other than `complete`) cannot be answered: their codes come back as
`Membership.NOT_CHECKED`, never as valid.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

Resource = dict[str, Any]
Resolver = Callable[[str], Resource | None]


class Membership(enum.Enum):
    MEMBER = "member"
    NOT_MEMBER = "not-member"
    NOT_CHECKED = "not-checked"


@dataclass(frozen=True, slots=True)
class Expansion:
    """The codes of a value set, plus the systems whose codes it may contain but we cannot enumerate."""

    codes: frozenset[tuple[str, str]]
    open_systems: frozenset[str]
    #: Why the expansion is incomplete (for "not checked" diagnostics); empty when complete.
    gaps: tuple[str, ...] = ()

    def check(self, system: str | None, code: str) -> Membership:
        """Membership of `code` in `system`; a `None` system (a bare `code` element) matches any system."""
        if system is None:
            if any(c == code for _, c in self.codes):
                return Membership.MEMBER
            return Membership.NOT_CHECKED if self.open_systems else Membership.NOT_MEMBER
        if (system, code) in self.codes:
            return Membership.MEMBER
        if _is_open(system, self.open_systems):
            return Membership.NOT_CHECKED
        return Membership.NOT_MEMBER


#: Stands for "any system" in `Expansion.open_systems`: an included value set we do not have may hold codes of
#: any system, so no code can be called a non-member.
ANY_SYSTEM = "*"


def _is_open(system: str, open_systems: frozenset[str]) -> bool:
    return system in open_systems or ANY_SYSTEM in open_systems


def _walk(concepts: Iterable[Resource], parents: tuple[str, ...], out: dict[str, tuple[str, ...]]) -> None:
    for concept in concepts:
        code = concept.get("code")
        if isinstance(code, str):
            out[code] = parents
            _walk(concept.get("concept", []), (*parents, code), out)


@dataclass(frozen=True, slots=True)
class _CodeSystemIndex:
    ancestors: dict[str, tuple[str, ...]]
    properties: dict[str, dict[str, str]]
    complete: bool


def _index_code_system(code_system: Resource) -> _CodeSystemIndex:
    ancestors: dict[str, tuple[str, ...]] = {}
    _walk(code_system.get("concept", []), (), ancestors)
    properties: dict[str, dict[str, str]] = {}

    def collect(concepts: Iterable[Resource]) -> None:
        for concept in concepts:
            props: dict[str, str] = {}
            for prop in concept.get("property", []):
                for key, value in prop.items():
                    if key.startswith("value"):
                        props[str(prop.get("code"))] = str(value)
                        if prop.get("code") in ("parent", "subsumedBy"):
                            ancestors[concept["code"]] = (*ancestors.get(concept["code"], ()), str(value))
            properties[str(concept.get("code"))] = props
            collect(concept.get("concept", []))

    collect(code_system.get("concept", []))
    return _CodeSystemIndex(ancestors, properties, code_system.get("content", "complete") == "complete")


#: How many `Terminology.check` answers are kept.
_CHECKED_LIMIT = 65536


class Terminology:
    """Expands value sets from the CodeSystems `resolve` finds; expansions are cached per value set URL."""

    def __init__(self, resolve: Resolver) -> None:
        self._resolve = resolve
        self._expansions: dict[str, Expansion | None] = {}
        self._systems: dict[str, _CodeSystemIndex | None] = {}
        #: `check` answers by (value set, system, code): expansions never change once made, and a bare `code`
        #: against a large value set is a scan.
        self._checked: dict[tuple[str, str | None, str], tuple[Membership, str]] = {}

    def code_system(self, url: str) -> _CodeSystemIndex | None:
        if url not in self._systems:
            resource = self._resolve(url)
            usable = resource is not None and resource.get("resourceType") == "CodeSystem"
            self._systems[url] = _index_code_system(resource) if usable and resource is not None else None
        return self._systems[url]

    def expand(self, value_set_url: str) -> Expansion | None:
        """The expansion of a value set, or `None` when the value set itself is unknown."""
        if value_set_url in self._expansions:
            return self._expansions[value_set_url]
        self._expansions[value_set_url] = None  # a cycle of includes expands to nothing rather than recursing
        resource = self._resolve(value_set_url)
        result = self._expand(resource) if resource is not None and resource.get("resourceType") == "ValueSet" else None
        self._expansions[value_set_url] = result
        return result

    def _expand(self, value_set: Resource) -> Expansion:
        compose = value_set.get("compose", {})
        codes: set[tuple[str, str]] = set()
        open_systems: set[str] = set()
        gaps: list[str] = []
        for include in compose.get("include", []):
            part = self._include(include, gaps)
            codes |= part.codes
            open_systems |= part.open_systems
        for exclude in compose.get("exclude", []):
            part = self._include(exclude, [])
            codes -= part.codes
        return Expansion(frozenset(codes), frozenset(open_systems), tuple(gaps))

    def _include(self, include: Resource, gaps: list[str]) -> Expansion:
        system = include.get("system")
        parts: list[Expansion] = []
        for other in include.get("valueSet", []):
            expansion = self.expand(str(other))
            if expansion is None:
                gaps.append(f"value set {other} is unknown")
                expansion = Expansion(frozenset(), frozenset({ANY_SYSTEM}))
            parts.append(expansion)
        if isinstance(system, str):
            parts.append(self._system_part(system, include, gaps))
        if not parts:
            return Expansion(frozenset(), frozenset())
        codes = parts[0].codes
        open_systems = parts[0].open_systems
        for part in parts[1:]:  # several parts of one include intersect (ValueSet.compose.include rules)
            codes = frozenset(c for c in codes if c in part.codes or _is_open(c[0], part.open_systems)) | frozenset(
                c for c in part.codes if _is_open(c[0], open_systems)
            )
            open_systems = _open_intersection(open_systems, part.open_systems)
        return Expansion(codes, open_systems)

    def _system_part(self, system: str, include: Resource, gaps: list[str]) -> Expansion:
        listed = [str(concept["code"]) for concept in include.get("concept", []) if "code" in concept]
        index = self.code_system(system)
        filters = include.get("filter", [])
        if listed and not filters:
            return Expansion(frozenset((system, code) for code in listed), frozenset())
        if index is None or not index.complete:
            gaps.append(f"code system {system} is not available here")
            return Expansion(frozenset((system, code) for code in listed), frozenset({system}))
        selected = set(index.ancestors)
        for condition in filters:
            chosen = self._filter(index, condition)
            if chosen is None:
                gaps.append(f"filter {condition.get('property')} {condition.get('op')} on {system} is not supported")
                return Expansion(frozenset(), frozenset({system}))
            selected &= chosen
        return Expansion(frozenset((system, code) for code in selected), frozenset())

    @staticmethod
    def _filter(index: _CodeSystemIndex, condition: Resource) -> set[str] | None:
        prop, op, value = condition.get("property"), condition.get("op"), str(condition.get("value"))
        if prop == "concept" and op in ("is-a", "descendent-of"):
            below = {code for code, ancestors in index.ancestors.items() if value in ancestors}
            return below | {value} if op == "is-a" else below
        if prop == "concept" and op == "is-not-a":
            return {code for code, ancestors in index.ancestors.items() if value not in ancestors and code != value}
        if prop == "concept" and op == "in":
            return set(value.split(","))
        if op == "=" and isinstance(prop, str):
            return {code for code, props in index.properties.items() if props.get(prop) == value}
        return None

    def check(self, value_set_url: str, system: str | None, code: str) -> tuple[Membership, str]:
        """(membership, why not checked) for one code."""
        key = (value_set_url, system, code)
        found = self._checked.get(key)
        if found is None:
            found = self._check(value_set_url, system, code)
            if len(self._checked) < _CHECKED_LIMIT:  # codes come from messages: bound what they can make us keep
                self._checked[key] = found
        return found

    def _check(self, value_set_url: str, system: str | None, code: str) -> tuple[Membership, str]:
        expansion = self.expand(value_set_url)
        if expansion is None:
            return Membership.NOT_CHECKED, f"value set {value_set_url} is unknown"
        result = expansion.check(system, code)
        return result, "; ".join(expansion.gaps) if result is Membership.NOT_CHECKED else ""


def _open_intersection(first: frozenset[str], second: frozenset[str]) -> frozenset[str]:
    """The systems open in both: "any system" open in one leaves the other's open systems."""
    if ANY_SYSTEM in first:
        return second
    if ANY_SYSTEM in second:
        return first
    return first & second

"""Slicing: walking discriminator paths and deciding which slice an element belongs to.

FHIR R4 §5.1.0.10 (http://hl7.org/fhir/R4/profiling.html#discriminator): a discriminator path is a restricted
FHIRPath (`name`, `extension('url')`, `resolve()`, `ofType(T)`, `$this`); its type says how the value at the path
is compared with what the slice fixes there (`value`/`pattern`: fixed or pattern value; `exists`: presence;
`type`: the datatype; `profile`: conformance to a profile). Extensions are sliced by `url` even when a
profile declares no slicing for them (the implicit `extension` slicing of FHIR R4 §2.22.0.2).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from gateway.validation.plans import MISSING, Discriminator, ElementPlan, Slicing

_FUNCTION = re.compile(r"^(\w+)\((.*)\)$")
EXTENSION_SLICING = Slicing((Discriminator("value", "url"),), "open", False)


def split_path(path: str) -> tuple[str, ...]:
    """`extension('a.b').value.code` → (`extension('a.b')`, `value`, `code`) (dots inside quotes kept)."""
    found = _SPLIT.get(path)
    if found is None:
        found = _SPLIT[path] = _split_path(path)
    return found


#: Discriminator paths are few and fixed by the profiles; each is split once.
_SPLIT: dict[str, tuple[str, ...]] = {}


def _split_path(path: str) -> tuple[str, ...]:
    parts, current, quoted, depth = [], "", False, 0
    for char in path:
        if char == "'":
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        if char == "." and not quoted and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return tuple(part.strip() for part in parts if part.strip())


def _argument(segment: str) -> str:
    found = _FUNCTION.match(segment)
    return found.group(2).strip().strip("'") if found else ""


def pattern_matches(pattern: Any, value: Any) -> bool:
    """FHIR R4 `pattern[x]` semantics: every property the pattern has, the value has with the same content."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(k in value and pattern_matches(v, value[k]) for k, v in pattern.items())
    if isinstance(pattern, list):
        items = value if isinstance(value, list) else [value]
        return all(any(pattern_matches(p, v) for v in items) for p in pattern)
    return bool(pattern == value)


def walk(values: list[Any], path: str, resolve: Callable[[str], Any]) -> list[Any]:
    """The values a discriminator path selects from `values`."""
    for segment in split_path(path):
        if segment == "$this" or segment.startswith("ofType("):
            continue
        next_values: list[Any] = []
        if segment.startswith("extension("):
            url = _argument(segment)
            for value in values:
                extensions = value.get("extension") if isinstance(value, dict) else None
                if isinstance(extensions, list):  # a malformed `extension` is the structure checks' to report
                    next_values.extend(e for e in extensions if isinstance(e, dict) and e.get("url") == url)
        elif segment == "resolve()":
            for value in values:
                reference = value.get("reference") if isinstance(value, dict) else None
                target = resolve(reference) if isinstance(reference, str) else None
                if target is not None:
                    next_values.append(target)
        else:
            for value in values:
                if not isinstance(value, dict):
                    continue
                if segment in value:
                    found = value[segment]
                    next_values.extend(found if isinstance(found, list) else [found])
                else:  # a choice element: `value` selects `valueCoding`
                    next_values.extend(
                        v
                        for k, v in value.items()
                        if k.startswith(segment) and k[len(segment) : len(segment) + 1].isupper()
                    )
        values = next_values
    return values


def extension_url(node: ElementPlan) -> str | None:
    """The extension definition an `extension` slice is typed with."""
    for type_ref in node.types:
        if type_ref.profiles:
            return type_ref.profiles[0].split("|")[0]
    return None


def expected_value(slice_node: ElementPlan, path: str, descend: Callable[[ElementPlan], ElementPlan | None]) -> Any:
    """The fixed or pattern value the slice demands at `path`, or `MISSING`.

    `descend` gives the root of an element's type profile, for paths that continue into a profiled datatype
    (`identifier.system` where `identifier` is typed with a profile fixing `system`).
    """
    node = slice_node
    segments = split_path(path)
    for position, segment in enumerate(segments):
        if segment == "$this" or segment.startswith("ofType("):
            continue
        if segment.startswith("extension("):
            url = _argument(segment)
            holder = node.children.get("extension")
            found = next((s for s in holder.slices if extension_url(s) == url), None) if holder else None
            if found is None:
                return MISSING
            node = found
            continue
        child = node.children.get(segment)
        if child is None and node.slices:
            # `extension.value` through an element whose slices say what it holds (MedCom messaging 2.1.0 slices
            # destinations by `$this.extension.value`): the one value its slices agree on.
            rest = ".".join(segments[position:])
            agreed = [v for s in node.slices if (v := expected_value(s, rest, descend)) is not MISSING]
            return agreed[0] if len(agreed) == 1 else MISSING
        if child is None and not node.children and (node.fixed is MISSING and node.pattern is MISSING):
            if segment == "url" and extension_url(node) is not None:
                return extension_url(node)
            typed = descend(node)
            child = typed.children.get(segment) if typed is not None else None
        if child is None:
            own = node.fixed if node.fixed is not MISSING else node.pattern
            return _dig(own, segments[position:])
        node = child
    if node.fixed is not MISSING:
        return node.fixed
    return node.pattern


def _dig(value: Any, segments: tuple[str, ...]) -> Any:
    for segment in segments:
        if not isinstance(value, dict):
            return MISSING
        if segment in value:
            value = value[segment]
            continue
        choice = [v for k, v in value.items() if k.startswith(segment) and k[len(segment) : len(segment) + 1].isupper()]
        if not choice:
            return MISSING
        value = choice[0]
    return value


def element_at(slice_node: ElementPlan, path: str) -> ElementPlan | None:
    node: ElementPlan | None = slice_node
    for segment in split_path(path):
        if node is None:
            return None
        if segment == "$this" or segment.startswith("ofType("):
            continue
        node = node.children.get(segment)
    return node

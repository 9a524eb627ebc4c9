"""Slicing in the walk: which slice each item belongs to by the discriminators (FHIR R4 §5.1.0.10), closed and
ordered slicing, and each slice's cardinality."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gateway.validation import binding_checks, element_checks
from gateway.validation.plans import MISSING, ElementPlan, TypeRef
from gateway.validation.slicing import EXTENSION_SLICING, element_at, pattern_matches, split_path, walk
from gateway.validation.walk_state import Scope

if TYPE_CHECKING:
    from gateway.validation.validator import Walker


# -- slicing --------------------------------------------------------------------------------------------------
def sliced(walker: Walker, node: ElementPlan, items: list[tuple[Any, str, str, TypeRef | None]], scope: Scope) -> None:
    slicing = node.slicing or EXTENSION_SLICING
    counts = {id(s): 0 for s in node.slices}
    discriminators = slicing.discriminators
    latest = -1  # the position of the last slice matched, for `ordered` slicing
    unmatched = False
    for item, key, item_expr, type_ref in items:
        position, chosen = next(
            (
                (at, candidate)
                for at, candidate in enumerate(node.slices)
                if slice_matches(walker, candidate, discriminators, item, key, scope)
            ),
            (-1, None),
        )
        if chosen is not None and slicing.ordered:
            # ElementDefinition.slicing.ordered: the items come in the order the slices are defined, and
            # with `openAtEnd` the items of no slice come after all others (FHIR R4 §5.1.0.10)
            if position < latest or (unmatched and slicing.rules == "openAtEnd"):
                walker.run.add(
                    "error",
                    "structure",
                    "validation.slice-order",
                    item_expr,
                    f"{node.path}: slice {chosen.slice_name} is out of order: the slicing is ordered ({node.profile})",
                )
            latest = max(latest, position)
        if chosen is None:
            unmatched = True
            if slicing.rules == "closed":
                walker.run.add(
                    "error",
                    "structure",
                    "validation.closed-slicing",
                    item_expr,
                    f"{node.path}: element matches none of the slices {[s.slice_name for s in node.slices]} "
                    f"and the slicing is closed ({node.profile})",
                )
            walker.item(node, item, key, item_expr, type_ref, scope)
            continue
        counts[id(chosen)] += 1
        slice_type = chosen.type_for_key(key) or type_ref
        walker._child_item(chosen, chosen.steps.get(id(slice_type)), slice_type, item, key, item_expr, scope)
    stem = items[0][2].rsplit("[", 1)[0] if items else node.path
    for slice_node in node.slices:
        count = counts[id(slice_node)]
        if count < slice_node.min or 0 <= slice_node.max < count:  # the label is only made for an issue
            element_checks.cardinality(walker, slice_node, count, stem, f"{node.path}:{slice_node.slice_name}")


def slice_matches(
    walker: Walker, slice_node: ElementPlan, discriminators: tuple[Any, ...], item: Any, key: str, scope: Scope
) -> bool:
    for discriminator in discriminators:
        kind, path = discriminator.type, discriminator.path
        if kind in ("value", "pattern"):
            expected = walker.engine.expected(slice_node, path, scope.closure)
            if expected is MISSING:
                element = element_at(slice_node, path)
                if element is None or element.binding is None:
                    return False  # nothing to tell this slice by: an element cannot be shown to belong to it
                values = walk([item], path, lambda r: walker.run.resolve(r, scope))
                if not any(binding_checks.in_value_set(walker, element.binding.value_set, v, scope) for v in values):
                    return False
                continue
            if type(expected) is str and type(item) is dict and path in item and path.isidentifier():
                # a string at a direct child (extensions by `url`, identifiers by `system`: the common slicings):
                # what `walk` and `pattern_matches` would do
                found = item[path]
                if not any(expected == v for v in (found if isinstance(found, list) else [found])):
                    return False
                continue
            values = walk([item], path, lambda r: walker.run.resolve(r, scope))
            if not any(pattern_matches(expected, v) for v in values):
                return False
        elif kind == "exists":
            element = element_at(slice_node, path)
            present = bool(walk([item], path, lambda r: walker.run.resolve(r, scope)))
            if element is not None and ((element.min > 0 and not present) or (element.max == 0 and present)):
                return False
        elif kind == "type":
            if not type_matches(walker, slice_node, path, item, key, scope):
                return False
        elif kind == "profile":
            element = element_at(slice_node, path) if path not in ("$this", "resolve()") else slice_node
            wanted = [p for t in (element.types if element else ()) for p in (t.profiles or t.target_profiles)]
            targets = walk([item], path, lambda r: walker.run.resolve(r, scope))
            if wanted and not any(
                walker.engine.conforms(walker.run, t, p, scope) for t in targets if isinstance(t, dict) for p in wanted
            ):
                return False
    return True


def type_matches(walker: Walker, slice_node: ElementPlan, path: str, item: Any, key: str, scope: Scope) -> bool:
    """A `type` discriminator: the type of the value at `path` is one the slice allows there. Through
    `resolve()`, the type of the resource a reference points at is one of the slice's target types; a
    resource's type is its resourceType; a choice element's type is its JSON key's suffix."""
    resolving = path == "resolve()" or path.endswith(".resolve()")
    element_path = path[: -len("resolve()")].rstrip(".") if resolving else path
    element = slice_node if element_path in ("", "$this") else element_at(slice_node, element_path)
    if element is None:
        return True  # the slice says nothing about the type there
    closure = scope.closure
    if resolving:
        targets = [t for t in walk([item], path, lambda r: walker.run.resolve(r, scope)) if isinstance(t, dict)]
        allowed = {walker.engine.profile_type(p, closure) for t in element.types for p in t.target_profiles}
        allowed.discard(None)
        return bool(targets) and (not allowed or any(t.get("resourceType") in allowed for t in targets))
    values = [item] if path == "$this" else walk([item], path, lambda r: walker.run.resolve(r, scope))
    resources = [v for v in values if isinstance(v, dict) and isinstance(v.get("resourceType"), str)]
    if resources:
        return any(
            t.code == r["resourceType"]
            or any(walker.engine.profile_type(p, closure) == r["resourceType"] for p in t.profiles)
            for r in resources
            for t in element.types
        )
    if path == "$this":
        actual_key = key
    else:
        last = split_path(path)[-1]
        keys = item if isinstance(item, dict) else ()  # a malformed item has no typed key
        actual_key = next((k for k in keys if k.startswith(last)), "")
    return any(actual_key.endswith(t.code[:1].upper() + t.code[1:]) for t in element.types)

"""Snapshot generation: turn a differential-only StructureDefinition into one with a full snapshot.

Follows the outline of FHIR R4 "Snapshot generation" (http://hl7.org/fhir/R4/profiling.html#snapshot): start from
the base definition's snapshot (generated first when the base has none), then apply each differential element in
order. An element is matched by `id` (FHIR R4 §2.13.0.9 element ids, `Path:sliceName.child`); a new slice is
inserted as a copy of its sliced element after that element's existing descendants; a differential element that
dives into a datatype (`Patient.identifier:cpr.system`) first unrolls the children of the parent's type. Values
in the differential replace those of the base, except `constraint` and `condition`, which accumulate.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from mappings.issues import IssueError

Resource = dict[str, Any]
#: Looks up a StructureDefinition by canonical URL; `None` when unknown.
Resolver = Callable[[str], Resource | None]

_ACCUMULATED = ("constraint", "condition")
_NOT_INHERITED = ("sliceName", "slicing")


def element_id(element: Resource) -> str:
    """The element's id, or one derived from path and slice name when the differential left it out."""
    identifier = element.get("id")
    if isinstance(identifier, str):
        return identifier
    path = str(element["path"])
    return f"{path}:{element['sliceName']}" if element.get("sliceName") else path


def _merge(target: Resource, diff: Resource, conflicts: list[str] | None = None) -> None:
    for key, value in diff.items():
        if key in ("id", "path"):
            continue
        if conflicts is not None and key.startswith("fixed") and key in target and target[key] != value:
            # a constraint narrows its base; it cannot fix a value the base fixes to another one
            conflicts.append(f"{element_id(target)}: fixed to {value!r}, but its base fixes it to {target[key]!r}")
        if key in _ACCUMULATED:
            existing = target.setdefault(key, [])
            known = {item.get("key") if isinstance(item, dict) else item for item in existing}
            existing.extend(
                item for item in value if (item.get("key") if isinstance(item, dict) else item) not in known
            )
        elif key.startswith(("fixed", "pattern")):
            for old in [k for k in target if k.startswith(("fixed", "pattern"))]:
                del target[old]
            target[key] = copy.deepcopy(value)
        else:
            target[key] = copy.deepcopy(value)


def _type_children(parent: Resource, parent_id: str, resolve: Resolver, profile_url: str) -> list[Resource]:
    """The children of `parent`'s (single) type, re-rooted under `parent_id`."""
    types = parent.get("type") or []
    if len(types) != 1:
        raise IssueError.single(
            "processing",
            f"{profile_url}: cannot unroll {parent_id}, which has {len(types)} types",
            message_id="validation.snapshot-failed",
        )
    type_ref = types[0]
    url = (type_ref.get("profile") or [None])[0] or f"http://hl7.org/fhir/StructureDefinition/{type_ref['code']}"
    type_sd = resolve(url)
    if type_sd is None:
        raise IssueError.single(
            "not-found", f"{profile_url}: type {url} of {parent_id} is unknown", message_id="validation.snapshot-failed"
        )
    elements = ensure_snapshot(type_sd, resolve)["snapshot"]["element"]
    root_path = elements[0]["path"]
    parent_path = str(parent["path"])
    children: list[Resource] = []
    for element in elements[1:]:
        child = copy.deepcopy(element)
        child["path"] = parent_path + element["path"][len(root_path) :]
        child["id"] = parent_id + element_id(element)[len(root_path) :]
        children.append(child)
    return children


def _end_of_subtree(elements: list[Resource], index: int) -> int:
    """Index just after the element at `index` and all its descendants and slices."""
    own = element_id(elements[index])
    end = index + 1
    while end < len(elements):
        other = element_id(elements[end])
        if not (other.startswith(own + ".") or other.startswith(own + ":")):
            break
        end += 1
    return end


def _parent_id(identifier: str) -> str:
    return identifier.rsplit(".", 1)[0]


def generate_snapshot(profile: Resource, resolve: Resolver, conflicts: list[str] | None = None) -> Resource:
    """A copy of `profile` with `snapshot.element` generated from its base and differential."""
    url = str(profile.get("url"))
    base_url = profile.get("baseDefinition")
    base = resolve(str(base_url)) if base_url else None
    if base is None:
        raise IssueError.single(
            "not-found", f"{url}: base definition {base_url} is unknown", message_id="validation.snapshot-failed"
        )
    elements = copy.deepcopy(ensure_snapshot(base, resolve)["snapshot"]["element"])
    positions = {element_id(element): i for i, element in enumerate(elements)}

    def reindex() -> None:
        positions.clear()
        positions.update({element_id(element): i for i, element in enumerate(elements)})

    for diff in _with_ids(profile.get("differential", {}).get("element", [])):
        identifier = element_id(diff)
        renamed = _renamed_choice(identifier, elements, positions)
        if renamed is not None:
            identifier, type_code = renamed
            if type_code is not None and "type" not in diff:
                diff = {**diff, "type": [{"code": type_code}]}
        if identifier not in positions:
            head, _, tail = identifier.rpartition(".")
            if ":" in tail:
                sliced_id = f"{head}.{tail.split(':')[0]}" if head else tail.split(":")[0]
                if sliced_id not in positions:
                    _unroll(elements, _parent_id(sliced_id), resolve, url, positions, reindex)
                if sliced_id not in positions:
                    raise IssueError.single(
                        "processing",
                        f"{url}: sliced element {sliced_id} not found",
                        message_id="validation.snapshot-failed",
                    )
                index = positions[sliced_id]
                new = {k: copy.deepcopy(v) for k, v in elements[index].items() if k not in _NOT_INHERITED}
                new["id"] = identifier
                new["sliceName"] = tail.split(":", 1)[1]
                subtree = [new]
                for element in elements[index + 1 :]:
                    other = element_id(element)
                    if not other.startswith(sliced_id + "."):
                        break
                    child = copy.deepcopy(element)
                    child["id"] = identifier + other[len(sliced_id) :]
                    subtree.append(child)
                end = _end_of_subtree(elements, index)
                elements[end:end] = subtree
                reindex()
            else:
                _unroll(elements, _parent_id(identifier), resolve, url, positions, reindex)
            if identifier not in positions:
                raise IssueError.single(
                    "processing",
                    f"{url}: element {identifier} not found in base",
                    message_id="validation.snapshot-failed",
                )
        _merge(elements[positions[identifier]], diff, conflicts)
    result = dict(profile)
    result["snapshot"] = {"element": elements}
    return result


def _with_ids(elements: list[Resource]) -> list[Resource]:
    """The differential with an `id` on every element. Without ids, an element belongs to the slice last opened
    on its path or an ancestor's (FHIR R4 profiling: slices are followed by their own elements), so
    `Bundle.entry.resource` after `Bundle.entry` sliceName `Patient` is `Bundle.entry:Patient.resource`."""
    if all(_consistent_id(element) for element in elements):
        return elements
    open_slices: dict[str, str] = {}  # path → the slice name open on it
    out = []
    for element in elements:
        path = str(element.get("path", ""))
        for opened in [o for o in open_slices if not (path == o or path.startswith(o + "."))]:
            del open_slices[opened]  # left the sliced element's subtree: its slice context ends
        slice_name = element.get("sliceName")
        if path in open_slices and not slice_name:
            del open_slices[path]  # the sliced element itself again
        if _consistent_id(element):
            out.append(element)
        else:
            segments = path.split(".")
            parts = []
            for size in range(1, len(segments) + 1):
                prefix = ".".join(segments[:size])
                part = segments[size - 1]
                if prefix in open_slices and size < len(segments):
                    part += ":" + open_slices[prefix]
                parts.append(part)
            identifier = ".".join(parts) + (f":{slice_name}" if slice_name else "")
            out.append({**element, "id": identifier})
        if slice_name:
            for opened in [o for o in open_slices if o.startswith(path + ".")]:
                del open_slices[opened]
            open_slices[path] = str(slice_name)
    return out


def _consistent_id(element: Resource) -> bool:
    """Whether the element has an id that names its path (an id that does not, such as `X.effective[x]:dar` on
    the path `X.effective[x].extension`, is ignored: the path decides, as in FHIR R4 §2.13.0.9)."""
    identifier = element.get("id")
    if not isinstance(identifier, str):
        return False
    return ".".join(part.split(":")[0] for part in identifier.split(".")) == element.get("path")


def _renamed_choice(
    identifier: str, elements: list[Resource], positions: dict[str, int]
) -> tuple[str, str | None] | None:
    """(the id with `[x]`, the type when the id ends at the choice) for an id that names a choice element by one
    of its types: FHIR R4 lets a profile that constrains `value[x]` to one type call it `valueQuantity`
    (http://hl7.org/fhir/R4/profiling.html, "choice types"), and `Observation.valueQuantity.value` is then
    `Observation.value[x].value`. None when the id is no such name."""
    if identifier in positions:
        return None
    segments = identifier.split(".")
    prefix, renamed_type, renamed_last = segments[0], None, False
    for position, segment in enumerate(segments[1:], start=1):
        candidate = f"{prefix}.{segment}"
        if candidate not in positions:
            for size in range(len(segment) - 1, 0, -1):
                choice, suffix = f"{prefix}.{segment[:size]}[x]", segment[size:]
                if choice not in positions or not suffix[:1].isupper():
                    continue
                codes = [str(t.get("code", "")) for t in elements[positions[choice]].get("type") or []]
                code = next((c for c in codes if c[:1].upper() + c[1:] == suffix), None)
                if code is not None:
                    candidate, renamed_type, renamed_last = choice, code, position == len(segments) - 1
                    break
        prefix = candidate
    if renamed_type is None:
        return None
    return prefix, renamed_type if renamed_last else None


def _unroll(
    elements: list[Resource],
    parent_id: str,
    resolve: Resolver,
    url: str,
    positions: dict[str, int],
    reindex: Callable[[], None],
) -> None:
    if parent_id not in positions:
        if "." not in parent_id:
            return
        _unroll(elements, _parent_id(parent_id), resolve, url, positions, reindex)
        if parent_id not in positions:
            return
    index = positions[parent_id]
    if index + 1 < len(elements) and element_id(elements[index + 1]).startswith(parent_id + "."):
        return  # already unrolled
    elements[index + 1 : index + 1] = _type_children(elements[index], parent_id, resolve, url)
    reindex()


def ensure_snapshot(profile: Resource, resolve: Resolver) -> Resource:
    """`profile` itself when it has a snapshot, else a generated one (cached on the dict under `snapshot`)."""
    if profile.get("snapshot", {}).get("element"):
        return profile
    generated = generate_snapshot(profile, resolve)
    profile["snapshot"] = generated["snapshot"]
    return profile

"""FHIRPath values and navigation for the compiler in `gateway.validation.fhirpath`: the evaluation environment,
typed nodes, member navigation through the R4 model (choice elements by `choiceTypePaths`), and the operand and
argument conventions of fhirpathpy the closures mirror."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fhirpathpy.models import models

Resource = dict[str, Any]


class Unsupported(Exception):
    """The expression (or this instance) is outside what the compiler models; use fhirpathpy."""


class Env:
    """The environment variables of one evaluation (`%resource`, `%rootResource`), and the results of its
    focus-free subexpressions (computed once per evaluation, see `_once`)."""

    __slots__ = ("resource", "root", "cache")

    def __init__(self, resource: Resource, root: Resource) -> None:
        self.resource = resource
        self.root = root
        self.cache: dict[Any, Collection] | None = None


class Node:
    """A navigated value and its model path, as fhirpathpy's `ResourceNode` (resources take their own type: see
    `node_of`, which callers use unless they have applied that rule already)."""

    __slots__ = ("data", "path")

    def __init__(self, data: Any, path: str | None) -> None:
        self.data = data
        self.path = path


def node_of(data: Any, path: str | None) -> Node:
    if isinstance(data, dict) and "resourceType" in data:
        path = data["resourceType"]
    return Node(data, path)


Collection = list[Any]


Fn = Callable[[Collection, Env], Collection]


_MODEL: dict[str, Any] = models["r4"]


_ELSEWHERE: dict[str, str] = _MODEL["pathsDefinedElsewhere"]


_CHOICES: dict[str, list[str]] = _MODEL["choiceTypePaths"]


_PATH2TYPE: dict[str, str] = _MODEL["path2Type"]


_PARENTS: dict[str, str] = _MODEL["type2Parent"]


#: Resource types no other type derives from: `ofType(T)` / `is(T)` is then a plain name comparison.
_LEAF_RESOURCES = frozenset(
    name
    for name, parent in _PARENTS.items()
    if parent in ("DomainResource", "Resource") and name not in set(_PARENTS.values())
)


def data_of(item: Any) -> Any:
    return item.data if isinstance(item, Node) else item


def is_some(value: Any) -> bool:
    return value is not None and value != []


def model_path(element_path: str, types: tuple[str, ...] = ()) -> str | None:
    """The path FHIRPath navigation gives the value of an element (`Observation.code` → `CodeableConcept`,
    `Parameters.parameter` stays itself): what a constraint on that element sees as its focus' type. A choice
    element's value has the type of its one type, else none known (None)."""
    if element_path.endswith("[x]"):
        return types[0] if len(types) == 1 else None
    path = _ELSEWHERE.get(element_path, element_path)
    return _PATH2TYPE.get(path, path)


#: Each choice element's type suffixes by position in the R4 model's `choiceTypePaths` (made on first need).
_SUFFIX_ORDER: dict[str, dict[str, int]] = {}


def _choice_suffix(data: Resource, key: str, path: str, suffixes: list[str]) -> str | None:
    """The first of `suffixes` (model order) for which `data` has `key<Suffix>` or `_key<Suffix>` not null: what
    trying each suffix in turn finds, looking only at the keys `data` has (a choice element has ~50 types)."""
    order = _SUFFIX_ORDER.get(path)
    if order is None:
        order = {}
        for index, suffix in enumerate(suffixes):
            order.setdefault(suffix, index)
        _SUFFIX_ORDER[path] = order
    size = len(key)
    best: str | None = None
    best_index = len(suffixes)
    for name in data:
        if name.startswith(key):
            suffix = name[size:]
        elif name.startswith("_") and name.startswith(key, 1):
            suffix = name[size + 1 :]
        else:
            continue
        position = order.get(suffix)
        if position is None or position >= best_index:
            continue
        if data.get(key + suffix) is not None or data.get(f"_{key}{suffix}") is not None:
            best, best_index = suffix, position
    return best


def typed_values(data: Any, path: str, wanted: frozenset[str]) -> list[Any]:
    """The values below `data` (a resource or element at model path `path`) whose FHIR type is in `wanted`
    (`canonical`, `uri`), found as FHIRPath's `descendants().ofType(T)` finds them: by the R4 model's paths,
    choice elements by their suffix. Contained resources are descended into, each at its own type."""
    found: list[Any] = []
    stack: list[tuple[Any, str]] = [(data, path)]
    while stack:
        value, at = stack.pop()
        if isinstance(value, list):
            stack.extend((item, at) for item in value)
            continue
        if not isinstance(value, dict):
            continue
        if "resourceType" in value and isinstance(value["resourceType"], str):
            at = value["resourceType"]
        for key, child in value.items():
            if key.startswith("_") or key == "resourceType":
                continue
            stack.append((child, _child_type(at, key, child)))
            if isinstance(child, str | list) and stack[-1][1] in wanted:
                found.extend(child if isinstance(child, list) else [child])
    return found


def _child_type(path: str, key: str, value: Any) -> str:
    """The model type (or path, for a backbone element) of `path.key`, a choice element's by its suffix."""
    child = _ELSEWHERE.get(f"{path}.{key}", f"{path}.{key}")
    if child in _PATH2TYPE:
        return _PATH2TYPE[child]
    for size in range(len(key) - 1, 0, -1):
        stem = f"{path}.{key[:size]}"
        suffixes = _CHOICES.get(_ELSEWHERE.get(stem, stem))
        if suffixes and key[size:] in suffixes:
            suffix = key[size:]
            # FHIRPath types primitives in lower camel case (`valueCanonical` is a `canonical`)
            return suffix[:1].lower() + suffix[1:] if not isinstance(value, dict) else suffix
    return child


#: No path seen yet (`Step.children`): unlike None, equal to no path.
_NO_PATH: Any = object()


class Step:
    """One member name of a navigation, with its child paths per parent path (from the R4 model, made once)."""

    __slots__ = ("key", "underscored", "paths")

    def __init__(self, key: str) -> None:
        self.key = key
        self.underscored = "_" + key
        #: per parent path: (choice suffixes or None, mapped child path for the non-choice case, unmapped child path)
        self.paths: dict[str | None, tuple[list[str] | None, str, str]] = {}

    def info(self, path: str | None) -> tuple[list[str] | None, str, str]:
        key = self.key
        child = f"{path}.{key}" if path else f"_.{key}"
        child = _ELSEWHERE.get(child, child)
        actual = _CHOICES.get(child)
        plain = "Extension" if key == "extension" and not actual else child
        info = self.paths[path] = (actual, _PATH2TYPE.get(plain, plain), child)
        return info

    def children(self, datas: list[Any], paths: list[str | None]) -> tuple[list[Any], list[str | None]]:
        """The values (and their paths) this member selects from each of `datas`, in order."""
        key = self.key
        underscored = self.underscored
        known = self.paths
        out_datas: list[Any] = []
        out_paths: list[str | None] = []
        # Navigations run over many siblings of one path (every `Bundle.entry`): its model lookup is kept.
        last_path: Any = _NO_PATH
        actual: list[str] | None = None
        child = unmapped = ""
        for data, path in zip(datas, paths, strict=True):
            if type(data) is not dict and not isinstance(data, dict):
                if key == "length":
                    raise Unsupported("length of a primitive")
                continue
            if path != last_path:
                info = known.get(path)
                actual, child, unmapped = info if info is not None else self.info(path)
                last_path = path
            if actual:
                suffix = _choice_suffix(data, key, unmapped, actual)
                if suffix is None:
                    continue
                found = data.get(key + suffix)
                if data.get(f"_{key}{suffix}") is not None:
                    raise Unsupported("primitive extensions")
                mapped = unmapped + suffix
                found_path = _PATH2TYPE.get(mapped, mapped)
            else:
                found = data.get(key)
                if underscored in data and data[underscored] is not None:
                    raise Unsupported("primitive extensions")
                found_path = child
            if found is None:
                continue
            if type(found) is list or isinstance(found, list):
                for value in found:
                    out_datas.append(value)
                    out_paths.append(
                        value["resourceType"] if isinstance(value, dict) and "resourceType" in value else found_path
                    )
            elif found == []:
                continue
            else:
                out_datas.append(found)
                out_paths.append(
                    found["resourceType"] if isinstance(found, dict) and "resourceType" in found else found_path
                )
        return out_datas, out_paths


def _unwrapped(focus: Collection) -> tuple[list[Any], list[str | None]]:
    datas: list[Any] = []
    paths: list[str | None] = []
    for item in focus:
        if type(item) is Node:
            datas.append(item.data)
            paths.append(item.path)
        else:
            datas.append(item)
            paths.append(item["resourceType"] if isinstance(item, dict) and "resourceType" in item else None)
    return datas, paths


def capitalised_member(key: str) -> bool:
    return key[0] == key[0].upper()


def member(key: str) -> Fn:
    capitalised = capitalised_member(key)
    step = Step(key)

    def run(focus: Collection, _env: Env) -> Collection:
        if capitalised:
            filtered: Collection | None = []
            for item in focus:
                if isinstance(item, dict):
                    if "resourceType" not in item:
                        raise Unsupported("type filter on an element without resourceType")
                    if item["resourceType"] == key:
                        filtered.append(Node(item, key))  # type: ignore[union-attr]
                else:
                    filtered = None  # fhirpathpy's TypeError: falls back to member navigation
                    break
            if filtered is not None:
                return filtered
        out: Collection = []
        for item in focus:
            found, child = _lookup(step, item)
            if found is None or found == []:
                continue
            # `node_of`, inlined (the hottest step of every evaluation)
            if isinstance(found, list):
                for value in found:
                    out.append(
                        Node(
                            value,
                            value["resourceType"] if isinstance(value, dict) and "resourceType" in value else child,
                        )
                    )
            elif isinstance(found, dict) and "resourceType" in found:
                out.append(Node(found, found["resourceType"]))
            else:
                out.append(Node(found, child))
        return out

    return run


def _lookup(step: Step, item: Any) -> tuple[Any, str | None]:
    """`item.<key>` as (value or None, its type path): the one navigation step `member` and `member_probe` share."""
    key = step.key
    if type(item) is Node:
        data = item.data
        path = item.path
    else:
        data = item
        path = item["resourceType"] if isinstance(item, dict) and "resourceType" in item else None
    if not isinstance(data, dict):
        if key == "length":
            raise Unsupported("length of a primitive")
        return None, None
    info = step.paths.get(path)
    actual, child, unmapped = info if info is not None else step.info(path)
    if actual:
        suffix = _choice_suffix(data, key, unmapped, actual)
        if suffix is None:
            return None, child
        if data.get(f"_{key}{suffix}") is not None:
            raise Unsupported("primitive extensions")
        mapped = unmapped + suffix
        return data.get(key + suffix), _PATH2TYPE.get(mapped, mapped)
    underscored = step.underscored
    if underscored in data and data[underscored] is not None:
        raise Unsupported("primitive extensions")
    return data.get(key), child


def member_probe(step: Step, focus: Collection) -> tuple[int, Any, str | None]:
    """How many values `focus.<key>` has, and the first one's data and path: what `member`'s run would return,
    raising as it does, without making the nodes (for `key = 'text'`, `key.exists()`, `key.empty()`)."""
    count = 0
    first: Any = None
    first_path: str | None = None
    for item in focus:
        found, child = _lookup(step, item)
        if found is None or found == []:
            continue
        if isinstance(found, list):
            if not count:
                first = found[0]
                first_path = first["resourceType"] if isinstance(first, dict) and "resourceType" in first else child
            count += len(found)
        else:
            if not count:
                first = found
                first_path = found["resourceType"] if isinstance(found, dict) and "resourceType" in found else child
            count += 1
    return count, first, first_path


def navigate(head: Fn, keys: list[str], of_type: str | None) -> Fn:
    """`head.k1.k2...` (then `.ofType(T)`) in one step: the intermediate collections are plain lists, and only the
    result is wrapped in `Node`s. Same values and paths as member by member (`member`, `_build_of_type`)."""
    steps = [Step(key) for key in keys]

    def run(focus: Collection, env: Env) -> Collection:
        datas, paths = _unwrapped(head(focus, env))
        for step in steps:
            datas, paths = step.children(datas, paths)
        if of_type is None:
            return [Node(data, path) for data, path in zip(datas, paths, strict=True)]
        out: Collection = []
        for data, path in zip(datas, paths, strict=True):
            if path is None or path.startswith("System."):
                raise Unsupported("type test on an untyped node")
            if path == of_type:
                out.append(Node(data, path))
        return out

    return run


def boolean_operand(result: Collection) -> bool | None:
    """fhirpathpy's `["Boolean"]` operand: empty → None, a boolean singleton, anything else raises."""
    if not result:
        return None
    if len(result) > 1:
        raise Unsupported("collection where a boolean is expected")
    value = result[0]
    if type(value) is Node:
        value = value.data
    if value is True or value is False:
        return value
    raise Unsupported("non-boolean operand")


def string_operand(result: Collection) -> str | None:
    if not result:
        return None
    if len(result) > 1:
        raise Unsupported("collection where a string is expected")
    value = data_of(result[0])
    if not isinstance(value, str):
        raise Unsupported("non-string operand")
    return value


def is_true(result: Collection) -> bool:
    return len(result) == 1 and bool(data_of(result[0]) == True)  # noqa: E712 - fhirpathpy compares with ==


def matches_type(item: Any, name: str) -> bool:
    if isinstance(item, Node):
        if item.path is None or item.path.startswith("System."):
            raise Unsupported("type test on an untyped node")
        return item.path == name
    return False  # fhirpathpy types raw values (e.g. from resolve()) as System.<python type>


def string_singleton(focus: Collection) -> str:
    if len(focus) == 1:
        value = data_of(focus[0])
        if isinstance(value, str):
            return value
    raise Unsupported("string function on a non-string")


def literal_string(node: dict[str, Any]) -> str:
    text = str(node.get("text", ""))
    if "\\" in text or len(text) < 2 or text[0] != "'" or text[-1] != "'":
        raise Unsupported(f"string literal {text}")
    return text[1:-1]


def string_argument(node: dict[str, Any]) -> str:
    """A function argument that must be a plain string literal."""
    if node.get("type") == "TermExpression":
        term = node["children"][0]
        if term.get("type") == "LiteralTerm" and term["children"][0].get("type") == "StringLiteral":
            return literal_string(term["children"][0])
    raise Unsupported("non-literal string argument")


def type_argument(node: dict[str, Any]) -> str:
    name = str(node.get("text", ""))
    if node.get("type") != "TermExpression" or name not in _LEAF_RESOURCES:
        raise Unsupported(f"type specifier {name}")
    return name

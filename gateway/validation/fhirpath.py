"""A small FHIRPath-to-Python compiler for the invariant subset the shipped profiles use.

fhirpathpy interprets its parse tree on every evaluation (~100 µs each); invariants such as `bdl-3` or MedCom's
Bundle rules run on every message. `compile_fhirpath` turns fhirpathpy's own parse tree into closures over plain
dicts once, at plan-compile time. The closures mirror fhirpathpy 2.2's observable behaviour, not just the
FHIRPath N1 specification (http://hl7.org/fhirpath/N1/), so the validator's verdicts do not change: equality
compares the first items of equally long collections, `where` keeps an item whose criterion's first result is
truthy, choice elements resolve through the R4 model's `choiceTypePaths`, values from `resolve()` are raw
resources (so `ofType` does not match them), operands of `and`/`or`/`implies` must be booleans.

An expression outside the subset raises `Unsupported` at compile time; data the closures do not model (a
primitive's `_element` extensions, Quantity comparison, an operand that would make fhirpathpy raise) raises
`Unsupported` at evaluation time. Either way the caller evaluates that expression (or instance) with fhirpathpy.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fhirpathpy.models import models
from fhirpathpy.parser import parse

from gateway.validation.hooks import HOOKS

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
    `_node`, which callers use unless they have applied that rule already)."""

    __slots__ = ("data", "path")

    def __init__(self, data: Any, path: str | None) -> None:
        self.data = data
        self.path = path


def _node(data: Any, path: str | None) -> Node:
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


def _data(item: Any) -> Any:
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


# -- navigation ------------------------------------------------------------------------------------------------------
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


class _Step:
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
        for data, path in zip(datas, paths, strict=True):
            if not isinstance(data, dict):
                if key == "length":
                    raise Unsupported("length of a primitive")
                continue
            info = known.get(path)
            actual, child, unmapped = info if info is not None else self.info(path)
            found: Any = None
            if actual:
                suffix = _choice_suffix(data, key, unmapped, actual)
                if suffix is not None:
                    found = data.get(key + suffix)
                    if data.get(f"_{key}{suffix}") is not None:
                        raise Unsupported("primitive extensions")
                    mapped = unmapped + suffix
                    child = _PATH2TYPE.get(mapped, mapped)
            else:
                found = data.get(key)
                if underscored in data and data[underscored] is not None:
                    raise Unsupported("primitive extensions")
            if found is None or found == []:
                continue
            if isinstance(found, list):
                for value in found:
                    out_datas.append(value)
                    out_paths.append(
                        value["resourceType"] if isinstance(value, dict) and "resourceType" in value else child
                    )
            else:
                out_datas.append(found)
                out_paths.append(
                    found["resourceType"] if isinstance(found, dict) and "resourceType" in found else child
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


def _capitalised_member(key: str) -> bool:
    return key[0] == key[0].upper()


def _member(key: str) -> Fn:
    capitalised = _capitalised_member(key)
    step = _Step(key)

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
            # `_node`, inlined (the hottest step of every evaluation)
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


def _lookup(step: _Step, item: Any) -> tuple[Any, str | None]:
    """`item.<key>` as (value or None, its type path): the one navigation step `_member` and `_member_probe` share."""
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


def _member_probe(step: _Step, focus: Collection) -> tuple[int, Any, str | None]:
    """How many values `focus.<key>` has, and the first one's data and path: what `_member`'s run would return,
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


def _term_member(node: dict[str, Any]) -> str | None:
    """The name of a term that is a bare navigating member (`system` in `system = 'x'`), else None."""
    if node.get("type") != "TermExpression":
        return None
    term = node["children"][0]
    if term.get("type") != "InvocationTerm":
        return None
    return _plain_member(term["children"][0])


def _existence(node: dict[str, Any]) -> str | None:
    """`exists` or `empty` for a parameterless `exists()` / `empty()` invocation, else None."""
    if node.get("type") != "FunctionInvocation":
        return None
    functn = node["children"][0]
    name = str(functn["children"][0]["text"])
    if name not in ("exists", "empty") or len(functn["children"]) > 1:
        return None
    return name


def _member_existence(key: str, function: str) -> Fn:
    """`key.exists()` / `key.empty()`, the same as member navigation then the function."""
    step = _Step(key)
    empty = function == "empty"

    def run(focus: Collection, _env: Env) -> Collection:
        return [(_member_probe(step, focus)[0] == 0) == empty]

    return run


def _member_alternatives(node: dict[str, Any]) -> tuple[str, tuple[str, ...]] | None:
    """(`key`, the texts) for `key = 'a' or key = 'b' or ...` (one member, string literals), else None."""
    kind = node.get("type")
    if kind == "OrExpression" and node["terminalNodeText"] == ["or"]:
        parts = [_member_alternatives(child) for child in node["children"][:2]]
        if parts[0] is None or parts[1] is None or parts[0][0] != parts[1][0]:
            return None
        return parts[0][0], parts[0][1] + parts[1][1]
    if kind != "EqualityExpression" or node["terminalNodeText"] != ["="]:
        return None
    key = _term_member(node["children"][0])
    if key is None:
        return None
    try:
        return key, (_string_argument(node["children"][1]),)
    except Unsupported:
        return None


def _member_in(key: str, texts: tuple[str, ...], negate: bool = False) -> Fn:
    """`key = 'a' or key = 'b' or ...`: what `_logic` over `_member_equals` gives (every operand has the same
    count of values, so all are empty, all false, or one is true), with one navigation; `negate` for `!=`."""
    step = _Step(key)

    def run(focus: Collection, _env: Env) -> Collection:
        count, first, path = _member_probe(step, focus)
        if not count:
            return []
        if count != 1:
            return [negate]
        if path == "Quantity":
            raise Unsupported("Quantity comparison")
        return [any(first == text for text in texts) != negate]

    return run


def _member_equals(key: str, text: str, negate: bool) -> Fn:
    """`key = 'text'` / `key != 'text'`, the same as `_equality` over member navigation and a string literal."""
    return _member_in(key, (text,), negate)


def _navigate(head: Fn, keys: list[str], of_type: str | None) -> Fn:
    """`head.k1.k2...` (then `.ofType(T)`) in one step: the intermediate collections are plain lists, and only the
    result is wrapped in `Node`s. Same values and paths as member by member (`_member`, `_build_of_type`)."""
    steps = [_Step(key) for key in keys]

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


# -- helpers for fhirpathpy's parameter conventions ------------------------------------------------------------------
def _boolean_operand(result: Collection) -> bool | None:
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


def _string_operand(result: Collection) -> str | None:
    if not result:
        return None
    if len(result) > 1:
        raise Unsupported("collection where a string is expected")
    value = _data(result[0])
    if not isinstance(value, str):
        raise Unsupported("non-string operand")
    return value


def _is_true(result: Collection) -> bool:
    return len(result) == 1 and bool(_data(result[0]) == True)  # noqa: E712 - fhirpathpy compares with ==


def _matches_type(item: Any, name: str) -> bool:
    if isinstance(item, Node):
        if item.path is None or item.path.startswith("System."):
            raise Unsupported("type test on an untyped node")
        return item.path == name
    return False  # fhirpathpy types raw values (e.g. from resolve()) as System.<python type>


def _string_singleton(focus: Collection) -> str:
    if len(focus) == 1:
        value = _data(focus[0])
        if isinstance(value, str):
            return value
    raise Unsupported("string function on a non-string")


# -- the compiler ----------------------------------------------------------------------------------------------------
def _literal_string(node: dict[str, Any]) -> str:
    text = str(node.get("text", ""))
    if "\\" in text or len(text) < 2 or text[0] != "'" or text[-1] != "'":
        raise Unsupported(f"string literal {text}")
    return text[1:-1]


def _string_argument(node: dict[str, Any]) -> str:
    """A function argument that must be a plain string literal."""
    if node.get("type") == "TermExpression":
        term = node["children"][0]
        if term.get("type") == "LiteralTerm" and term["children"][0].get("type") == "StringLiteral":
            return _literal_string(term["children"][0])
    raise Unsupported("non-literal string argument")


def _type_argument(node: dict[str, Any]) -> str:
    name = str(node.get("text", ""))
    if node.get("type") != "TermExpression" or name not in _LEAF_RESOURCES:
        raise Unsupported(f"type specifier {name}")
    return name


def _focus_free(node: dict[str, Any]) -> bool:
    """Whether `node`'s value does not depend on the focus (only on literals, `%resource`, `%rootResource`)."""
    kind = node.get("type")
    children: list[dict[str, Any]] = node.get("children", [])
    if kind in ("LiteralTerm", "ExternalConstantTerm"):
        return True
    if kind in ("TermExpression", "ParenthesizedTerm", "InvocationExpression", "IndexerExpression"):
        return _focus_free(children[0])
    if kind in _OPERATORS:
        return all(_focus_free(child) for child in children)
    return False


def _mentions_constant(node: dict[str, Any]) -> bool:
    if node.get("type") == "ExternalConstantTerm":
        return True
    return any(_mentions_constant(child) for child in node.get("children", []))


def _once(fn: Fn, key: str | None = None) -> Fn:
    """`fn` evaluated once per evaluation: a focus-free part of a criterion (`%resource.type = 'batch'` in
    `entry.all(...)`) has the same value for every item. The cached collection is never mutated by its readers."""

    def run(focus: Collection, env: Env) -> Collection:
        cache = env.cache
        if cache is None:
            cache = env.cache = {}
        found = cache.get(slot)
        if found is None:
            found = cache[slot] = fn(focus, env)
        return found

    # `key` names a subexpression that occurs more than once: its occurrences share one result
    slot: Any = run if key is None else key
    return run


_OPERATORS = ("EqualityExpression", "AndExpression", "OrExpression", "ImpliesExpression", "AdditiveExpression")


def _invocations(node: dict[str, Any], counts: dict[str, int]) -> None:
    """Counts the invocation chains evaluated on the evaluation's own focus (see `_compile`'s `shared`)."""
    kind = node.get("type")
    children: list[dict[str, Any]] = node.get("children", [])
    if kind == "InvocationExpression":
        key = repr(node)
        counts[key] = counts.get(key, 0) + 1
        _invocations(children[0], counts)
    elif kind in ("TermExpression", "ParenthesizedTerm", "IndexerExpression", *_OPERATORS):
        for child in children[:1] if kind == "IndexerExpression" else children:
            _invocations(child, counts)


def _compile(node: dict[str, Any], hoist: bool = False, shared: frozenset[str] | None = None) -> Fn:
    """Closures for `node`; with `hoist`, focus-free parts that read `%resource` are computed once per evaluation
    (for criteria, which run once per item). `shared` lists the invocation chains on the evaluation's own focus
    that occur more than once (MedCom's CareCommunication rules repeat `Bundle.entry.resource.ofType(...)`):
    each is computed once per evaluation. Nodes reached with `shared` are evaluated on that focus."""
    kind = node.get("type")
    children: list[dict[str, Any]] = node.get("children", [])
    if hoist and _focus_free(node):
        return _once(_compile(node)) if _mentions_constant(node) else _compile(node)
    if shared and kind == "InvocationExpression" and repr(node) in shared:
        return _once(_invocation(node, shared), repr(node))
    if kind in ("TermExpression", "InvocationTerm", "ParenthesizedTerm"):
        return _compile(children[0], hoist, shared)
    if kind == "LiteralTerm":
        return _literal(children[0])
    if kind == "MemberInvocation":
        return _member(str(children[0]["text"]).replace("`", ""))
    if kind == "FunctionInvocation":
        return _function(children[0])
    if kind == "ExternalConstantTerm":
        name = str(children[0]["children"][0].get("text", ""))
        if name == "resource":
            return lambda _focus, env: [env.resource] if env.resource is not None else []
        if name == "rootResource":
            return lambda _focus, env: [env.root] if env.root is not None else []
        raise Unsupported(f"%{name}")
    if kind == "InvocationExpression":
        key = _term_member(children[0])
        existence = _existence(children[1])
        if key is not None and existence is not None:
            return _member_existence(key, existence)
        return _invocation(node, shared)
    if kind == "IndexerExpression":
        return _indexer(children, shared)
    if kind == "OrExpression":
        alternatives = _member_alternatives(node)
        if alternatives is not None:
            return _member_in(*alternatives)
    # operands are evaluated on the operator's own focus, so chains shared on that focus stay shared
    operands = [_compile(child, hoist, shared) for child in children[:2]]
    if kind == "EqualityExpression":
        key = _term_member(children[0])
        if key is not None and str(node["terminalNodeText"][0]) in ("=", "!="):
            try:
                text = _string_argument(children[1])
            except Unsupported:
                pass
            else:
                return _member_equals(key, text, str(node["terminalNodeText"][0]) == "!=")
        return _equality(str(node["terminalNodeText"][0]), *operands)
    if kind in ("AndExpression", "OrExpression", "ImpliesExpression"):
        return _logic(str(node["terminalNodeText"][0]), *operands)
    if kind == "AdditiveExpression" and node["terminalNodeText"] == ["&"]:
        return _concatenate(*operands)
    raise Unsupported(f"{kind} {node.get('terminalNodeText')}")


def _plain_member(node: dict[str, Any]) -> str | None:
    """The name of a member invocation that navigates (not a capitalised type filter such as `Bundle`)."""
    if node.get("type") != "MemberInvocation":
        return None
    key = str(node["children"][0]["text"]).replace("`", "")
    return None if _capitalised_member(key) else key


def _of_type(node: dict[str, Any]) -> str | None:
    """T of an `ofType(T)` invocation that `_build_of_type` would accept, else None."""
    if node.get("type") != "FunctionInvocation":
        return None
    functn = node["children"][0]
    params: list[dict[str, Any]] = functn["children"][1]["children"] if len(functn["children"]) > 1 else []
    if str(functn["children"][0]["text"]) != "ofType" or len(params) != 1:
        return None
    try:
        return _type_argument(params[0])
    except Unsupported:
        return None


def _invocation(node: dict[str, Any], shared: frozenset[str] | None) -> Fn:
    """`left.right`, evaluated on the focus; a run of member names (`entry.resource`, optionally followed by
    `.ofType(T)`) is navigated in one step (`_navigate`), up to a prefix that is shared (computed once)."""
    children: list[dict[str, Any]] = node["children"]
    of_type = _of_type(children[1])
    current = children[0] if of_type is not None else node
    keys: list[str] = []
    while current.get("type") == "InvocationExpression" and (
        current is node or not (shared and repr(current) in shared)
    ):
        key = _plain_member(current["children"][1])
        if key is None:
            break
        keys.append(key)
        current = current["children"][0]
    if not keys or of_type is None:
        # without a type filter that drops most of it, a fused walk saves nothing over member-by-member navigation
        left, right = _compile(children[0], shared=shared), _compile(children[1])
        return lambda focus, env: right(left(focus, env), env)
    first = _term_member(current)
    if first is not None and not (shared and repr(current) in shared):
        # the chain starts at the focus (`entry.resource.ofType(T)`): navigate from there, no nodes in between
        keys.append(first)
        keys.reverse()
        return _navigate(_focus, keys, of_type)
    keys.reverse()
    return _navigate(_compile(current, shared=shared), keys, of_type)


def _focus(focus: Collection, _env: Env) -> Collection:
    return focus


def _literal(node: dict[str, Any]) -> Fn:
    kind = node.get("type")
    if kind == "StringLiteral":
        text = _literal_string(node)
        return lambda _focus, _env: [text]
    if kind == "BooleanLiteral":
        flag = node.get("text") == "true"
        return lambda _focus, _env: [flag]
    if kind == "NumberLiteral" and str(node.get("text", "")).isdigit():
        number = int(str(node["text"]))
        return lambda _focus, _env: [number]
    raise Unsupported(f"literal {kind}")


def _indexer(children: list[dict[str, Any]], shared: frozenset[str] | None = None) -> Fn:
    collection = _compile(children[0], shared=shared)
    index_node = children[1]
    literal = index_node["children"][0] if index_node.get("type") == "TermExpression" else {}
    inner = literal.get("children", [{}])[0] if literal.get("type") == "LiteralTerm" else {}
    if inner.get("type") != "NumberLiteral" or not str(inner.get("text", "")).isdigit():
        raise Unsupported("non-literal index")
    index = int(str(inner["text"]))

    def run(focus: Collection, env: Env) -> Collection:
        values = collection(focus, env)
        return [values[index]] if len(values) > index else []

    return run


def _equality(operator: str, left: Fn, right: Fn) -> Fn:
    if operator not in ("=", "!="):
        raise Unsupported(f"operator {operator}")
    negate = operator == "!="

    def run(focus: Collection, env: Env) -> Collection:
        a, b = left(focus, env), right(focus, env)
        if not a or not b:
            return []
        if len(a) != len(b):
            return [negate]
        first, second = a[0], b[0]
        if type(first) is Node:
            if first.path == "Quantity":
                raise Unsupported("Quantity comparison")
            first = first.data
        if type(second) is Node:
            if second.path == "Quantity":
                raise Unsupported("Quantity comparison")
            second = second.data
        return [(first == second) != negate]

    return run


def _logic(operator: str, left: Fn, right: Fn) -> Fn:
    # Both operands are always evaluated (as fhirpathpy does), so an operand it would reject is still rejected.
    if operator == "and":

        def run(focus: Collection, env: Env) -> Collection:
            a, b = _boolean_operand(left(focus, env)), _boolean_operand(right(focus, env))
            return [False] if a is False or b is False else [] if a is None or b is None else [True]

    elif operator == "or":

        def run(focus: Collection, env: Env) -> Collection:
            a, b = _boolean_operand(left(focus, env)), _boolean_operand(right(focus, env))
            return [True] if a is True or b is True else [] if a is None or b is None else [False]

    elif operator == "xor":

        def run(focus: Collection, env: Env) -> Collection:
            a, b = _boolean_operand(left(focus, env)), _boolean_operand(right(focus, env))
            return [] if a is None or b is None else [a != b]

    elif operator == "implies":

        def run(focus: Collection, env: Env) -> Collection:
            a, b = _boolean_operand(left(focus, env)), _boolean_operand(right(focus, env))
            return [True] if a is False or b is True else [] if a is None or b is None else [False]

    else:
        raise Unsupported(f"operator {operator}")
    return run


def _concatenate(left: Fn, right: Fn) -> Fn:
    def run(focus: Collection, env: Env) -> Collection:
        a, b = _string_operand(left(focus, env)), _string_operand(right(focus, env))
        return [(a or "") + (b or "")]

    return run


def _function(functn: dict[str, Any]) -> Fn:
    name = str(functn["children"][0]["text"])
    params: list[dict[str, Any]] = functn["children"][1]["children"] if len(functn["children"]) > 1 else []
    builder = _FUNCTIONS.get(name)
    if builder is None:
        raise Unsupported(f"function {name}")
    return builder(params)


def _no_params(fn: Callable[[Collection], Collection]) -> Callable[[list[dict[str, Any]]], Fn]:
    def build(params: list[dict[str, Any]]) -> Fn:
        if params:
            raise Unsupported("unexpected arguments")
        return lambda focus, _env: fn(focus)

    return build


def _not(focus: Collection) -> Collection:
    if len(focus) != 1:
        return []
    value = _data(focus[0])
    return [not value] if isinstance(value, bool) else [False]


def _has_value(focus: Collection) -> Collection:
    # our fhirpathpy extension sees unwrapped data, floats as Decimal (so not "a value")
    return [len(focus) == 1 and isinstance(_data(focus[0]), str | int | bool)]


def _is_distinct(focus: Collection) -> Collection:
    if not all(isinstance(item, str) for item in focus):
        raise Unsupported("isDistinct over non-strings")
    return [len(focus) == len(set(focus))]


def _resolve(focus: Collection) -> Collection:
    hooks = HOOKS.get()
    if hooks is None:
        return []
    out: Collection = []
    for item in focus:
        value = _data(item)
        reference = value if isinstance(value, str) else value.get("reference") if isinstance(value, dict) else None
        if isinstance(reference, str):
            found = hooks.resolve(reference)
            if found is not None:
                out.append(found)
    return out


def _one_expr(params: list[dict[str, Any]]) -> Fn:
    """A criterion (evaluated once per item of the focus)."""
    if len(params) != 1:
        raise Unsupported("wrong arity")
    return _compile(params[0], hoist=True)


def _build_exists(params: list[dict[str, Any]]) -> Fn:
    if not params:
        return lambda focus, _env: [bool(focus)]
    where = _build_where(params)
    return lambda focus, env: [bool(where(focus, env))]


def _build_where(params: list[dict[str, Any]]) -> Fn:
    criterion = _one_expr(params)

    def run(focus: Collection, env: Env) -> Collection:
        out = []
        for item in focus:
            result = criterion([item], env)
            # fhirpathpy keeps the item when the first result is truthy (a navigated node always is)
            if result and (isinstance(result[0], Node) or result[0]):
                out.append(item)
        return out

    return run


def _build_all(params: list[dict[str, Any]]) -> Fn:
    criterion = _one_expr(params)

    def run(focus: Collection, env: Env) -> Collection:
        for item in focus:
            if not _is_true(criterion([item], env)):
                return [False]
        return [True]

    return run


def _build_select(params: list[dict[str, Any]]) -> Fn:
    projection = _one_expr(params)

    def run(focus: Collection, env: Env) -> Collection:
        out: Collection = []
        for item in focus:
            out.extend(projection([item], env))
        return out

    return run


def _build_iif(params: list[dict[str, Any]]) -> Fn:
    if len(params) not in (2, 3):
        raise Unsupported("wrong arity")
    condition, then = _compile(params[0]), _compile(params[1])
    otherwise = _compile(params[2]) if len(params) == 3 else None

    def run(focus: Collection, env: Env) -> Collection:
        if _is_true(condition(focus, env)):
            return then(focus, env)
        return otherwise(focus, env) if otherwise is not None else []

    return run


def _build_of_type(params: list[dict[str, Any]]) -> Fn:
    if len(params) != 1:
        raise Unsupported("wrong arity")
    name = _type_argument(params[0])
    return lambda focus, _env: [item for item in focus if _matches_type(item, name)]


def _build_is(params: list[dict[str, Any]]) -> Fn:
    if len(params) != 1:
        raise Unsupported("wrong arity")
    name = _type_argument(params[0])

    def run(focus: Collection, _env: Env) -> Collection:
        if not focus:
            return []
        if len(focus) > 1:
            raise Unsupported("is() on a collection")
        return [_matches_type(focus[0], name)]

    return run


def _build_extension(params: list[dict[str, Any]]) -> Fn:
    if len(params) != 1:
        raise Unsupported("wrong arity")
    url = _string_argument(params[0])

    def run(focus: Collection, _env: Env) -> Collection:
        out: Collection = []
        for item in focus:
            element = _data(item)
            if not isinstance(element, dict):
                continue
            for extension in element.get("extension", []):
                if not isinstance(extension, dict) or "url" not in extension:
                    raise Unsupported("malformed extension")
                if extension["url"] == url:
                    out.append(_node(extension, "Extension"))
                    break
        return out

    return run


def _build_starts_with(params: list[dict[str, Any]]) -> Fn:
    if len(params) != 1:
        raise Unsupported("wrong arity")
    prefix = _string_argument(params[0])

    def run(focus: Collection, _env: Env) -> Collection:
        if not focus:
            return []
        text = _string_singleton(focus)
        return [bool(text) and text.startswith(prefix)]

    return run


def _build_matches(params: list[dict[str, Any]]) -> Fn:
    if len(params) != 1:
        raise Unsupported("wrong arity")
    regex = _string_argument(params[0])
    try:
        pattern = re.compile(regex, re.DOTALL)
    except re.error as error:
        raise Unsupported(f"regex {regex}") from error

    def run(focus: Collection, _env: Env) -> Collection:
        if not regex or not focus:
            return []
        return [pattern.search(_string_singleton(focus)) is not None]

    return run


def _build_conforms_to(params: list[dict[str, Any]]) -> Fn:
    if len(params) != 1:
        raise Unsupported("wrong arity")
    url = _string_argument(params[0])

    def run(focus: Collection, _env: Env) -> Collection:
        hooks = HOOKS.get()
        resources = [value for value in map(_data, focus) if isinstance(value, dict) and "resourceType" in value]
        if hooks is None or not resources:
            return []
        return [all(hooks.conforms_to(resource, url) for resource in resources)]

    return run


_FUNCTIONS: dict[str, Callable[[list[dict[str, Any]]], Fn]] = {
    "exists": _build_exists,
    "empty": _no_params(lambda focus: [not focus]),
    "count": _no_params(lambda focus: [len(focus)]),
    "not": _no_params(_not),
    "first": _no_params(lambda focus: focus[:1]),
    "hasValue": _no_params(_has_value),
    "isDistinct": _no_params(_is_distinct),
    "resolve": _no_params(_resolve),
    "where": _build_where,
    "all": _build_all,
    "select": _build_select,
    "iif": _build_iif,
    "ofType": _build_of_type,
    "is": _build_is,
    "extension": _build_extension,
    "startsWith": _build_starts_with,
    "matches": _build_matches,
    "conformsTo": _build_conforms_to,
}

#: Which functions read the running validation's hooks (and so need them installed).
HOOKED_FUNCTIONS = ("resolve(", "conformsTo(", "memberOf(")


def compile_fhirpath(expression: str) -> Callable[[Any, Resource, Resource], Collection]:
    """Closures for `expression`, called with (focus value, %resource, %rootResource); raises `Unsupported`."""
    try:
        tree: dict[str, Any] = parse(expression)  # type: ignore[no-untyped-call]
    except Exception as error:  # noqa: BLE001 - fhirpathpy's parser raises bare Exceptions
        raise Unsupported(f"does not parse: {error}") from error
    counts: dict[str, int] = {}
    _invocations(tree["children"][0], counts)
    body = _compile(tree["children"][0], shared=frozenset(key for key, count in counts.items() if count > 1))

    def evaluate(value: Any, resource: Resource, root: Resource) -> Collection:
        focus = value if isinstance(value, list) else [value] if is_some(value) else []
        return body(focus, Env(resource, root))

    return evaluate


def violated(result: Collection) -> bool:
    """fhirpathpy's `result == [False]`: a single item equal to False (0 and a node holding False included)."""
    return len(result) == 1 and bool(_data(result[0]) == False)  # noqa: E712

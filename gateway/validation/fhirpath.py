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

from collections.abc import Callable
from typing import Any

from fhirpathpy.parser import parse

from gateway.validation.fhirpath_functions import function_call
from gateway.validation.fhirpath_nodes import (
    Collection,
    Env,
    Fn,
    Node,
    Step,
    Unsupported,
    boolean_operand,
    capitalised_member,
    data_of,
    is_some,
    literal_string,
    member,
    member_probe,
    model_path,
    navigate,
    string_argument,
    string_operand,
    type_argument,
    typed_values,
)

Resource = dict[str, Any]


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
    step = Step(key)
    empty = function == "empty"

    def run(focus: Collection, _env: Env) -> Collection:
        return [(member_probe(step, focus)[0] == 0) == empty]

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
        return key, (string_argument(node["children"][1]),)
    except Unsupported:
        return None


def _member_in(key: str, texts: tuple[str, ...], negate: bool = False) -> Fn:
    """`key = 'a' or key = 'b' or ...`: what `_logic` over `_member_equals` gives (every operand has the same
    count of values, so all are empty, all false, or one is true), with one navigation; `negate` for `!=`."""
    step = Step(key)

    def run(focus: Collection, _env: Env) -> Collection:
        count, first, path = member_probe(step, focus)
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

#: What `_invocations` descends into besides invocations.
_WALKED = ("TermExpression", "ParenthesizedTerm", "IndexerExpression", *_OPERATORS)


def _invocations(node: dict[str, Any], counts: dict[str, int]) -> None:
    """Counts the invocation chains evaluated on the evaluation's own focus (see `compile_node`'s `shared`)."""
    kind = node.get("type")
    children: list[dict[str, Any]] = node.get("children", [])
    if kind == "InvocationExpression":
        key = repr(node)
        counts[key] = counts.get(key, 0) + 1
        _invocations(children[0], counts)
    elif kind in _WALKED:
        for child in children[:1] if kind == "IndexerExpression" else children:
            _invocations(child, counts)


def compile_node(node: dict[str, Any], hoist: bool = False, shared: frozenset[str] | None = None) -> Fn:
    """Closures for `node`; with `hoist`, focus-free parts that read `%resource` are computed once per evaluation
    (for criteria, which run once per item). `shared` lists the invocation chains on the evaluation's own focus
    that occur more than once (MedCom's CareCommunication rules repeat `Bundle.entry.resource.ofType(...)`):
    each is computed once per evaluation. Nodes reached with `shared` are evaluated on that focus."""
    kind = node.get("type")
    children: list[dict[str, Any]] = node.get("children", [])
    if hoist and _focus_free(node):
        return _once(compile_node(node)) if _mentions_constant(node) else compile_node(node)
    if shared and kind == "InvocationExpression" and repr(node) in shared:
        return _once(_invocation(node, shared), repr(node))
    if kind in ("TermExpression", "InvocationTerm", "ParenthesizedTerm"):
        return compile_node(children[0], hoist, shared)
    if kind == "LiteralTerm":
        return _literal(children[0])
    if kind == "MemberInvocation":
        return member(str(children[0]["text"]).replace("`", ""))
    if kind == "FunctionInvocation":
        return function_call(children[0])
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
    operands = [compile_node(child, hoist, shared) for child in children[:2]]
    if kind == "EqualityExpression":
        key = _term_member(children[0])
        if key is not None and str(node["terminalNodeText"][0]) in ("=", "!="):
            try:
                text = string_argument(children[1])
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
    return None if capitalised_member(key) else key


def _of_type(node: dict[str, Any]) -> str | None:
    """T of an `ofType(T)` invocation that `_build_of_type` would accept, else None."""
    if node.get("type") != "FunctionInvocation":
        return None
    functn = node["children"][0]
    params: list[dict[str, Any]] = functn["children"][1]["children"] if len(functn["children"]) > 1 else []
    if str(functn["children"][0]["text"]) != "ofType" or len(params) != 1:
        return None
    try:
        return type_argument(params[0])
    except Unsupported:
        return None


def _invocation(node: dict[str, Any], shared: frozenset[str] | None) -> Fn:
    """`left.right`, evaluated on the focus; a run of member names (`entry.resource`, optionally followed by
    `.ofType(T)`) is navigated in one step (`navigate`), up to a prefix that is shared (computed once)."""
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
        left, right = compile_node(children[0], shared=shared), compile_node(children[1])
        return lambda focus, env: right(left(focus, env), env)
    first = _term_member(current)
    if first is not None and not (shared and repr(current) in shared):
        # the chain starts at the focus (`entry.resource.ofType(T)`): navigate from there, no nodes in between
        keys.append(first)
        keys.reverse()
        return navigate(_focus, keys, of_type)
    keys.reverse()
    return navigate(compile_node(current, shared=shared), keys, of_type)


def _focus(focus: Collection, _env: Env) -> Collection:
    return focus


def _literal(node: dict[str, Any]) -> Fn:
    kind = node.get("type")
    if kind == "StringLiteral":
        text = literal_string(node)
        return lambda _focus, _env: [text]
    if kind == "BooleanLiteral":
        flag = node.get("text") == "true"
        return lambda _focus, _env: [flag]
    if kind == "NumberLiteral" and str(node.get("text", "")).isdigit():
        number = int(str(node["text"]))
        return lambda _focus, _env: [number]
    raise Unsupported(f"literal {kind}")


def _indexer(children: list[dict[str, Any]], shared: frozenset[str] | None = None) -> Fn:
    collection = compile_node(children[0], shared=shared)
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
            a, b = boolean_operand(left(focus, env)), boolean_operand(right(focus, env))
            return [False] if a is False or b is False else [] if a is None or b is None else [True]

    elif operator == "or":

        def run(focus: Collection, env: Env) -> Collection:
            a, b = boolean_operand(left(focus, env)), boolean_operand(right(focus, env))
            return [True] if a is True or b is True else [] if a is None or b is None else [False]

    elif operator == "xor":

        def run(focus: Collection, env: Env) -> Collection:
            a, b = boolean_operand(left(focus, env)), boolean_operand(right(focus, env))
            return [] if a is None or b is None else [a != b]

    elif operator == "implies":

        def run(focus: Collection, env: Env) -> Collection:
            a, b = boolean_operand(left(focus, env)), boolean_operand(right(focus, env))
            return [True] if a is False or b is True else [] if a is None or b is None else [False]

    else:
        raise Unsupported(f"operator {operator}")
    return run


def _concatenate(left: Fn, right: Fn) -> Fn:
    def run(focus: Collection, env: Env) -> Collection:
        a, b = string_operand(left(focus, env)), string_operand(right(focus, env))
        return [(a or "") + (b or "")]

    return run


def compile_fhirpath(expression: str) -> Callable[[Any, Resource, Resource], Collection]:
    """Closures for `expression`, called with (focus value, %resource, %rootResource); raises `Unsupported`."""
    try:
        tree: dict[str, Any] = parse(expression)  # type: ignore[no-untyped-call]
    except Exception as error:  # noqa: BLE001 - fhirpathpy's parser raises bare Exceptions
        raise Unsupported(f"does not parse: {error}") from error
    counts: dict[str, int] = {}
    _invocations(tree["children"][0], counts)
    body = compile_node(tree["children"][0], shared=frozenset(key for key, count in counts.items() if count > 1))

    def evaluate(value: Any, resource: Resource, root: Resource) -> Collection:
        focus = value if isinstance(value, list) else [value] if is_some(value) else []
        return body(focus, Env(resource, root))

    return evaluate


def violated(result: Collection) -> bool:
    """fhirpathpy's `result == [False]`: a single item equal to False (0 and a node holding False included)."""
    return len(result) == 1 and bool(data_of(result[0]) == False)  # noqa: E712


__all__ = ["Node", "Unsupported", "compile_fhirpath", "is_some", "model_path", "typed_values", "violated"]

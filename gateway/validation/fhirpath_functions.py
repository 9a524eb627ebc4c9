"""The FHIRPath functions the compiler in `gateway.validation.fhirpath` knows (`exists`, `where`, `all`, `select`,
`iif`, `ofType`, `is`, `extension`, `startsWith`, `matches`, `resolve`, `conformsTo`, ...): each a builder from its
parameters' parse trees to a closure, with fhirpathpy 2.2's behaviour."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from gateway.validation.fhirpath_nodes import (
    Collection,
    Env,
    Fn,
    Node,
    Unsupported,
    data_of,
    is_true,
    matches_type,
    node_of,
    string_argument,
    string_singleton,
    type_argument,
)
from gateway.validation.hooks import HOOKS


def function_call(functn: dict[str, Any]) -> Fn:
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
    value = data_of(focus[0])
    return [not value] if isinstance(value, bool) else [False]


def _has_value(focus: Collection) -> Collection:
    # our fhirpathpy extension sees unwrapped data, floats as Decimal (so not "a value")
    return [len(focus) == 1 and isinstance(data_of(focus[0]), str | int | bool)]


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
        value = data_of(item)
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
    return _compiled(params[0], hoist=True)


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
            if not is_true(criterion([item], env)):
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
    condition, then = _compiled(params[0]), _compiled(params[1])
    otherwise = _compiled(params[2]) if len(params) == 3 else None

    def run(focus: Collection, env: Env) -> Collection:
        if is_true(condition(focus, env)):
            return then(focus, env)
        return otherwise(focus, env) if otherwise is not None else []

    return run


def _build_of_type(params: list[dict[str, Any]]) -> Fn:
    if len(params) != 1:
        raise Unsupported("wrong arity")
    name = type_argument(params[0])
    return lambda focus, _env: [item for item in focus if matches_type(item, name)]


def _build_is(params: list[dict[str, Any]]) -> Fn:
    if len(params) != 1:
        raise Unsupported("wrong arity")
    name = type_argument(params[0])

    def run(focus: Collection, _env: Env) -> Collection:
        if not focus:
            return []
        if len(focus) > 1:
            raise Unsupported("is() on a collection")
        return [matches_type(focus[0], name)]

    return run


def _build_extension(params: list[dict[str, Any]]) -> Fn:
    if len(params) != 1:
        raise Unsupported("wrong arity")
    url = string_argument(params[0])

    def run(focus: Collection, _env: Env) -> Collection:
        out: Collection = []
        for item in focus:
            element = data_of(item)
            if not isinstance(element, dict):
                continue
            for extension in element.get("extension", []):
                if not isinstance(extension, dict) or "url" not in extension:
                    raise Unsupported("malformed extension")
                if extension["url"] == url:
                    out.append(node_of(extension, "Extension"))
                    break
        return out

    return run


def _build_starts_with(params: list[dict[str, Any]]) -> Fn:
    if len(params) != 1:
        raise Unsupported("wrong arity")
    prefix = string_argument(params[0])

    def run(focus: Collection, _env: Env) -> Collection:
        if not focus:
            return []
        text = string_singleton(focus)
        return [bool(text) and text.startswith(prefix)]

    return run


def _build_matches(params: list[dict[str, Any]]) -> Fn:
    if len(params) != 1:
        raise Unsupported("wrong arity")
    regex = string_argument(params[0])
    try:
        pattern = re.compile(regex, re.DOTALL)
    except re.error as error:
        raise Unsupported(f"regex {regex}") from error

    def run(focus: Collection, _env: Env) -> Collection:
        if not regex or not focus:
            return []
        return [pattern.search(string_singleton(focus)) is not None]

    return run


def _build_conforms_to(params: list[dict[str, Any]]) -> Fn:
    if len(params) != 1:
        raise Unsupported("wrong arity")
    url = string_argument(params[0])

    def run(focus: Collection, _env: Env) -> Collection:
        hooks = HOOKS.get()
        resources = [value for value in map(data_of, focus) if isinstance(value, dict) and "resourceType" in value]
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


def _compiled(node: dict[str, Any], hoist: bool = False) -> Fn:
    """A parameter's closures: the compiler and its functions call each other, so it is imported on use."""
    from gateway.validation.fhirpath import compile_node

    return compile_node(node, hoist=hoist)

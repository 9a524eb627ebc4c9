"""The FHIRPath compiler agrees with fhirpathpy on every invariant it accepts, over all reference examples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gateway.validation import Validator
from gateway.validation.bundle_invariants import BUNDLE_INVARIANTS
from gateway.validation.fhirpath import Unsupported, compile_fhirpath
from gateway.validation.hooks import HOOKS
from gateway.validation.invariants import EVALUATED_BY, compiled_check, fhirpathpy_check
from gateway.validation.plans import Constraint
from gateway.validation.validator import Walker
from tests.gateway.validation.conftest import PACKAGE_OF_FOLDER, REFERENCE
from tests.gateway.validation.test_examples import EXAMPLES

Call = tuple[Constraint, Any, dict[str, Any], dict[str, Any], Any]


def _outcome(check: Any, call: Call) -> tuple[str, object]:
    constraint, value, resource, root, hooks = call
    token = HOOKS.set(hooks)
    try:
        return ("value", check(value, resource, root))
    except Exception as error:  # noqa: BLE001 - fhirpathpy raises bare Exceptions
        return ("error", type(error).__name__)
    finally:
        HOOKS.reset(token)


@pytest.fixture(scope="module")
def recorded(validator: Validator) -> list[Call]:
    """Every constraint evaluation the validator makes on the reference examples, with its hooks."""
    assert EXAMPLES, f"no reference examples under {REFERENCE}"
    calls: list[Call] = []

    def record(walker: Walker, constraint: Constraint, value: Any, scope: Any) -> None:
        if constraint.check is not None and EVALUATED_BY.get(constraint.expression) == "compiled":
            hooks = scope.hooks or walker.engine.hooks(walker.run, scope)
            calls.append((constraint, value, scope.resource, scope.root, hooks))

    observed = Validator(validator.registry, constraint_observer=record)
    for relative in EXAMPLES:
        resource = json.loads((REFERENCE / relative).read_text(encoding="utf-8"))
        observed.validate(resource, package=PACKAGE_OF_FOLDER[Path(relative).parts[0]])
    return calls


def test_compiled_invariants_agree_with_fhirpathpy(recorded: list[Call]) -> None:
    expressions = {call[0].expression for call in recorded}
    assert len(expressions) >= 25  # bdl-*, MedCom Bundle rules, DK-core rules, ...
    slow = {expression: fhirpathpy_check(expression) for expression in expressions}
    fast = {expression: compiled_check(expression) for expression in expressions}
    differences = []
    for call in recorded:
        expression = call[0].expression
        expected, actual = _outcome(slow[expression], call), _outcome(fast[expression], call)
        if expected != actual:
            differences.append(f"{call[0].key}: fhirpathpy {expected}, compiled {actual}")
    assert not differences, "\n".join(sorted(set(differences)))


def test_the_worst_bundle_invariants_are_compiled_or_native(recorded: list[Call]) -> None:
    keys = {call[0].key for call in recorded}
    assert {"medcom-hospitalNotification-2", "medcom-messaging-2"} <= keys
    # the R4 core Bundle invariants are Python (held to fhirpathpy in test_bundle_invariants.py)
    for key, expression in BUNDLE_INVARIANTS:
        assert EVALUATED_BY[expression] == "native", key


SAMPLES: list[tuple[str, Any]] = [
    # choice element through the R4 model (Extension.value[x]), and `=` comparing first items only
    ("extension.value.code = 'primary'", {"extension": [{"url": "u", "valueCoding": {"code": "primary"}}]}),
    ("extension.value.code = 'primary'", {"extension": [{"url": "u", "valueCoding": {"code": "other"}}]}),
    ("name.exists() or telecom.exists()", {"resourceType": "Patient"}),
    ("name.exists() or telecom.exists()", {"resourceType": "Patient", "name": [{"text": "x"}]}),
    ("type = 'document' implies timestamp.hasValue()", {"resourceType": "Bundle", "type": "document"}),
    ("type = 'document' implies timestamp.hasValue()", {"resourceType": "Bundle", "type": "message"}),
    ("entry.where(resource.is(Patient)).count() = 1", {"resourceType": "Bundle", "entry": []}),
    ("iif(code.exists(), true, false)", {"resourceType": "Basic"}),
    ("code.exists() xor text.exists()", {"code": "a", "text": "b"}),
    ("entry[1].resource.ofType(Patient).exists()", {"entry": [{}, {"resource": {"resourceType": "Patient"}}]}),
    ("status != 'onleave'", {"status": "onleave"}),
    ("identifier.where(system = 'a' or system = 'b').exists()", {"identifier": [{"system": "b"}]}),
]


@pytest.mark.parametrize(("expression", "value"), SAMPLES)
def test_samples_agree(expression: str, value: Any) -> None:
    call: Call = (Constraint("x", "error", "", expression, None), value, value, value, None)
    assert _outcome(compiled_check(expression), call) == _outcome(fhirpathpy_check(expression), call)


def test_primitive_extensions_are_left_to_fhirpathpy() -> None:
    with pytest.raises(Unsupported):
        compile_fhirpath("status.exists()")({"_status": {"extension": []}}, {}, {})


@pytest.mark.parametrize("expression", ["today() > birthDate", "name.given.combine(name.family)", "%ucum.exists()"])
def test_expressions_outside_the_subset_are_declined(expression: str) -> None:
    with pytest.raises(Unsupported):
        compile_fhirpath(expression)


_MESSAGE = {
    "resourceType": "Bundle",
    "type": "message",
    "entry": [
        {"fullUrl": "urn:a", "resource": {"resourceType": "MessageHeader", "sender": {"reference": "urn:b"}}},
        {"fullUrl": "urn:b", "resource": {"resourceType": "Organization", "name": "x"}},
        {"fullUrl": "urn:c"},
        {"resource": [{"resourceType": "Patient", "id": "p1"}, {"resourceType": "Patient", "id": "p2"}]},
        {"resource": {"id": "no-type"}},
        "not an entry",
    ],
}
#: `X.a.b.ofType(T)` is navigated in one step, and chains repeated on the evaluation's focus are computed once
#: (also through `=`, `and`, `or`, `&`): the same values, types and fallbacks as member by member.
FUSED: list[tuple[str, Any]] = [
    ("entry.resource.ofType(Patient).id.count() = 2", _MESSAGE),
    ("entry.resource.ofType(Patient).id.first() = 'p1'", _MESSAGE),
    ("Bundle.entry.resource.ofType(MessageHeader).exists()", _MESSAGE),
    ("%resource.entry.resource.ofType(Organization).name = 'x'", _MESSAGE),
    (
        "entry.resource.ofType(Patient).id.first() = 'p1' and entry.resource.ofType(Patient).id.first() != 'p2'",
        _MESSAGE,
    ),
    (
        "(entry.resource.ofType(Organization).name & '-') = 'x-' or entry.resource.ofType(Organization).exists()",
        _MESSAGE,
    ),
    ("entry.resource.ofType(Patient).exists()", {"resourceType": "Bundle", "entry": {"resource": {"id": "x"}}}),
    ("entry.resource.ofType(Patient).exists()", {"resourceType": "Bundle", "entry": [{"_resource": {"id": "e"}}]}),
    ("entry.resource.ofType(Patient).exists()", {"resourceType": "Bundle"}),
    ("entry.resource.ofType(Patient).exists() = entry.resource.ofType(Patient).exists()", _MESSAGE),
]


@pytest.mark.parametrize(("expression", "value"), FUSED)
def test_fused_navigation_and_shared_chains_agree(expression: str, value: Any) -> None:
    call: Call = (Constraint("x", "error", "", expression, None), value, value, value, None)
    assert _outcome(compiled_check(expression), call) == _outcome(fhirpathpy_check(expression), call)


_SHAPES: list[Any] = [
    {},
    {"system": "a"},
    {"system": "b"},
    {"system": "c"},
    {"system": ["a"]},
    {"system": ["a", "b"]},
    {"system": []},
    {"system": None},
    {"system": {"value": "a"}},
    {"system": "a", "_system": {"extension": []}},
    {"resourceType": "Patient", "system": "a"},
    {"valueQuantity": {"value": 1}},
    [{"system": "a"}, {"system": "b"}],
    [{"system": "a"}, "text", 3],
    "a",
]
#: `member = 'text'`, `member.exists()` / `.empty()` and `member = 'a' or member = 'b'` are evaluated without
#: making nodes; the parenthesised forms take the general route (operator over member navigation).
SPECIALISED: list[tuple[str, str]] = [
    ("system = 'a'", "(system) = 'a'"),
    ("system != 'a'", "(system) != 'a'"),
    ("system.exists()", "(system).exists()"),
    ("system.empty()", "(system).empty()"),
    ("system = 'a' or system = 'b'", "((system) = 'a') or ((system) = 'b')"),
    ("system = 'a' or system = 'b' or system = 'c'", "((system) = 'a') or ((system) = 'b') or ((system) = 'c')"),
    ("value = 'a'", "(value) = 'a'"),
    ("value.exists()", "(value).exists()"),
]


def _collection(expression: str, value: Any) -> object:
    try:
        return [getattr(item, "data", item) for item in compile_fhirpath(expression)(value, {}, {})]
    except Unsupported as why:
        return ("unsupported", str(why))


@pytest.mark.parametrize(("expression", "general"), SPECIALISED)
def test_specialised_member_tests_agree_with_the_general_route(expression: str, general: str) -> None:
    for value in _SHAPES:
        assert _collection(expression, value) == _collection(general, value), value
        call: Call = (Constraint("x", "error", "", expression, None), value, {}, {}, None)
        assert _outcome(compiled_check(expression), call) == _outcome(fhirpathpy_check(expression), call), value


def test_mixed_alternatives_are_not_merged() -> None:
    # different members, `!=`, or a non-literal operand keep the general route (and its answers)
    for expression in ("system = 'a' or code = 'b'", "system != 'a' or system = 'b'", "system = 'a' or system = code"):
        for value in _SHAPES:
            call: Call = (Constraint("x", "error", "", expression, None), value, {}, {}, None)
            assert _outcome(compiled_check(expression), call) == _outcome(fhirpathpy_check(expression), call)


_CHOICES: list[Any] = [
    {"extension": [{"url": "u", "valueString": "b", "valueCode": "a"}]},  # two types: the model's order decides
    {"extension": [{"url": "u", "valueCode": "a", "valueString": "b"}]},
    {"extension": [{"url": "u", "valueCode": None, "valueString": "b"}]},
    {"extension": [{"url": "u", "_valueCode": {"id": "x"}, "valueString": "b"}]},
    {"extension": [{"url": "u", "valueNotAType": "a", "value": "a"}]},
    {"extension": [{"url": "u", "valueCoding": {"code": "a"}}]},
]


@pytest.mark.parametrize("value", _CHOICES)
@pytest.mark.parametrize("expression", ["extension.value = 'a'", "extension.value = 'b'", "extension.value.exists()"])
def test_choice_elements_pick_the_type_fhirpathpy_picks(expression: str, value: Any) -> None:
    call: Call = (Constraint("x", "error", "", expression, None), value, value, value, None)
    assert _outcome(compiled_check(expression), call) == _outcome(fhirpathpy_check(expression), call)

"""Constraints (invariants) in the walk: native checks first, else the memoised FHIRPath evaluation; defects,
unresolvable references and undecidable `memberOf()` are warnings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gateway.validation.hooks import HOOKS
from gateway.validation.invariants import Check
from gateway.validation.plans import Constraint, ElementPlan
from gateway.validation.walk_state import Scope
from mappings.issues import Severity

if TYPE_CHECKING:
    from gateway.validation.validator import Walker


#: The memoised result of a constraint that holds (shared, so the common case is one identity test).
_SATISFIED: tuple[bool, bool, str | None] = (True, False, None)


_CONTAINERS = (dict, list)


# -- constraints ----------------------------------------------------------------------------------------------
def constraints(
    walker: Walker, node: ElementPlan, constraints: tuple[Constraint, ...], value: Any, expr: str, scope: Scope
) -> None:
    for rule in constraints:
        if rule.native:  # pure and cheap: a holding native check needs no memo (runs for most elements)
            try:
                if rule.check(value, scope.resource, scope.root):  # type: ignore[misc]
                    continue
            except Exception:  # noqa: BLE001, S110 - reported by the full evaluation
                pass
        constraint(walker, node, rule, value, expr, scope)


def constraint(walker: Walker, node: ElementPlan, constraint: Constraint, value: Any, expr: str, scope: Scope) -> None:
    run = walker.run
    check = constraint.check
    if check is None:
        if (constraint.key, node.profile) not in run.reported_defects:
            run.reported_defects.add((constraint.key, node.profile))
            run.add(
                "warning",
                "invariant",
                "validation.invariant-defect",
                expr,
                f"{constraint.key} ({node.profile}) not evaluated: {constraint.defect}",
            )
            run.defect_keys[id(run.issues[-1])] = (constraint.key, node.profile)
        return
    # The same element is often checked twice (as a Bundle entry and as a reference target): memoise.
    memo_key = (id(constraint), id(value) if isinstance(value, _CONTAINERS) else value, id(scope.root))
    memo = run.memo.get(memo_key)
    if memo is None:
        memo = evaluate(walker, node, constraint, check, value, expr, scope)
        run.memo[memo_key] = memo
    satisfied, unresolved, undecided = memo
    if satisfied and not unresolved and undecided is None:
        return  # `_SATISFIED` (by value: mypyc keeps the tuple unboxed, so it has no identity to test)
    label = f"{constraint.key} ({node.profile})"
    if undecided is not None and satisfied:
        run.add(
            "warning",
            "invariant",
            "validation.invariant-not-checked",
            expr,
            f"{label} not checked: {undecided} [{constraint.expression.strip()}]",
        )
    elif not satisfied and unresolved:
        run.add(
            "warning",
            "invariant",
            "validation.invariant-unresolved",
            expr,
            f"{label} not decided: it follows a reference that is not in this Bundle [{constraint.expression.strip()}]",
        )
    elif not satisfied:
        severity: Severity = "error" if constraint.severity == "error" else "warning"
        found = constraint.explain(value) if constraint.explain is not None else None
        run.add(
            severity,
            "invariant",
            "validation.invariant",
            expr,
            f"{label}: {constraint.human} [{constraint.expression.strip()}]" + (f": {found}" if found else ""),
        )


def evaluate(
    walker: Walker, node: ElementPlan, constraint: Constraint, check: Check, value: Any, expr: str, scope: Scope
) -> tuple[bool, bool, str | None]:
    """(satisfied, needed a reference this run cannot resolve, why a `memberOf()` it asked could not answer)
    for one evaluation. An invariant that holds only because `memberOf()` had no answer is not checked."""
    run = walker.run
    observer = walker.engine.constraint_observer
    if observer is not None:
        observer(walker, constraint, value, scope)
    unresolved_before = run.unresolved
    undecided_before = len(run.undecided_terms)
    token = None
    if constraint.needs_hooks:
        if scope.hooks is None:
            scope.hooks = walker.engine.hooks(run, scope)
        token = HOOKS.set(scope.hooks)
    try:
        satisfied = check(value, scope.resource, scope.root)
    except Exception as error:  # noqa: BLE001 - fhirpathpy raises bare Exceptions for what it cannot evaluate
        run.add(
            "warning",
            "invariant",
            "validation.invariant-error",
            expr,
            f"{constraint.key} ({node.profile}) could not be evaluated: {error}",
        )
        return _SATISFIED
    finally:
        if token is not None:
            HOOKS.reset(token)
    undecided = run.undecided_terms[undecided_before] if len(run.undecided_terms) > undecided_before else None
    if satisfied and run.unresolved == unresolved_before and undecided is None:
        return _SATISFIED
    return (bool(satisfied), run.unresolved != unresolved_before, undecided)

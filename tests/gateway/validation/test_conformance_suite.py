"""Agreement with the official FHIR validator on its own R4 test cases (issue 13).

Every step of `tests/data/fhir-test-cases-r4` runs; the figures are printed (`pytest -s`). The test fails when
agreement on the valid/invalid verdict falls below `AGREEMENT`, or when the disagreements differ from the table in
`gateway/validation/README.md`: a case we fixed must leave the table, a new disagreement must be explained there.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway.validation import Validator
from tests.gateway.validation.conformance import SUITE, Outcome, run, steps, validators

README = Path(__file__).resolve().parents[3] / "gateway" / "validation" / "README.md"
#: The agreement the suite must reach (issue 13; 62.0% when the runner was first written).
AGREEMENT = 0.95
_ROW = re.compile(r"^\|\s*`([^`]+)`\s*\|\s*(base|profile)\s*\|\s*(valid|invalid)\s*\|\s*(valid|invalid)\s*\|(.+)\|\s*$")


def _verdict(errors: int) -> str:
    return "invalid" if errors else "valid"


def _documented() -> dict[tuple[str, str], tuple[str, str, str]]:
    """(case, step) → (Java, ours, reason) from the README's disagreement table."""
    rows: dict[tuple[str, str], tuple[str, str, str]] = {}
    for line in README.read_text(encoding="utf-8").splitlines():
        found = _ROW.match(line)
        if found:
            case, kind, java, ours, reason = found.groups()
            assert (case, kind) not in rows, f"{case} ({kind}) is listed twice"
            assert reason.strip(), f"{case} ({kind}) has no reason"
            rows[(case, kind)] = (java, ours, reason.strip())
    return rows


@pytest.fixture(scope="module")
def outcomes(validator: Validator) -> list[Outcome]:
    assert SUITE.is_dir(), f"the test suite is missing at {SUITE}"
    engines = validators(validator)
    return [run(engines, step) for step in steps()]


def test_the_suite_is_all_there(outcomes: list[Outcome]) -> None:
    assert len(outcomes) >= 230
    assert (SUITE.parent / "LICENSE.txt").is_file()


def test_agreement_with_the_java_validator(outcomes: list[Outcome]) -> None:
    agreed = [o for o in outcomes if o.agrees]
    java_valid = [o for o in outcomes if not o.step.java_errors]
    java_invalid = [o for o in outcomes if o.step.java_errors]
    both = [o for o in outcomes if o.errors and o.step.java_errors and o.step.java_locations is not None]
    same = [o for o in both if set(o.locations) == set(o.step.java_locations or ())]
    same_placed = [o for o in both if set(o.java_style) == set(o.step.java_locations or ())]
    wanted = sum(len(set(o.step.java_locations or ())) for o in both)
    found = sum(len(set(o.step.java_locations or ()) & set(o.java_style)) for o in both)
    share = len(agreed) / len(outcomes)
    print(
        f"\nFHIR test cases: {len(outcomes)} steps, agreement {len(agreed)} ({share:.1%}); "
        f"valid per Java {len(java_valid)}, we agree on {sum(o.agrees for o in java_valid)}; "
        f"invalid per Java {len(java_invalid)}, we agree on {sum(o.agrees for o in java_invalid)}; "
        f"both reject {len(both)} with Java locations: the same error locations in {len(same)} "
        f"({len(same_placed)} with cardinality placed on the parent, as Java does), "
        f"Java's error locations we report {found} of {wanted}"
    )
    assert share >= AGREEMENT


def test_every_disagreement_is_documented(outcomes: list[Outcome]) -> None:
    documented = _documented()
    actual = {(o.step.case, o.step.kind): o for o in outcomes if not o.agrees}
    missing = [
        f"| `{o.step.case}` | {o.step.kind} | {_verdict(o.step.java_errors)} | {_verdict(o.errors)} | "
        f"{o.unreadable or ', '.join(o.locations[:2]) or ', '.join((o.step.java_locations or ())[:2])} |"
        for key, o in sorted(actual.items())
        if key not in documented
    ]
    stale = [f"{case} ({kind})" for case, kind in sorted(documented) if (case, kind) not in actual]
    assert not missing, "disagreements not in the README table:\n" + "\n".join(missing)
    assert not stale, "now agreeing, remove from the README table: " + ", ".join(stale)
    for key, outcome in actual.items():
        java, ours, _ = documented[key]
        assert (java, ours) == (_verdict(outcome.step.java_errors), _verdict(outcome.errors)), key

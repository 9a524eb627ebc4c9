"""Validating a MedCom HospitalNotification Bundle vs. fhir.resources' validated parse of the same dict.

Run: `.venv/bin/python bench/bench_validation.py [path/to/bundle.json ...]` (default: the MedCom
HospitalNotification SLHJ and CareCommunication example Bundles). Prints start-up (registry load, first compile),
the per-Bundle times measured in this one run and their ratio, the spread of that ratio over every MedCom example
Bundle in tests/data/reference, and how many invariant expressions the FHIRPath compiler left to fhirpathpy.
"""

from __future__ import annotations

import functools
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fhir.resources.R4B.bundle import Bundle

from gateway.validation.engine import timed_default_validator
from gateway.validation.invariants import EVALUATED_BY, RUNTIME_FALLBACKS

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "tests/data/reference"
DEFAULTS = (
    REFERENCE / "medcom-hospitalnotification/examples/Bundle-f4aa42a4-86db-4e68-9b38-9dda0dfd5774.json",
    REFERENCE / "medcom-carecommunication/examples/Bundle-0d5b3c18-fab6-4d93-9d88-c9c8abf1f18c.json",
)


def per_call(function: Callable[[], Any], repeat: int) -> float:
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(repeat):
            function()
        best = min(best, (time.perf_counter() - started) / repeat)
    return best


def main() -> None:
    paths = [Path(arg) for arg in sys.argv[1:]] or list(DEFAULTS)
    validator, load_seconds = timed_default_validator()
    print(f"registry load: {load_seconds * 1000:.0f} ms")
    for path in paths:
        bundle = json.loads(path.read_text(encoding="utf-8"))
        started = time.perf_counter()
        first = validator.validate(bundle)
        first_seconds = time.perf_counter() - started
        ours = per_call(functools.partial(validator.validate, bundle), 50)
        theirs = per_call(functools.partial(Bundle.model_validate, bundle), 50)
        print(
            f"bundle: {path.name} ({len(bundle.get('entry', []))} entries), ok={first.ok}, issues={len(first.issues)}"
        )
        print(f"  first validation (compiles plans): {first_seconds * 1000:.0f} ms")
        print(f"  profile validation: {ours * 1000:.2f} ms/bundle")
        print(f"  fhir.resources R4B Bundle.model_validate: {theirs * 1000:.2f} ms/bundle")
        print(f"  ratio validation / fhir.resources parse: {ours / theirs:.2f}")
    examples = sorted(REFERENCE.glob("medcom-*/examples/Bundle-*.json"))
    if not sys.argv[1:] and examples:
        ratios = []
        for path in examples:
            bundle = json.loads(path.read_text(encoding="utf-8"))
            validator.validate(bundle)
            ratios.append(
                per_call(functools.partial(validator.validate, bundle), 10)
                / per_call(functools.partial(Bundle.model_validate, bundle), 10)
            )
        ratios.sort()
        print(
            f"all {len(ratios)} MedCom example Bundles, ratio validation / parse: min {ratios[0]:.2f}, "
            f"median {ratios[len(ratios) // 2]:.2f}, max {ratios[-1]:.2f}"
        )
    kinds = [why.split(":")[0] for why in EVALUATED_BY.values()]
    print(
        f"invariant expressions: {kinds.count('native')} native, {kinds.count('compiled')} compiled, "
        f"{kinds.count('fhirpathpy')} left to fhirpathpy (fallback); {RUNTIME_FALLBACKS[0]} evaluations fell back"
    )
    for expression, why in EVALUATED_BY.items():
        if why.startswith("fhirpathpy"):
            print(f"  fallback: {' '.join(expression.split())[:90]} ({why})")


if __name__ == "__main__":
    main()

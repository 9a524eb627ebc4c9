"""Validating a MedCom HospitalNotification Bundle vs. fhir.resources' validated parse of the same dict.

Run: `.venv/bin/python bench/bench_validation.py [path/to/bundle.json]`. Prints start-up (registry load,
first compile) and the per-Bundle times measured in this one run, and their ratio.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fhir.resources.R4B.bundle import Bundle

from gateway.validation.engine import timed_default_validator

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = (
    ROOT.parent
    / "shared/reference/medcom-hospitalnotification/examples/Bundle-f4aa42a4-86db-4e68-9b38-9dda0dfd5774.json"
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
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    bundle = json.loads(path.read_text(encoding="utf-8"))
    validator, load_seconds = timed_default_validator()
    started = time.perf_counter()
    first = validator.validate(bundle)
    first_seconds = time.perf_counter() - started
    ours = per_call(lambda: validator.validate(bundle), 50)
    theirs = per_call(lambda: Bundle.model_validate(bundle), 50)
    print(f"bundle: {path.name} ({len(bundle.get('entry', []))} entries), ok={first.ok}, issues={len(first.issues)}")
    print(
        f"registry load: {load_seconds * 1000:.0f} ms; first validation (compiles plans): {first_seconds * 1000:.0f} ms"
    )
    print(f"profile validation: {ours * 1000:.2f} ms/bundle")
    print(f"fhir.resources R4B Bundle.model_validate: {theirs * 1000:.2f} ms/bundle")
    print(f"ratio validation / fhir.resources parse: {ours / theirs:.2f}")


if __name__ == "__main__":
    main()

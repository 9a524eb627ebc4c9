"""How much of `parse_hl7v2` is hl7apy? Prints per-message times and ratios measured in one run.

Run: .venv/bin/python bench/bench_inbound_hl7v2.py
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message

from gateway.inbound.hl7v2 import parse_hl7v2
from gateway.inbound.limits import Limits

SAMPLE = Path(__file__).parents[1] / "fixtures" / "samples" / "inbound" / "adt_a03_discharge_8859-1.hl7"


def _per_call(function: Callable[[], object], rounds: int = 200) -> float:
    function()
    start = time.perf_counter()
    for _ in range(rounds):
        function()
    return (time.perf_counter() - start) / rounds


def main() -> None:
    data = SAMPLE.read_bytes()
    text = data.decode("latin-1")
    limits = Limits()
    split = _per_call(lambda: [segment.split("|") for segment in text.split("\r")])
    hl7apy = _per_call(lambda: parse_message(text, find_groups=False, validation_level=VALIDATION_LEVEL.TOLERANT))
    full = _per_call(lambda: parse_hl7v2(data, limits=limits))
    print(f"plain split     {split * 1e6:9.1f} µs")
    print(f"hl7apy parse    {hl7apy * 1e6:9.1f} µs  ({hl7apy / split:,.0f}x split)")
    print(f"parse_hl7v2     {full * 1e6:9.1f} µs  (hl7apy share {hl7apy / full:.0%})")


if __name__ == "__main__":
    main()

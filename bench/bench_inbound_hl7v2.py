"""What does reading an ADT^A03 cost? hl7apy (the parser of record) against python-hl7, measured in one run.

Rows, each per message and as a ratio to python-hl7's `hl7.parse` of the same text (the reference):
- hl7apy `parse_message` of the whole message with library loading as shipped (what `parse_hl7v2` ran before
  issue 18, on top of a second, hand-written field reader);
- the same with `load_library` memoised (`gateway.inbound.hl7v2_segments` does this on import);
- `parse_hl7v2` now: hl7apy on the segments and fields the mapping reads, every value read from its parse.

Run: .venv/bin/python bench/bench_inbound_hl7v2.py
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import hl7
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message

SAMPLE = Path(__file__).parents[1] / "fixtures" / "samples" / "inbound" / "adt_a03_discharge_8859-1.hl7"


def per_call(function: Callable[[], object], rounds: int = 200) -> float:
    function()
    best = float("inf")
    for _ in range(3):  # best of three rounds: the machine is shared, the minimum is the least disturbed
        start = time.perf_counter()
        for _ in range(rounds):
            function()
        best = min(best, (time.perf_counter() - start) / rounds)
    return best


def main() -> None:
    data = SAMPLE.read_bytes()
    text = data.decode("latin-1").replace("\n", "\r").strip()

    def whole_message() -> object:
        return parse_message(text, find_groups=False, validation_level=VALIDATION_LEVEL.TOLERANT)

    reference = per_call(lambda: hl7.parse(text))
    shipped = per_call(whole_message, rounds=50)

    from gateway.inbound.hl7v2 import parse_hl7v2  # memoises hl7apy's library loading on import
    from gateway.inbound.limits import Limits

    limits = Limits()
    cached = per_call(whole_message, rounds=50)
    ours = per_call(lambda: parse_hl7v2(data, limits=limits))
    print(f"python-hl7 hl7.parse (reference)           {reference * 1e6:9.1f} µs   1.0")
    print(f"hl7apy whole message, library as shipped   {shipped * 1e6:9.1f} µs  {shipped / reference:5.1f}")
    print(f"hl7apy whole message, library memoised     {cached * 1e6:9.1f} µs  {cached / reference:5.1f}")
    print(f"parse_hl7v2 (hl7apy, fields read only)     {ours * 1e6:9.1f} µs  {ours / reference:5.1f}")


if __name__ == "__main__":
    main()

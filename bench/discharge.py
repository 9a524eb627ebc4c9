"""The discharge path's figures for `python -m bench`: each input path against references measured in the same run.

Paths (each `IntakeService.preview`: parse, plan lookup, mapping, profile validation of every notice; nothing
stored), on a throw-away SQLite database holding the demo plan and the stay's admission (so the A03 reads the
stay's history, as in production):
- `a03`: ADT^A03 of the demo stay (`adt_a03_discharge_8859-1.hl7`) → HospitalNotification + 3 CareCommunications;
- `xdis01`: the OIOXML discharge letter sample → 3 CareCommunications;
- `xdis91`: the OIOXML correspondence sample → 1 CareCommunication;
- `relay`: MedCom's CareCommunication example message, relayed (FHIR JSON in, one notice out).

Every figure is process CPU time (`time.process_time`: what this process spent, not what the shared machine's
other load adds to the wall clock), per input, the median of the rounds; each round times every path and every
reference once, in an order shuffled by the seed, so a disturbance hits all of them alike. References per path:
- the orjson floor: `orjson.loads(orjson.dumps(notice))` of the notices the path makes (the least any path that
  emits those bytes must spend);
- fhir.resources' parse of the same notices (`Bundle.model_validate`, R4B models: what a pydantic-model gateway
  would spend only to hold them).
Stages per path: parse, plan lookup (`PlanService.current_plan_for`, the citizen's stored plan), mapping (notice
building, the plan lookup taken off) and validation (every notice against its profile, as just built: notice
building with validation, building taken off).
The process is settled as `gateway serve` settles itself before it takes requests (`heap.settle_gateway`: the
MedCom message profiles compiled, then start-up's objects frozen out of the collector's full passes); unsettled, the
collector's full passes were about a third of the validation's instructions (callgrind).
Also: hl7apy against python-hl7 on the A03's text, the validator against fhir.resources' parse over MedCom's
example Bundles, and peak memory (tracemalloc) of one input per path.
"""

from __future__ import annotations

import json
import math
import random
import resource
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from gateway import heap

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "fixtures" / "samples" / "inbound"
REFERENCE = ROOT / "tests" / "data" / "reference"
HL7 = "x-application/hl7-v2+er7"
PATHS: dict[str, tuple[str, str]] = {
    "a03": ("adt_a03_discharge_8859-1.hl7", HL7),
    "xdis01": ("xdis01_iso-8859-1.xml", "application/xml"),
    "xdis91": ("xdis91_utf-8.xml", "application/xml"),
    "relay": ("medcom/Bundle-k7bfbc0c-553d-11ed-bdc3-0242ac120002.json", "application/fhir+json"),
}


@dataclass
class Timed:
    """One measured thing, the per-call CPU times of each round, and how many calls make one sample: enough for
    `target` seconds (set from a timed warm-up call; 0 makes one call), so a cheap reference such as the orjson
    floor is not a handful of clock ticks."""

    name: str
    function: Callable[[], object]
    target: float
    samples: list[float] = field(default_factory=list)
    calls: int = 1

    def calibrate(self) -> None:
        started = time.process_time()
        self.function()
        once = time.process_time() - started
        self.calls = max(1, min(10_000, math.ceil(self.target / max(once, 1e-6)))) if self.target else 1

    def measure(self) -> None:
        started = time.process_time()
        for _ in range(self.calls):
            self.function()
        self.samples.append((time.process_time() - started) / self.calls)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


def interleaved(timed: list[Timed], rounds: int, rng: random.Random) -> None:
    """Each round measures everything once, in a shuffled order (after a warm-up call that sets the calls)."""
    for item in timed:
        item.function()
        item.calibrate()
    for _ in range(rounds):
        order = list(timed)
        rng.shuffle(order)
        for item in order:
            item.measure()


def _app(folder: Path) -> Any:
    from gateway.api import create_app
    from gateway.clock import SequenceIds
    from gateway.config import Settings
    from tests.support import scenario

    scenario.write_flow1_directory(folder / "directory.yaml", "http://gp.test/fhir", "http://kommune.test/fhir")
    app = create_app(Settings(data_dir=folder, insecure_no_auth=True), ids=SequenceIds())
    app.state.plans.accept("http://gateway.test", scenario.plan_document())
    import asyncio

    asyncio.run(app.state.intake.accept(scenario.adt("adt_a01_inpatient_8859-1.hl7"), HL7))
    return app


def _stages(intake: Any, body: bytes, media: str) -> dict[str, Callable[[], object]]:
    """The path's stages as separate calls: parse, plan lookup, notice building (with the lookup), validation."""
    from gateway.fhir.access import OPEN
    from mappings.context import MappingContext

    _kind, document = intake.parse(body, media)
    ctx = MappingContext(now=intake.clock.now(), new_uuid=intake.ids.new_id)
    from mappings.documents.discharge import AdtEvent, DischargeLetter

    # only ADT events and XDIS01 letters read the citizen's plan (gateway.services.notices)
    cpr = document.patient.cpr if isinstance(document, AdtEvent | DischargeLetter) else None
    return {
        "parse": lambda: intake.parse(body, media),
        "plan_lookup": (lambda: intake.plans.current_plan_for(cpr)) if cpr else (lambda: None),
        "plan_lookup_uncached": (lambda: _uncached_plan(intake.plans, cpr)) if cpr else (lambda: None),
        "build": lambda: intake._plan(document, ctx, OPEN, False, ()),
        # validation of notices as intake meets them, just built: validating the same dicts again and again is
        # about 0.15 ms cheaper per XDIS91 notice (their strings hashed and their URLs' verdicts kept already)
        "build_and_validation": lambda: [
            intake.check(notice.message) for notice in intake._plan(document, ctx, OPEN, False, ()).notices
        ],
    }


def _uncached_plan(plans: Any, cpr: str) -> object:
    """The plan lookup as it was before issue 18 kept it (`PlanService._current_plan_in` in a read transaction)."""
    from gateway.fhir.access import OPEN

    with plans.fhir.store.reading() as tx:
        return plans._current_plan_in(tx, cpr, OPEN)


def _hl7_parsers(body: bytes) -> dict[str, Callable[[], object]]:
    import hl7
    from hl7apy.consts import VALIDATION_LEVEL
    from hl7apy.parser import parse_message

    from gateway.inbound.hl7v2 import parse_hl7v2
    from gateway.inbound.limits import Limits

    text = body.decode("latin-1").replace("\n", "\r").strip()
    limits = Limits()
    return {
        "python_hl7": lambda: hl7.parse(text),
        "hl7apy_whole_message": lambda: parse_message(
            text, find_groups=False, validation_level=VALIDATION_LEVEL.TOLERANT
        ),
        "parse_hl7v2": lambda: parse_hl7v2(body, limits=limits),
    }


def _validator_ratio(intake: Any, quick: bool, rng: random.Random) -> dict[str, Any]:
    """Our profile validation against fhir.resources' parse, per MedCom example Bundle (medians of rounds)."""
    from fhir.resources.R4B.bundle import Bundle

    from gateway.validation import default_validator

    validator = default_validator()  # the one intake checks notices with
    paths = sorted(REFERENCE.glob("medcom-*/examples/Bundle-*.json"))
    if quick:
        paths = paths[:2]
    per_bundle: dict[str, float] = {}
    for path in paths:
        bundle = json.loads(path.read_text(encoding="utf-8"))
        ours = Timed("ours", lambda b=bundle: validator.validate(b), 0 if quick else 0.02)
        theirs = Timed("theirs", lambda b=bundle: Bundle.model_validate(b), 0 if quick else 0.02)
        interleaved([ours, theirs], 1 if quick else 5, rng)
        per_bundle[f"{path.parent.parent.name}/{path.name}"] = ours.median / theirs.median
    ratios = sorted(per_bundle.values())
    return {
        "bundles": len(ratios),
        "min": ratios[0],
        "median": statistics.median(ratios),
        "max": ratios[-1],
        "per_bundle": per_bundle,
    }


def _peak_kib(function: Callable[[], object]) -> float:
    tracemalloc.start()
    try:
        function()
        return tracemalloc.get_traced_memory()[1] / 1024
    finally:
        tracemalloc.stop()


def run(seed: int, quick: bool) -> dict[str, Any]:
    """The discharge-path figures (see the module docstring); `quick` makes one small round of each (a test)."""
    from fhir.resources.R4B.bundle import Bundle

    rng = random.Random(seed)
    rounds, target = (1, 0.0) if quick else (5, 0.1)
    app = _app(Path(tempfile.mkdtemp(prefix="bench-discharge-")))
    # measured in the state `gateway serve` runs in: message profiles compiled, start-up's objects frozen
    frozen = heap.settle_gateway()
    intake = app.state.intake
    timed: dict[str, dict[str, Timed]] = {}
    notice_counts: dict[str, int] = {}
    for path, (name, media) in PATHS.items():
        body = (SAMPLES / name).read_bytes()
        notices = [notice.message for notice in intake.preview(body, media).notices]
        notice_counts[path] = len(notices)
        functions: dict[str, Callable[[], object]] = {
            "whole": lambda b=body, m=media: intake.preview(b, m),
            "orjson_floor": lambda n=notices: [orjson.loads(orjson.dumps(x)) for x in n],
            "fhir_resources_parse": lambda n=notices: [Bundle.model_validate(x) for x in n],
            **_stages(intake, body, media),
        }
        timed[path] = {key: Timed(f"{path}.{key}", function, target) for key, function in functions.items()}
    a03_body = (SAMPLES / PATHS["a03"][0]).read_bytes()
    parsers = {key: Timed(key, f, target) for key, f in _hl7_parsers(a03_body).items()}
    everything = [item for per_path in timed.values() for item in per_path.values()] + list(parsers.values())
    interleaved(everything, rounds, rng)

    paths: dict[str, Any] = {}
    for path, items in timed.items():
        whole = items["whole"].median
        plan = items["plan_lookup"].median
        stages = {
            "parse": items["parse"].median,
            "plan_lookup": plan,
            "mapping": max(items["build"].median - plan, 0.0),
            "validation": max(items["build_and_validation"].median - items["build"].median, 0.0),
        }
        paths[path] = {
            "input": PATHS[path][0],
            "notices": notice_counts[path],
            "ms_per_input": whole * 1e3,
            "inputs_per_s_per_core": 1 / whole,
            "ratio_to_orjson_floor": whole / items["orjson_floor"].median,
            "ratio_to_fhir_resources_parse": whole / items["fhir_resources_parse"].median,
            "orjson_floor_ms": items["orjson_floor"].median * 1e3,
            "fhir_resources_parse_ms": items["fhir_resources_parse"].median * 1e3,
            "stages_ms": {key: value * 1e3 for key, value in stages.items()},
            "plan_lookup_uncached_ms": items["plan_lookup_uncached"].median * 1e3,
            "stage_shares": {key: value / whole for key, value in stages.items()},
            "rounds_ms": [sample * 1e3 for sample in items["whole"].samples],
            "peak_memory_kib": _peak_kib(items["whole"].function),
        }
    reference = parsers["python_hl7"].median
    hl7_parse = {
        key: {"us_per_message": item.median * 1e6, "ratio_to_python_hl7": item.median / reference}
        for key, item in parsers.items()
    }
    return {
        "paths": paths,
        "hl7_parse": hl7_parse,
        "validator_vs_fhir_resources": _validator_ratio(intake, quick, rng),
        "max_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "frozen_objects": frozen,
        "rounds": rounds,
        "seconds_per_sample": target,
        "headline": {f"{path}: ms per input": figures["ms_per_input"] for path, figures in paths.items()}
        | {f"{path}: ratio to orjson floor": figures["ratio_to_orjson_floor"] for path, figures in paths.items()},
    }

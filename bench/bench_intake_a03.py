"""Where one ADT^A03 input's time goes in intake (no storing): parse, plan lookup, notice building, validation.

The demo discharge after its admission went in (so the stay's history is read too), previewed repeatedly on a
throw-away SQLite database; each step's share of the whole is printed from one run.

Run: .venv/bin/python bench/bench_intake_a03.py
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))

from bench.bench_inbound_hl7v2 import per_call as _per_call  # noqa: E402
from gateway.api import create_app  # noqa: E402
from gateway.clock import SequenceIds  # noqa: E402
from gateway.config import Settings  # noqa: E402
from gateway.fhir.access import OPEN  # noqa: E402
from mappings.context import MappingContext  # noqa: E402
from tests.support import scenario  # noqa: E402

HL7 = "x-application/hl7-v2+er7"


def main() -> None:
    folder = Path(tempfile.mkdtemp())
    scenario.write_directory(folder / "directory.yaml", "http://gp.test/fhir", "http://kommune.test/fhir")
    app = create_app(Settings(data_dir=folder, insecure_no_auth=True), ids=SequenceIds())
    app.state.plans.accept("http://gateway.test", scenario.plan_document())
    intake = app.state.intake
    asyncio.run(intake.accept(scenario.adt("adt_a01_inpatient_8859-1.hl7"), HL7))
    body = scenario.adt("adt_a03_discharge_8859-1.hl7")
    _kind, adt = intake.parse(body, HL7)
    ctx = MappingContext(now=intake.clock.now(), new_uuid=intake.ids.new_id)
    planning = intake._plan(adt, ctx, OPEN, False, ())

    whole = _per_call(lambda: intake.preview(body, HL7), rounds=30)
    parse = _per_call(lambda: intake.parse(body, HL7), rounds=30)
    plan = _per_call(lambda: intake.plans.current_plan_for(adt.patient.cpr), rounds=30)
    build = _per_call(lambda: intake._plan(adt, ctx, OPEN, False, ()), rounds=30) - plan
    check = _per_call(lambda: [intake.check(n.message) for n in planning.notices], rounds=30)
    print(f"one A03 previewed, {len(planning.notices)} notices     {whole * 1e3:7.2f} ms  1.00")
    for label, cost in (
        ("parse (hl7apy)", parse),
        ("plan lookup (store + plan_from_fhir)", plan),
        ("notices built (mappings + consent)", build),
        ("profile validation of the notices", check),
    ):
        print(f"  {label:<40} {cost * 1e3:7.2f} ms  {cost / whole:4.2f}")


if __name__ == "__main__":
    main()

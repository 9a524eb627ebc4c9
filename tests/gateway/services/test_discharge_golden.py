"""The discharge path makes the same notices, byte for byte, as before issue 18 made it faster (fresh UUIDs aside).

Every sample input (the demo stay, the death and no-charset A03s, the emergency A01, XDIS01, both XDIS91s,
MedCom's Flow 1 letter with its XBIN01, a relayed FHIR CareCommunication) is previewed and taken in on a fixed
clock, in story order, so later notices carry the stay's history. Each notice is serialised with its keys in the
order the mapping wrote them and compared with `tests/data/golden/discharge/<input>.json`, together with its
kind, recipient, disclosure, profile issues, what was withheld and the notes. Only the fresh identifiers
(`IdSource`) are normalised, by order of first appearance; the UUID v5 ids derived from the inputs stay as they are.

The golden files were written by the code before the speed work (`GOLDEN_UPDATE=1` rewrites them; never do that to
make a speed change pass).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi import FastAPI

from gateway.api import create_app
from gateway.clock import FixedClock, SequenceIds
from gateway.config import Settings
from gateway.inbound.limits import Limits
from gateway.inbound.oioxml import parse_oioxml
from gateway.services.results import Preview
from mappings.documents.discharge import BinaryLetter
from tests.support import scenario

GOLDEN = Path(__file__).parents[2] / "data" / "golden" / "discharge"
HL7 = "x-application/hl7-v2+er7"
XML = "application/xml"
#: Story order: the stay, then the other HL7 samples, the letters and the relayed FHIR message.
INPUTS: tuple[tuple[str, str], ...] = (
    ("adt_a01_inpatient_8859-1.hl7", HL7),
    ("adt_a21_leave_8859-1.hl7", HL7),
    ("adt_a22_return_8859-1.hl7", HL7),
    ("adt_a03_discharge_8859-1.hl7", HL7),
    ("adt_a13_cancel_discharge_8859-1.hl7", HL7),
    ("adt_a03_discharge_no_charset.hl7", HL7),
    ("adt_a01_emergency_utf8.hl7", HL7),
    ("adt_a03_death_8859-1.hl7", HL7),
    ("xdis01_iso-8859-1.xml", XML),
    ("xdis91_utf-8.xml", XML),
    ("xdis91_windows-1252.xml", XML),
    ("medcom/Flow1-XDIS91_Ex_to_FHIR.xml", XML),
    ("medcom/Bundle-k7bfbc0c-553d-11ed-bdc3-0242ac120002.json", "application/fhir+json"),
    ("medcom/Flow1-CareCommunication_Ex_from_OIOXML.xml", "application/fhir+xml"),
)
FRESH = re.compile(r"00000000-0000-4000-8000-\d{12}")


def _normalised(text: str) -> str:
    """Fresh ids (SequenceIds) renamed by order of first appearance: `fresh-1`, `fresh-2`, ..."""
    seen: dict[str, str] = {}
    return FRESH.sub(lambda m: seen.setdefault(m.group(0), f"fresh-{len(seen) + 1}"), text)


def _record(preview: Preview) -> str:
    notices = [
        {
            "kind": notice.kind,
            "recipient": notice.recipient.name,
            "disclosure": notice.disclosure,
            "carries": list(notice.carries) if notice.carries else None,
            "issues": [[i.severity, i.code, i.expression, i.message_id, i.diagnostics] for i in issues],
            # the bytes a receiver gets are this order of keys: json.dumps keeps the mapping's insertion order
            "message": json.dumps(notice.message, ensure_ascii=False, separators=(",", ":")),
        }
        for notice, issues in zip(preview.notices, preview.issues, strict=True)
    ]
    record = {"notices": notices, "withheld": [w.to_json() for w in preview.withheld], "notes": list(preview.notes)}
    return _normalised(json.dumps(record, ensure_ascii=False, indent=1)) + "\n"


def _golden_name(name: str) -> str:
    return name.replace("/", "_") + ".json"


async def _story(app: FastAPI) -> dict[str, str]:
    intake = app.state.intake
    app.state.plans.accept("http://gateway.test", scenario.plan_document())
    binary = parse_oioxml(scenario.medcom("Flow1-XBIN01_Ex_to_FHIR.xml"), limits=Limits())
    assert isinstance(binary, BinaryLetter)
    made: dict[str, str] = {}
    for name, media in INPUTS:
        body = (scenario.SAMPLES / "inbound" / name).read_bytes()
        binaries = binary.objects if name.startswith("medcom/Flow1-XDIS91") else ()
        made[name] = _record(intake.preview(body, media, binaries=binaries))
        if media == HL7:
            await intake.accept(body, media)
    return made


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("golden")
    scenario.write_flow1_directory(tmp / "directory.yaml", "http://gp.test/fhir", "http://kommune.test/fhir")
    clock = FixedClock(datetime(2026, 11, 30, 12, 0, tzinfo=UTC))
    app = create_app(Settings(data_dir=tmp, insecure_no_auth=True), clock=clock, ids=SequenceIds())
    made = asyncio.run(_story(app))
    if os.environ.get("GOLDEN_UPDATE") == "1":
        GOLDEN.mkdir(parents=True, exist_ok=True)
        for name, text in made.items():
            (GOLDEN / _golden_name(name)).write_text(text, encoding="utf-8")
    return made


@pytest.mark.parametrize("name", [name for name, _ in INPUTS])
def test_notices_are_the_golden_ones(outputs: dict[str, str], name: str) -> None:
    expected = (GOLDEN / _golden_name(name)).read_text(encoding="utf-8")
    assert outputs[name] == expected


def test_the_golden_files_hold_notices(outputs: dict[str, str]) -> None:
    """The comparison means something: the story makes notices, and several per discharge."""
    counts = {name: len(json.loads(text)["notices"]) for name, text in outputs.items()}
    assert counts["adt_a03_discharge_8859-1.hl7"] >= 3
    assert all(count >= 1 for name, count in counts.items() if not name.endswith("emergency_utf8.hl7")), counts


def test_normalising_renames_only_fresh_ids() -> None:
    derived = "6f1c5a52-3b0e-5d7a-9a43-0a5e8f0c2b11"
    text = f"00000000-0000-4000-8000-000000000007 {derived} 00000000-0000-4000-8000-000000000003 " * 2
    assert _normalised(text) == f"fresh-1 {derived} fresh-2 " * 2

"""The synthetic discharge scenario of the README demo, shared by the intake, end-to-end and crash tests.

`fixtures/samples/demo/plan.json` is the Slagelse sample plan for the citizen of the HL7 v2 samples (CPR
2509479989, synthetic; consent valid until 2099 so real-clock runs see it). `fixtures/samples/demo/directory.yaml`
knows the discharging hospital (sender, MSH-4), the GP (PD1 provider number 123456, the same organisation as the
plan's GP by SOR/GLN, so the consent's actor matches) and Slagelse municipality (0330, the consent's social worker).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "fixtures" / "samples"
DEMO = SAMPLES / "demo"
CPR = "2509479989"
DEMO_GP = "http://127.0.0.1:8081/fhir/$process-message"
DEMO_MUNICIPALITY = "http://127.0.0.1:8082/fhir/$process-message"


def plan_document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads((DEMO / "plan.json").read_text("utf-8"))
    return document


def adt(name: str) -> bytes:
    return (SAMPLES / "inbound" / name).read_bytes()


def adt_variant(name: str, control_id: str, visit_number: str) -> bytes:
    """A sample ADT message with its own MSH-10 control id and PV1-19 visit number (a new stay)."""
    out = []
    for segment in adt(name).split(b"\r"):
        fields = segment.split(b"|")
        if fields[0] == b"MSH":
            fields[9] = control_id.encode()
        elif fields[0] == b"PV1":
            fields[19] = visit_number.encode()
        out.append(b"|".join(fields))
    return b"\r".join(out)


def directory(gp_endpoint: str, municipality_endpoint: str) -> dict[str, Any]:
    """The demo directory with the GP and municipality endpoints replaced."""
    data: dict[str, Any] = yaml.safe_load((DEMO / "directory.yaml").read_text("utf-8"))
    replace = {DEMO_GP: gp_endpoint, DEMO_MUNICIPALITY: municipality_endpoint}
    for recipient in data["recipients"]:
        recipient["endpoint"] = replace[recipient["endpoint"]]
    return data


def write_directory(path: Path, gp_endpoint: str, municipality_endpoint: str) -> Path:
    path.write_text(yaml.safe_dump(directory(gp_endpoint, municipality_endpoint), allow_unicode=True), "utf-8")
    return path


def oversized_a01(repetitions: int = 30_000, fields: int = 8) -> bytes:
    """The demo A01 with `fields` PID fields of `repetitions` repetitions each (issue 16: 0.5 MB, 65 s of hl7apy)."""
    out = []
    for segment in adt("adt_a01_inpatient_8859-1.hl7").split(b"\r"):
        parts = segment.split(b"|")
        if parts[0] == b"PID":
            parts += [b""] * (30 - len(parts))
            for position in (6, 9, 10, 12, 13, 14, 15, 16)[:fields]:
                parts[position] = b"~".join([b"X"] * repetitions)
        out.append(b"|".join(parts))
    return b"\r".join(out)


def plan_for(cpr: str) -> dict[str, Any]:
    """The demo plan for another (synthetic) citizen: same team and consent, its own CPR and plan id."""
    document = plan_document()
    document["citizen"]["cpr"] = cpr
    document["source"]["value"] = f"KIP-{cpr}"
    return document


def adt_for(name: str, cpr: str, control_id: str, visit_number: str) -> bytes:
    """`adt_variant` for another citizen: PID-3's CPR number replaced as well."""
    return adt_variant(name, control_id, visit_number).replace(CPR.encode(), cpr.encode())

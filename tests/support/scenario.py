"""The synthetic admission/discharge scenario of the README demo, shared by the intake, end-to-end and crash tests.

One citizen throughout: Søren Ærling Østergård (CPR 2509479989, synthetic, male), living at Botilbuddet
Solsikken in Slagelse (municipality 0330), GP Lægerne i Slagelse Bymidte (provider number 123456), admitted to and
discharged from Psykiatrisk Center Øst (MSH-4 SOR 265161000016000). `fixtures/samples/demo/plan.json` is his
plan, kept by the FACT team (source SOR 329631000016003); its consent (valid until 2099 so real-clock runs see it)
permits the ward, the GP, the municipality and the coordinator's botilbud. `fixtures/samples/demo/directory.yaml`
knows each of them.
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


#: MedCom's conversion example Flow 1 (`fixtures/samples/inbound/medcom/Flow1-*`): the parties MedCom's conversion
#: service found in the SOR directory for it (its output names them), and the letter's author.
FLOW1_SENDER = {
    "name": "MedCom testcenter",
    "sor": "359001000016000",
    "gln": "5790001382445",
    "signatory": {"family": "Petersen", "given": ["K."], "phone": "65432030", "role_code": "overlaege"},
}
FLOW1_RECEIVER = {"name": "Social og Sundhed Odense Kommune", "role": "municipality", "sor": "328051000016008",
                  "gln": "5790000121441"}  # fmt: skip


def write_flow1_directory(path: Path, gp_endpoint: str, municipality_endpoint: str) -> Path:
    """The demo directory plus MedCom's Flow 1 sender and receiver (the receiver at the municipality endpoint)."""
    data = directory(gp_endpoint, municipality_endpoint)
    data["senders"].append(FLOW1_SENDER)
    data["recipients"].append(FLOW1_RECEIVER | {"endpoint": municipality_endpoint})
    path.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    return path


def medcom(name: str) -> bytes:
    return (SAMPLES / "inbound" / "medcom" / name).read_bytes()

"""A synthetic discharge scenario shared by the intake, end-to-end and crash tests.

The citizen of the HL7 v2 samples (CPR 2509479989, synthetic) gets the Slagelse sample plan; the directory knows
the discharging hospital (sender, from MSH-4), the GP (PD1 provider number 123456, the same organisation as the
plan's GP by SOR/GLN, so the consent's actor matches) and Slagelse municipality (0330, the consent's social worker).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "fixtures" / "samples"
CPR = "2509479989"


def plan_document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads((SAMPLES / "plans" / "kip-slagelse-botilbud.json").read_text("utf-8"))
    document = copy.deepcopy(document)
    document["citizen"]["cpr"] = CPR
    # Valid whatever day the tests run (real processes read the real clock).
    document["consent"]["period"] = {"start": "2025-03-04", "end": "2099-03-03"}
    return document


def adt(name: str) -> bytes:
    return (SAMPLES / "inbound" / name).read_bytes()


def directory(gp_endpoint: str, municipality_endpoint: str) -> dict[str, Any]:
    return {
        "senders": [
            {
                "name": "Psykiatrisk Center Øst",
                "sor": "265161000016000",
                "gln": "5790000209354",
                "signatory": {"family": "Jensen", "given": ["Anne"], "phone": "38640000", "role_code": "overlaege"},
            }
        ],
        "recipients": [
            {
                "name": "Lægerne i Slagelse Bymidte",
                "role": "gp",
                "endpoint": gp_endpoint,
                "sor": "481561000016002",
                "gln": "5790000167814",
                "provider_number": "123456",
            },
            {
                "name": "Slagelse Kommune, Socialpsykiatri",
                "role": "municipality",
                "endpoint": municipality_endpoint,
                "sor": "375431000016008",
                "gln": "5790001348120",
                "municipality": "0330",
            },
            {
                "name": "Lægehuset Ølstykke",
                "role": "gp",
                "endpoint": gp_endpoint,
                "sor": "123456789012",
                "gln": "5790000128686",
                "provider_number": "291714",
            },
        ],
    }


def write_directory(path: Path, gp_endpoint: str, municipality_endpoint: str) -> Path:
    path.write_text(yaml.safe_dump(directory(gp_endpoint, municipality_endpoint), allow_unicode=True), "utf-8")
    return path


def adt_variant(name: str, control_id: str, visit_number: str) -> bytes:
    """A sample ADT message with its own MSH-10 control id and PV1-19 visit number (a new stay)."""
    segments = adt(name).split(b"\r")
    out = []
    for segment in segments:
        fields = segment.split(b"|")
        if fields[0] == b"MSH":
            fields[9] = control_id.encode()
        elif fields[0] == b"PV1":
            fields[19] = visit_number.encode()
        out.append(b"|".join(fields))
    return b"\r".join(out)

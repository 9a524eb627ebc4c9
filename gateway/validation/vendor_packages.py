"""Rebuild the FHIR packages shipped in `gateway/validation/packages/` from a folder of published ones.

Run once by a maintainer (not at run time): `python -m gateway.validation.vendor_packages ../shared/reference/packages`.

The MedCom and DK-core packages are copied byte for byte. The two large HL7 packages are *trimmed*: only the
conformance resources a validator reads (StructureDefinition, ValueSet, CodeSystem) are kept and their narrative
`text` is dropped, so the wheel carries a few MB instead of 23 MB:

* `hl7.fhir.r4.core` 4.0.1 is built from `hl7.fhir.r4.examples` 4.0.1, which carries the R4 core definitions
  (`hl7.fhir.r4.core` has no release on the npm registry, see the reference packages' README);
* `hl7.terminology.r4` 7.0.1 (v3 ActCode, v2 tables, ...) is trimmed the same way.
"""

from __future__ import annotations

import io
import json
import shutil
import sys
import tarfile
from pathlib import Path
from typing import Any

SHIPPED = Path(__file__).resolve().parent / "packages"

#: Copied unchanged: every MedCom / DK-core package some MedCom message type's dependency closure needs.
COPIED = (
    "hl7.fhir.dk.core/2.0.0",
    "hl7.fhir.dk.core/3.4.0",
    "hl7.fhir.dk.core/3.5.0",
    "medcom.fhir.dk.acknowledgement/2.0.3",
    "medcom.fhir.dk.carecommunication/5.0.2",
    "medcom.fhir.dk.core/2.0.0",
    "medcom.fhir.dk.core/2.0.1",
    "medcom.fhir.dk.core/2.3.0",
    "medcom.fhir.dk.core/2.4.0",
    "medcom.fhir.dk.core/3.0.1",
    "medcom.fhir.dk.core/4.0.0",
    "medcom.fhir.dk.hospitalnotification/3.0.2",
    "medcom.fhir.dk.messagedefinitions/1.0.0",
    "medcom.fhir.dk.messaging/2.1.0",
    "medcom.fhir.dk.messaging/4.0.2",
    "medcom.fhir.dk.terminology/1.1.1",
    "medcom.fhir.dk.terminology/1.4.0",
    "medcom.fhir.dk.terminology/1.8.1",
    "medcom.fhir.dk.terminology/2.0.1",
    "medcom.fhir.dk.terminology/2.0.2",
)

#: (source folder, shipped name, shipped version)
TRIMMED = (
    ("hl7.fhir.r4.examples/4.0.1", "hl7.fhir.r4.core", "4.0.1"),
    ("hl7.terminology.r4/7.0.1", "hl7.terminology.r4", "7.0.1"),
    ("hl7.fhir.uv.extensions.r4/5.3.0-ballot-tc1", "hl7.fhir.uv.extensions.r4", "5.3.0-ballot-tc1"),
)
KEPT_TYPES = frozenset({"StructureDefinition", "ValueSet", "CodeSystem"})


def _trim(source: Path, target: Path, name: str, version: str) -> None:
    buffer = io.BytesIO()
    with tarfile.open(source) as original, tarfile.open(fileobj=buffer, mode="w:gz") as trimmed:
        for member in original.getmembers():
            if not member.isfile() or not member.name.endswith(".json") or member.name.count("/") != 1:
                continue
            handle = original.extractfile(member)
            if handle is None:
                continue
            resource: dict[str, Any] = json.load(handle)
            if member.name == "package/package.json":
                resource = {**resource, "name": name, "version": version, "x-trimmed-from": str(source)}
            elif resource.get("resourceType") not in KEPT_TYPES:
                continue
            else:
                resource.pop("text", None)
            data = json.dumps(resource, ensure_ascii=False, separators=(",", ":")).encode()
            info = tarfile.TarInfo(member.name)
            info.size = len(data)
            trimmed.addfile(info, io.BytesIO(data))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(buffer.getvalue())


def main(reference: Path) -> None:
    for folder in COPIED:
        target = SHIPPED / folder / "package.tgz"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(reference / folder / "package.tgz", target)
    for folder, name, version in TRIMMED:
        _trim(reference / folder / "package.tgz", SHIPPED / name / version / "package.tgz", name, version)


if __name__ == "__main__":
    main(Path(sys.argv[1]))

"""HL7 v2.x ADT messages in, `AdtEvent` out: ADT^A01 (admit), A03 (discharge), A13 (cancel discharge),
A21 (leave of absence out), A22 (back from leave).

Steps: size check → charset from MSH-18 (read from the raw MSH bytes, which are ASCII by rule) → decode →
segment/field limits → hl7apy parses the segments the notices use (`gateway.inbound.hl7v2_segments`: the parser
of record, and the only reader) → fields are read by position from hl7apy's parse with HL7 escape sequences
undone, each missing or invalid one reported as `PID-3.1`-style locations.

Charset (MSH-18, HL7 table 0211): `8859/1` → ISO-8859-1, `8859/15` → ISO-8859-15, `UNICODE UTF-8` → UTF-8,
`ASCII` → ASCII. Documented fallback when MSH-18 is empty: UTF-8 if the bytes are valid UTF-8, otherwise
ISO-8859-1 (HL7 says "ASCII" by default, but Danish senders routinely leave MSH-18 empty and send 8859/1 letters).

Field maps follow the HL7 Version 2 to FHIR IG (http://hl7.org/fhir/uv/v2mappings/, ConceptMaps
`segment-pv1-to-encounter`, `segment-pid-to-patient`, `segment-pd1-to-patient`,
`conceptmap-v2-0004-to-encounter-class`):
PID-3 → Patient.identifier, PID-5 → Patient.name, PID-11 → Patient.address, PID-29/30 → Patient.deceased[x],
PV1-2 → Encounter.class (E → EMER, I → IMP, via `mappings/conceptmaps`), PV1-19 → visit identifier (here: the
MedCom episode-of-care identifier), PV1-44 → Encounter.period.start, PV1-45 → Encounter.period.end,
PD1-4 / ROL-4 (role PP) → Patient.generalPractitioner.
Cost: `bench/bench_inbound_hl7v2.py` prints, in one run, this parse against python-hl7's parse of the same message.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import get_args

from gateway.inbound.hl7v2_segments import Delimiters, Segment, issue, parse_segments
from gateway.inbound.limits import Limits
from gateway.inbound.oioxml import DANISH_TIME
from mappings.conceptmaps import translate
from mappings.documents.discharge import AdtEvent, Citizen, EncounterClass, GeneralPractitioner
from mappings.explain import Origin

SUPPORTED_TRIGGERS = ("A01", "A03", "A13", "A21", "A22")
_CHARSETS = {
    "": None,
    "ASCII": "ascii",
    "8859/1": "latin-1",
    "8859/15": "iso8859-15",
    "UNICODE UTF-8": "utf-8",
    "UTF-8": "utf-8",
}
_DTM = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.\d{1,4})?([+-]\d{4})?$")


_issue = issue


def _decode(data: bytes) -> tuple[str, str]:
    body = data.strip(b"\x0b\x1c\r\n ")
    if not body.startswith(b"MSH") or len(body) < 8:
        raise _issue("structure", "MSH", "an HL7 v2 message must start with an MSH segment", "hl7v2.no-msh")
    separator = body[3:4]
    first_line = re.split(rb"\r\n|\r|\n", body, maxsplit=1)[0]
    msh = first_line.split(separator)
    label = msh[17].decode("ascii", errors="replace").split("^")[0].strip() if len(msh) > 17 else ""
    if label.upper() not in _CHARSETS:
        raise _issue("not-supported", "MSH-18", f"character set {label!r} is not supported", "hl7v2.charset")
    codec = _CHARSETS[label.upper()]
    if codec is None:
        try:
            return body.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            return body.decode("latin-1"), "latin-1"
    try:
        return body.decode(codec), codec
    except UnicodeDecodeError as exc:
        line = body[: exc.start].count(b"\r") + body[: exc.start].count(b"\n") + 1
        raise _issue(
            "structure",
            f"segment {line}",
            f"MSH-18 declares {label!r} but byte 0x{body[exc.start]:02X} is not valid in it",
            "hl7v2.charset",
        ) from None


def _lines(text: str, limits: Limits) -> tuple[list[str], Delimiters]:
    """The message's segments as text, checked against the limits before anything is parsed."""
    lines = [line for line in re.split(r"\r\n|\r|\n", text) if line.strip()]
    if len(lines) > limits.max_hl7_segments:
        raise _issue(
            "too-costly",
            f"segment {limits.max_hl7_segments + 1}",
            f"message has {len(lines)} segments; the limit is {limits.max_hl7_segments}",
            "hl7v2.too-many-segments",
        )
    field_separator = lines[0][3]
    encoding = lines[0][4:8]
    if len(encoding) < 4 or field_separator in encoding:
        raise _issue("structure", "MSH-2", "MSH-2 must hold the four encoding characters", "hl7v2.msh-2")
    delimiters = Delimiters(field_separator, encoding[0], encoding[1], encoding[2], encoding[3])
    for index, line in enumerate(lines, start=1):
        name = line[:3]
        if not re.fullmatch(r"[A-Z][A-Z0-9]{2}", name):
            raise _issue("structure", f"segment {index}", f"{name!r} is not a segment name", "hl7v2.segment")
        for position, value in enumerate(line.split(field_separator)[1:], start=2 if name == "MSH" else 1):
            if len(value) > limits.max_hl7_field_length:
                raise _issue(
                    "too-long",
                    f"{name}-{position}",
                    f"field is {len(value)} characters; the limit is {limits.max_hl7_field_length}",
                    "hl7v2.field-too-long",
                )
    return lines, delimiters


def _version(msh_line: str, separator: str) -> str:
    """MSH-12 (version id, first component), needed before hl7apy can parse anything."""
    parts = msh_line.split(separator)
    return parts[11].split("^")[0].strip() if len(parts) > 11 else ""


def parse_hl7_datetime(value: str, location: str) -> datetime:
    """An HL7 DTM (`YYYY[MM[DD[HH[MM[SS[.S]]]]]][+/-ZZZZ]`); without an offset it is Danish local time."""
    match = _DTM.match(value)
    if match is None:
        raise _issue("value", location, f"{value!r} is not an HL7 date/time (YYYYMMDDHHMM[SS][+ZZZZ])", "hl7v2.dtm")
    year, month, day, hour, minute, second, offset = match.groups()
    try:
        naive = datetime(int(year), int(month or 1), int(day or 1), int(hour or 0), int(minute or 0), int(second or 0))
    except ValueError:
        raise _issue("value", location, f"{value!r} is not a valid date/time", "hl7v2.dtm") from None
    if offset is None:
        return naive.replace(tzinfo=DANISH_TIME)
    sign = 1 if offset[0] == "+" else -1
    delta = timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5]))
    return naive.replace(tzinfo=timezone(sign * delta))


_PATIENT_SOURCES = (
    ("cpr", Origin("input", "PID-3.1 (the repetition assigned by CPR)")),
    ("family", Origin("input", "PID-5.1")),
    ("given", Origin("input", "PID-5.2, PID-5.3")),
    ("street", Origin("input", "PID-11.1")),
    ("city", Origin("input", "PID-11.3")),
    ("postal_code", Origin("input", "PID-11.5")),
    ("deceased", Origin("input", "PID-30 (or PID-29)")),
)


def _optional_datetime(segment: Segment | None, field: int) -> datetime | None:
    if segment is None:
        return None
    value = segment.get(field)
    return parse_hl7_datetime(value, f"{segment.name}-{field}") if value else None


def _cpr(pid: Segment) -> str:
    """PID-3: the repetition assigned by `CPR` (CX-4) or typed `NNDNK` (CX-5), else the only one."""
    count = pid.repetitions(3)
    chosen = None
    for index in range(count):
        authority = pid.get(3, 4, repetition=index).upper()
        id_type = pid.get(3, 5, repetition=index).upper()
        if authority.startswith("CPR") or id_type == "NNDNK":
            chosen = index
            break
    if chosen is None and count == 1:
        chosen = 0
    if chosen is None:
        raise _issue("required", "PID-3", "no CPR number in PID-3 (CX-4 'CPR' or CX-5 'NNDNK')", "hl7v2.cpr-missing")
    cpr = pid.get(3, 1, repetition=chosen).replace("-", "")
    location = f"PID-3[{chosen}].1" if chosen else "PID-3.1"
    if not re.fullmatch(r"\d{10}", cpr):
        raise _issue("value", location, f"{cpr!r} is not a 10-digit CPR number", "hl7v2.cpr-invalid")
    return cpr


def _general_practitioner(pd1: Segment | None, roles: list[Segment]) -> GeneralPractitioner | None:
    for rol in roles:
        if rol.get(3).upper() == "PP":
            return _practitioner(rol, 4)
    if pd1 is not None and pd1.get(4):
        return _practitioner(pd1, 4)
    return None


def _practitioner(segment: Segment, field: int) -> GeneralPractitioner:
    identifier = segment.get(field, 1)
    authority = segment.get(field, 9).upper()
    name = " ".join(part for part in (segment.get(field, 3), segment.get(field, 2)) if part) or None
    is_sor = authority.startswith("SOR")
    return GeneralPractitioner(
        name=name,
        provider_number=None if is_sor else identifier or None,
        sor=identifier if is_sor else None,
    )


def parse_hl7v2(data: bytes, *, limits: Limits) -> AdtEvent:
    """Parse one HL7 v2.x ADT^A01/A03/A13/A21/A22 message (ER7 bytes, optionally MLLP-framed)."""
    limits.check_size(data)
    text, charset = _decode(data)
    lines, delimiters = _lines(text, limits)
    by_name = parse_segments(lines, delimiters, _version(lines[0], delimiters.field))
    msh = by_name["MSH"][0]
    message_type, trigger = msh.get(9, 1), msh.get(9, 2)
    if message_type != "ADT" or trigger not in SUPPORTED_TRIGGERS:
        raise _issue(
            "not-supported",
            "MSH-9",
            f"message type {message_type}^{trigger} is not converted; accepted: ADT^{'/'.join(SUPPORTED_TRIGGERS)}",
            "hl7v2.message-type",
        )
    control_id = msh.get(10)
    if not control_id:
        raise _issue("required", "MSH-10", "MSH-10 (message control id) is empty", "hl7v2.control-id-missing")
    for required in ("PID", "PV1"):
        if required not in by_name:
            raise _issue("required", required, f"ADT^{trigger} without a {required} segment", "hl7v2.segment-missing")
    pid, pv1 = by_name["PID"][0], by_name["PV1"][0]
    evn = by_name.get("EVN", [None])[0]
    message_time = msh.get(7)
    if not message_time:
        raise _issue("required", "MSH-7", "MSH-7 (date/time of message) is empty", "hl7v2.msh-7-missing")
    patient_class = pv1.get(2)
    if not patient_class:
        raise _issue("required", "PV1-2", "PV1-2 (patient class) is empty", "hl7v2.patient-class-missing")
    encounter_class = translate("v2-0004-to-medcom-encounter-class", patient_class)
    given = tuple(part for part in (pid.get(5, 2), *pid.get(5, 3).split()) if part)
    death_indicator = pid.get(30).upper() == "Y" or bool(pid.get(29))
    return AdtEvent(
        trigger=trigger,
        message_control_id=control_id,
        sending_application=msh.raw(3),
        sending_facility=msh.raw(4),
        receiving_application=msh.raw(5),
        receiving_facility=msh.raw(6),
        message_time=parse_hl7_datetime(message_time, "MSH-7"),
        version=msh.get(12),
        charset=charset,
        patient=Citizen(
            cpr=_cpr(pid),
            family=pid.get(5, 1) or None,
            given=given,
            street=pid.get(11, 1) or None,
            city=pid.get(11, 3) or None,
            postal_code=pid.get(11, 5) or None,
            deceased=death_indicator,
            sources=_PATIENT_SOURCES,
        ),
        patient_class=patient_class,
        encounter_class=encounter_class if encounter_class in get_args(EncounterClass) else None,  # type: ignore[arg-type]
        visit_number=pv1.get(19) or None,
        admitted=_optional_datetime(pv1, 44),
        discharged=_optional_datetime(pv1, 45),
        event_occurred=_optional_datetime(evn, 6) or _optional_datetime(evn, 2),
        general_practitioner=_general_practitioner(by_name.get("PD1", [None])[0], by_name.get("ROL", [])),
        message_structure=msh.get(9, 3) or f"ADT_{trigger}",
        processing_id=msh.get(11) or "P",
    )

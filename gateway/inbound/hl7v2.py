"""HL7 v2.x ADT messages in, `AdtEvent` out: ADT^A01 (admit), A03 (discharge), A13 (cancel discharge),
A21 (leave of absence out), A22 (back from leave).

Steps: size check → charset from MSH-18 (read from the raw MSH bytes, which are ASCII by rule) → decode →
segment/field limits → hl7apy parses the message (structure, segment names, version) → fields are read by
position with HL7 escape sequences undone, each missing or invalid one reported as `PID-3.1`-style locations.

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
Cost: hl7apy needs about 15 ms per ADT message here (bench/bench_inbound_hl7v2.py prints the ratio to a plain split).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import get_args

from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.exceptions import HL7apyException
from hl7apy.parser import parse_message

from gateway.inbound.limits import Limits
from gateway.inbound.oioxml import DANISH_TIME
from mappings.conceptmaps import translate
from mappings.documents.discharge import AdtEvent, Citizen, EncounterClass, GeneralPractitioner
from mappings.issues import Issue, IssueError

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


def _issue(code: str, location: str, diagnostics: str, message_id: str) -> IssueError:
    return IssueError((Issue("error", code, diagnostics, location, message_id),))  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class _Delimiters:
    field: str
    component: str
    repetition: str
    escape: str
    subcomponent: str

    def unescape(self, value: str) -> str:
        if self.escape not in value:
            return value
        replacements = {
            "F": self.field,
            "S": self.component,
            "R": self.repetition,
            "E": self.escape,
            "T": self.subcomponent,
        }
        esc = re.escape(self.escape)

        def one(match: re.Match[str]) -> str:
            body = match.group(1)
            if body in replacements:
                return replacements[body]
            if body.startswith("X") and len(body) > 1:
                try:
                    return bytes.fromhex(body[1:]).decode("latin-1")
                except ValueError:
                    return match.group(0)
            if body in (".br", "H", "N"):
                return "\n" if body == ".br" else ""
            return match.group(0)

        return re.sub(f"{esc}([^{esc}]*){esc}", one, value)


class _Segment:
    """One segment's fields by HL7 position (field 1 is the first after the segment name)."""

    def __init__(self, name: str, fields: list[str], delimiters: _Delimiters) -> None:
        self.name = name
        self.fields = fields
        self.d = delimiters

    def repetitions(self, field: int) -> list[str]:
        raw = self.fields[field] if field < len(self.fields) else ""
        return [rep for rep in raw.split(self.d.repetition)] if raw else []

    def raw(self, field: int) -> str:
        """The whole first repetition of a field (components kept), e.g. an HD `RHP^2651...^SOR`."""
        reps = self.repetitions(field)
        return reps[0].strip() if reps else ""

    def get(self, field: int, component: int = 1, subcomponent: int = 1, repetition: int = 0) -> str:
        reps = self.repetitions(field)
        if repetition >= len(reps):
            return ""
        components = reps[repetition].split(self.d.component)
        if component > len(components):
            return ""
        subs = components[component - 1].split(self.d.subcomponent)
        if subcomponent > len(subs):
            return ""
        return self.d.unescape(subs[subcomponent - 1]).strip()


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


def _segments(text: str, limits: Limits) -> tuple[list[_Segment], _Delimiters]:
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
    delimiters = _Delimiters(field_separator, encoding[0], encoding[1], encoding[2], encoding[3])
    segments: list[_Segment] = []
    for index, line in enumerate(lines, start=1):
        name = line[:3]
        parts = line.split(field_separator)
        if name == "MSH":
            parts = ["MSH", field_separator, *parts[1:]]
        for position, value in enumerate(parts[1:], start=1):
            if len(value) > limits.max_hl7_field_length:
                raise _issue(
                    "too-long",
                    f"{name}-{position}",
                    f"field is {len(value)} characters; the limit is {limits.max_hl7_field_length}",
                    "hl7v2.field-too-long",
                )
            if value.count(delimiters.repetition) >= limits.max_hl7_repetitions and name != "MSH":
                raise _issue(
                    "too-costly",
                    f"{name}-{position}",
                    f"field repeats {value.count(delimiters.repetition) + 1} times; the limit is "
                    f"{limits.max_hl7_repetitions}",
                    "hl7v2.too-many-repetitions",
                )
        if not re.fullmatch(r"[A-Z][A-Z0-9]{2}", name):
            raise _issue("structure", f"segment {index}", f"{name!r} is not a segment name", "hl7v2.segment")
        segments.append(_Segment(name, parts, delimiters))
    elements = sum(text.count(c) for c in (field_separator, *encoding[:2], encoding[3]))
    if elements > limits.max_hl7_elements:
        raise _issue(
            "too-costly",
            "MSH",
            f"message has {elements} fields, repetitions and components; the limit is {limits.max_hl7_elements}",
            "hl7v2.too-many-elements",
        )
    return segments, delimiters


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


def _optional_datetime(segment: _Segment | None, field: int) -> datetime | None:
    if segment is None:
        return None
    value = segment.get(field)
    return parse_hl7_datetime(value, f"{segment.name}-{field}") if value else None


def _cpr(pid: _Segment) -> str:
    """PID-3: the repetition assigned by `CPR` (CX-4) or typed `NNDNK` (CX-5), else the only one."""
    reps = pid.repetitions(3)
    chosen = None
    for index in range(len(reps)):
        authority = pid.get(3, 4, repetition=index).upper()
        id_type = pid.get(3, 5, repetition=index).upper()
        if authority.startswith("CPR") or id_type == "NNDNK":
            chosen = index
            break
    if chosen is None and len(reps) == 1:
        chosen = 0
    if chosen is None:
        raise _issue("required", "PID-3", "no CPR number in PID-3 (CX-4 'CPR' or CX-5 'NNDNK')", "hl7v2.cpr-missing")
    cpr = pid.get(3, 1, repetition=chosen).replace("-", "")
    location = f"PID-3[{chosen}].1" if chosen else "PID-3.1"
    if not re.fullmatch(r"\d{10}", cpr):
        raise _issue("value", location, f"{cpr!r} is not a 10-digit CPR number", "hl7v2.cpr-invalid")
    return cpr


def _general_practitioner(pd1: _Segment | None, roles: list[_Segment]) -> GeneralPractitioner | None:
    for rol in roles:
        if rol.get(3).upper() == "PP":
            return _practitioner(rol, 4)
    if pd1 is not None and pd1.get(4):
        return _practitioner(pd1, 4)
    return None


def _practitioner(segment: _Segment, field: int) -> GeneralPractitioner:
    identifier = segment.get(field, 1)
    authority = segment.get(field, 9).upper()
    name = " ".join(part for part in (segment.get(field, 3), segment.get(field, 2)) if part) or None
    is_sor = authority.startswith("SOR")
    return GeneralPractitioner(
        name=name,
        provider_number=None if is_sor else identifier or None,
        sor=identifier if is_sor else None,
    )


def _parse_with_hl7apy(text: str) -> None:
    """Let hl7apy check the message structure; its exceptions become located issues."""
    try:
        parse_message(
            "\r".join(re.split(r"\r\n|\r|\n", text.strip())),
            find_groups=False,
            validation_level=VALIDATION_LEVEL.TOLERANT,
        )
    except HL7apyException as exc:
        raise _issue("structure", "MSH", f"HL7 v2 parser rejected the message: {exc}", "hl7v2.syntax") from None


def parse_hl7v2(data: bytes, *, limits: Limits) -> AdtEvent:
    """Parse one HL7 v2.x ADT^A01/A03/A13/A21/A22 message (ER7 bytes, optionally MLLP-framed)."""
    limits.check_size(data)
    text, charset = _decode(data)
    segments, _delimiters = _segments(text, limits)
    by_name: dict[str, list[_Segment]] = {}
    for segment in segments:
        by_name.setdefault(segment.name, []).append(segment)
    msh = segments[0]
    message_type, trigger = msh.get(9, 1), msh.get(9, 2)
    if message_type != "ADT" or trigger not in SUPPORTED_TRIGGERS:
        raise _issue(
            "not-supported",
            "MSH-9",
            f"message type {message_type}^{trigger} is not converted; accepted: ADT^{'/'.join(SUPPORTED_TRIGGERS)}",
            "hl7v2.message-type",
        )
    _parse_with_hl7apy(text)
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

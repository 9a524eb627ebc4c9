"""HL7 v2 ADT parsing: each trigger, charsets from MSH-18, located errors for broken or hostile input."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from gateway.inbound.hl7v2 import parse_hl7_datetime, parse_hl7v2
from gateway.inbound.limits import Limits
from mappings.issues import IssueError

SAMPLES = Path(__file__).parents[3] / "fixtures" / "samples" / "inbound"
LIMITS = Limits()
CET = timezone(timedelta(hours=1))


def _sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


@pytest.mark.parametrize(
    ("name", "trigger", "encounter_class", "charset"),
    [
        ("adt_a01_inpatient_8859-1.hl7", "A01", "IMP", "latin-1"),
        ("adt_a01_emergency_utf8.hl7", "A01", "EMER", "utf-8"),
        ("adt_a03_discharge_8859-1.hl7", "A03", "IMP", "latin-1"),
        ("adt_a13_cancel_discharge_8859-1.hl7", "A13", "IMP", "latin-1"),
        ("adt_a21_leave_8859-1.hl7", "A21", "IMP", "latin-1"),
        ("adt_a22_return_8859-1.hl7", "A22", "IMP", "latin-1"),
    ],
)
def test_each_adt_trigger_parses_with_danish_letters(
    name: str, trigger: str, encounter_class: str, charset: str
) -> None:
    event = parse_hl7v2(_sample(name), limits=LIMITS)
    assert event.trigger == trigger
    assert event.encounter_class == encounter_class
    assert event.charset == charset
    assert event.patient.cpr == "2509479989"
    assert event.patient.family == "Østergård"
    assert event.patient.given == ("Søren", "Ærling")
    assert event.patient.city == "Slagelse"
    assert event.visit_number == "bd481c38a92111edafa10242ac120002"
    assert event.admitted == datetime(2024, 2, 20, 8, 30, tzinfo=CET)


def test_discharge_reads_pv1_45_msh_10_and_the_gp() -> None:
    event = parse_hl7v2(_sample("adt_a03_discharge_8859-1.hl7"), limits=LIMITS)
    assert event.discharged == datetime(2024, 3, 1, 10, 10, tzinfo=CET)
    assert event.message_control_id == "SP0005"
    assert event.sending_facility == "RHP^265161000016000^SOR"
    assert event.general_practitioner is not None
    assert event.general_practitioner.provider_number == "123456"
    assert event.general_practitioner.name == "Peter Æbelø"
    assert event.source_key == "hl7v2|SP-PSYK|RHP^265161000016000^SOR|SP0005"


def test_pid_30_marks_death() -> None:
    assert parse_hl7v2(_sample("adt_a03_death_8859-1.hl7"), limits=LIMITS).patient.deceased
    assert not parse_hl7v2(_sample("adt_a03_discharge_8859-1.hl7"), limits=LIMITS).patient.deceased


def test_empty_msh_18_falls_back_to_latin1_when_not_utf8() -> None:
    event = parse_hl7v2(_sample("adt_a03_discharge_no_charset.hl7"), limits=LIMITS)
    assert event.charset == "latin-1"
    assert event.patient.family == "Østergård"


def test_empty_msh_18_reads_utf8_when_valid() -> None:
    data = _sample("adt_a01_emergency_utf8.hl7").replace(b"|UNICODE UTF-8", b"|")
    event = parse_hl7v2(data, limits=LIMITS)
    assert (event.charset, event.patient.given[0]) == ("utf-8", "Søren")


def test_declared_utf8_with_latin1_bytes_is_refused_with_location() -> None:
    data = _sample("adt_a01_inpatient_8859-1.hl7").replace(b"|8859/1", b"|UNICODE UTF-8")
    with pytest.raises(IssueError) as exc:
        parse_hl7v2(data, limits=LIMITS)
    assert exc.value.issues[0].message_id == "hl7v2.charset"
    assert exc.value.issues[0].expression == "segment 3"


def test_mllp_framing_and_lf_separators_are_accepted() -> None:
    data = b"\x0b" + _sample("adt_a03_discharge_8859-1.hl7").replace(b"\r", b"\n") + b"\x1c\r"
    assert parse_hl7v2(data, limits=LIMITS).trigger == "A03"


@pytest.mark.parametrize(
    ("mutate", "message_id", "expression"),
    [
        (lambda d: d.replace(b"2509479989^^^CPR^NNDNK", b"12345^^^CPR^NNDNK"), "hl7v2.cpr-invalid", "PID-3.1"),
        (lambda d: d.replace(b"|SP0005|", b"||"), "hl7v2.control-id-missing", "MSH-10"),
        (lambda d: d.replace(b"ADT^A03^ADT_A03", b"ORU^R01^ORU_R01"), "hl7v2.message-type", "MSH-9"),
        (lambda d: d.replace(b"|8859/1", b"|8859/7"), "hl7v2.charset", "MSH-18"),
        (lambda d: d.replace(b"PV1|1|I|", b"PV1|1||"), "hl7v2.patient-class-missing", "PV1-2"),
        (lambda d: d.split(b"PV1|")[0], "hl7v2.segment-missing", "PV1"),
        (lambda d: d.replace(b"20240220083000+0100", b"2024022X"), "hl7v2.dtm", "PV1-44"),
        (lambda d: b"PID|1||x\r", "hl7v2.no-msh", "MSH"),
        (lambda d: d.replace(b"MSH|^~\\&|", b"MSH|^~|"), "hl7v2.msh-2", "MSH-2"),
    ],
)
def test_broken_messages_give_located_issues(mutate: object, message_id: str, expression: str) -> None:
    data = mutate(_sample("adt_a03_discharge_8859-1.hl7"))  # type: ignore[operator]
    with pytest.raises(IssueError) as exc:
        parse_hl7v2(data, limits=LIMITS)
    assert (exc.value.issues[0].message_id, exc.value.issues[0].expression) == (message_id, expression)


def test_segment_and_field_limits() -> None:
    data = _sample("adt_a03_discharge_8859-1.hl7")
    with pytest.raises(IssueError) as exc:
        parse_hl7v2(data + b"NTE|1||x\r" * 2000, limits=LIMITS)
    assert exc.value.issues[0].message_id == "hl7v2.too-many-segments"
    with pytest.raises(IssueError) as exc:
        parse_hl7v2(data + b"NTE|1||" + b"x" * 70_000 + b"\r", limits=LIMITS)
    assert (exc.value.issues[0].message_id, exc.value.issues[0].expression) == ("hl7v2.field-too-long", "NTE-3")


def test_50_mb_message_is_refused() -> None:
    with pytest.raises(IssueError) as exc:
        parse_hl7v2(b"MSH|" + b"x" * (50 * 1024 * 1024), limits=LIMITS)
    assert exc.value.issues[0].message_id == "inbound.too-large"


def test_hl7_datetime_without_offset_is_danish_local_time() -> None:
    summer = parse_hl7_datetime("202407011200", "PV1-44")
    assert summer.utcoffset() == timedelta(hours=2)
    assert parse_hl7_datetime("20240101120000-0500", "PV1-44").utcoffset() == timedelta(hours=-5)


def test_hl7apy_element_attribute_names_are_sets_of_the_same_names() -> None:
    """`gateway.inbound.hl7v2_segments` point 4: membership tests only, so the same names in a frozenset."""
    import hl7apy.core

    import gateway.inbound.hl7v2_segments  # noqa: F401 - applies the change at import

    classes = [c for c in vars(hl7apy.core).values() if isinstance(c, type) and "cls_attrs" in vars(c)]
    assert len(classes) >= 4
    assert all(isinstance(c.cls_attrs, frozenset) for c in classes)
    assert {"name", "children", "parent", "value"} <= hl7apy.core.Element.cls_attrs
    assert {"datatype", "_datatype", "max_length"} <= hl7apy.core.Field.cls_attrs
    field = hl7apy.core.Field("PID_5")
    field.value = "EVERYMAN^ADAM"  # an element child set through `__setattr__`, not a class attribute
    assert field.to_er7() == "EVERYMAN^ADAM"

"""OIOXML parsing: MedCom's own letters, Danish letters in every charset, and hostile or broken inputs."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from gateway.inbound.limits import Limits
from gateway.inbound.oioxml import DANISH_TIME, parse_oioxml
from mappings.documents.discharge import Correspondence, DischargeLetter
from mappings.issues import IssueError

SAMPLES = Path(__file__).parents[3] / "fixtures" / "samples" / "inbound"
MEDCOM = SAMPLES / "medcom"
LIMITS = Limits()


def _issue(exc: pytest.ExceptionInfo[IssueError]) -> tuple[str | None, str | None]:
    issue = exc.value.issues[0]
    return issue.message_id, issue.expression


def test_xdis91_sample_gives_correspondence_with_danish_letters() -> None:
    letter = parse_oioxml((SAMPLES / "xdis91_windows-1252.xml").read_bytes(), limits=LIMITS)
    assert isinstance(letter, Correspondence)
    assert letter.patient.cpr == "2509479989"
    assert letter.patient.family == "Østergård"
    assert letter.subject == "Udskrivelse fra psykiatrisk afsnit Ø"
    assert "Kriseplan: udarbejdet – findes på bostedet" in letter.text
    assert letter.sent == datetime(2024, 3, 1, 10, 30, tzinfo=DANISH_TIME)
    assert letter.episode_of_care_identifier == "bd481c38a92111edafa10242ac120002"


@pytest.mark.parametrize(
    ("label", "codec", "dash"),
    [
        ("ISO-8859-1", "latin-1", "-"),
        # windows-1252 bytes (0x96 en dash) under an ISO-8859-1 label, as Danish systems write them
        ("ISO-8859-1", "cp1252", "\u2013"),
        ("windows-1252", "cp1252", "\u2013"),
        ("UTF-8", "utf-8", "\u2013"),
    ],
)
def test_the_xml_declaration_decides_the_charset(label: str, codec: str, dash: str) -> None:
    text = (SAMPLES / "xdis91_utf-8.xml").read_text(encoding="utf-8")
    text = text.replace('encoding="UTF-8"', f'encoding="{label}"').replace("\u2013", dash)
    letter = parse_oioxml(text.encode(codec), limits=LIMITS)
    assert isinstance(letter, Correspondence)
    assert letter.patient.family == "Østergård"
    assert letter.receiver.name == "Lægerne i Slagelse Bymidte"
    assert f"udarbejdet {dash} findes på bostedet" in letter.text


def test_utf8_document_mislabelled_as_latin1_is_read_as_utf8() -> None:
    # MedCom's own Flow3-XDIS91_Ex_from_FHIR.xml declares iso-8859-1 but holds UTF-8 bytes.
    letter = parse_oioxml((MEDCOM / "Flow3-XDIS91_Ex_from_FHIR.xml").read_bytes(), limits=LIMITS)
    assert isinstance(letter, Correspondence)
    assert letter.subject == "Vedr. henvisning, Undersøgelser forude for visitation"


def test_medcom_flow1_xdis91_is_parsed_with_breaks_as_lines() -> None:
    letter = parse_oioxml((MEDCOM / "Flow1-XDIS91_Ex_to_FHIR.xml").read_bytes(), limits=LIMITS)
    assert isinstance(letter, Correspondence)
    assert letter.text.splitlines()[4:6] == [
        "Sænkningsresultat",
        'Resultaterne bedes fremsendt som et "korrespondancebrev".',
    ]
    assert letter.priority == "høj_prioritet"
    assert letter.references[0].object_identifier == "c39ea6b2605245e4a207415e0205ab6f"


def test_xdis01_sample_gives_discharge_letter() -> None:
    letter = parse_oioxml((SAMPLES / "xdis01_iso-8859-1.xml").read_bytes(), limits=LIMITS)
    assert isinstance(letter, DischargeLetter)
    assert letter.discharged == datetime(2024, 3, 1, 10, 10, tzinfo=DANISH_TIME)
    assert letter.receiver.identifier_code == "ydernummer"
    assert letter.diagnoses[0].code == "DF200"
    assert letter.diagnoses[0].main
    assert "Søren" in letter.text


def test_other_letter_types_are_not_supported() -> None:
    with pytest.raises(IssueError) as exc:
        parse_oioxml((MEDCOM / "DIS02_1.xml").read_bytes(), limits=LIMITS)
    assert _issue(exc) == ("oioxml.letter-not-supported", "/Emessage/OutPatientDischargeLetter")


def test_xxe_is_refused_before_parsing() -> None:
    hostile = (
        b'<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<Emessage xmlns="http://rep.oio.dk/sundcom.dk/medcom.dk/xml/schemas/2006/07/01/">&x;</Emessage>'
    )
    with pytest.raises(IssueError) as exc:
        parse_oioxml(hostile, limits=LIMITS)
    assert exc.value.issues[0].code == "security"
    assert _issue(exc) == ("inbound.xml-doctype", "line 1, column 22")


def test_billion_laughs_is_refused() -> None:
    entities = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    hostile = f'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY l0 "lol">{entities}]>\n<r>&l9;</r>'.encode()
    with pytest.raises(IssueError) as exc:
        parse_oioxml(hostile, limits=LIMITS)
    assert _issue(exc) == ("inbound.xml-doctype", "line 2, column 1")


def test_50_mb_body_is_refused_before_decoding() -> None:
    with pytest.raises(IssueError) as exc:
        parse_oioxml(b"<a>" + b"x" * (50 * 1024 * 1024) + b"</a>", limits=LIMITS)
    assert exc.value.issues[0].message_id == "inbound.too-large"


def test_deep_nesting_is_refused_while_parsing() -> None:
    with pytest.raises(IssueError) as exc:
        parse_oioxml(b"<a>" * 10_000 + b"</a>" * 10_000, limits=LIMITS)
    assert exc.value.issues[0].message_id == "inbound.xml-too-large"
    assert exc.value.issues[0].expression == "line 1"


def test_element_count_limit() -> None:
    with pytest.raises(IssueError) as exc:
        parse_oioxml(b"<a>" + b"<b/>" * 200 + b"</a>", limits=Limits(max_xml_elements=100))
    assert exc.value.issues[0].message_id == "inbound.xml-too-large"


def test_truncated_document_reports_line_and_column() -> None:
    data = (SAMPLES / "xdis91_utf-8.xml").read_bytes()[:700]
    with pytest.raises(IssueError) as exc:
        parse_oioxml(data, limits=LIMITS)
    message_id, expression = _issue(exc)
    assert message_id == "inbound.xml-syntax"
    assert expression is not None and expression.startswith("line ")


def test_wrong_charset_declared_utf8_with_latin1_bytes() -> None:
    text = (SAMPLES / "xdis91_utf-8.xml").read_text(encoding="utf-8")
    with pytest.raises(IssueError) as exc:
        parse_oioxml(text.encode("cp1252"), limits=LIMITS)
    message_id, expression = _issue(exc)
    assert message_id == "inbound.xml-charset"
    assert expression is not None and expression.startswith("line ")


def test_schema_violation_is_located() -> None:
    text = (SAMPLES / "xdis91_utf-8.xml").read_text(encoding="utf-8")
    broken = text.replace("<StatusCode>nytbrev</StatusCode>", "<StatusCode>bogus</StatusCode>")
    with pytest.raises(IssueError) as exc:
        parse_oioxml(broken.encode("utf-8"), limits=LIMITS)
    issue = exc.value.issues[0]
    assert issue.message_id == "inbound.xml-schema"
    assert "StatusCode" in issue.diagnostics
    assert issue.expression is not None and issue.expression.startswith("line ")


def test_unknown_root_is_not_supported() -> None:
    with pytest.raises(IssueError) as exc:
        parse_oioxml(b"<Emessage/>", limits=LIMITS)
    assert exc.value.issues[0].message_id == "oioxml.unknown-root"


def test_utf16_is_refused() -> None:
    with pytest.raises(IssueError) as exc:
        parse_oioxml("<a/>".encode("utf-16"), limits=LIMITS)
    assert exc.value.issues[0].message_id == "inbound.xml-charset"


def test_all_medcom_xdis91_examples_parse() -> None:
    for name in ("DIS91_1.xml", "Flow1-XDIS91_Ex_to_FHIR.xml", "Flow3-XDIS91_Ex_from_FHIR.xml"):
        assert isinstance(parse_oioxml((MEDCOM / name).read_bytes(), limits=LIMITS), Correspondence)

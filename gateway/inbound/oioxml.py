"""MedCom OIOXML letters in, typed documents out: XDIS91 `Correspondence`, XDIS01 `DischargeLetter` and the
XBIN01 `BinaryLetter` that carries an XDIS91's attachments.

Bytes are decoded and parsed by `gateway.inbound.xml` (charset rule, DOCTYPE refusal, limits), then checked
against MedCom's own XSDs shipped in `schemas/` (entry `EMessage.xsd` of the letter's namespace: XDIS91
`2006/07/01`, XDIS01 `2005/08/07`, XBIN01 `2012/03/28`) before any field is read, so every field read below exists
with the type the schema gives it. The charset rule is the same for all three (an XBIN01 carries its objects as
base64, so only its names and addresses depend on it).

OIOXML dates and times (`Date` + `Time`, hh:mm) are Danish local time; they become `Europe/Copenhagen`-aware
datetimes, as MedCom's conversion service does (`Flow1-XDIS91_Ex_to_FHIR.xml` 2023-11-20 17:45 ⇒
`Flow1-CareCommunication_Ex_from_OIOXML.xml` `2023-11-20T17:45:00+01:00`).
"""

from __future__ import annotations

from datetime import date, datetime, time
from functools import cache, lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from lxml import etree

from gateway.inbound.limits import Limits
from gateway.inbound.xml import parse_xml, safe_xsd, schema_errors
from mappings.documents.discharge import (
    BinaryLetter,
    BinaryObject,
    BinaryReference,
    Citizen,
    Correspondence,
    Diagnosis,
    DischargeLetter,
    Party,
)
from mappings.explain import Origin
from mappings.issues import IssueError

NS_2006 = "http://rep.oio.dk/sundcom.dk/medcom.dk/xml/schemas/2006/07/01/"
NS_2005 = "http://rep.oio.dk/sundcom.dk/medcom.dk/xml/schemas/2005/08/07/"
NS_2012 = "http://rep.oio.dk/medcom.dk/xml/schemas/2012/03/28/"
DANISH_TIME = ZoneInfo("Europe/Copenhagen")
_SCHEMA_DIR = Path(__file__).parent / "schemas"
_SCHEMAS = {
    NS_2006: "2006/07/01/EMessage.xsd",
    NS_2005: "2005/08/07/EMessage.xsd",
    NS_2012: "2012/03/28/EMessage.xsd",
}


@cache
def _schema(namespace: str) -> etree.XMLSchema:
    return safe_xsd(str(_SCHEMA_DIR / _SCHEMAS[namespace]))


@lru_cache(maxsize=1024)
def _qualified(namespace: str, path: str) -> str:
    """`path` (`Letter/Identifier`) with each step in `namespace` (`{ns}Letter/{ns}Identifier`): made once per
    field and namespace, not on every read (a letter reads about 40 fields)."""
    return "/".join(f"{{{namespace}}}{step}" for step in path.split("/"))


class _Reader:
    """Reads one letter under a namespace, naming each field by its XPath in errors."""

    def __init__(self, root: etree._Element, namespace: str) -> None:
        self.root = root
        self.ns = namespace

    def find(self, node: etree._Element, path: str) -> etree._Element | None:
        if "/" in path:
            return node.find(_qualified(self.ns, path))
        # one step: the first child of that name, as `find` gives it, without ElementPath's parse and cache lookup
        # (half the cost; a letter reads about 40 fields)
        return next(node.iterchildren(_qualified(self.ns, path)), None)

    def findall(self, node: etree._Element, path: str) -> list[etree._Element]:
        return list(node.findall(_qualified(self.ns, path)))

    def text(self, node: etree._Element, path: str) -> str | None:
        found = self.find(node, path)
        if found is None or found.text is None:
            return None
        value = found.text.strip()
        return value or None

    def required(self, node: etree._Element, path: str) -> str:
        value = self.text(node, path)
        if value is None:
            raise IssueError.single(
                "required",
                f"{path} is missing or empty",
                expression=f"{_plain_path(node)}/{path}",
                message_id="oioxml.field-missing",
            )
        return value

    def when(self, node: etree._Element, path: str) -> datetime | None:
        found = self.find(node, path)
        if found is None:
            return None
        day = self.required(found, "Date")
        clock = self.required(found, "Time")
        try:
            return datetime.combine(date.fromisoformat(day), time.fromisoformat(clock), DANISH_TIME)
        except ValueError:
            raise IssueError.single(
                "value",
                f"{path} is not a valid date and time: {day} {clock}",
                expression=f"{_plain_path(found)}",
                message_id="oioxml.datetime-invalid",
            ) from None

    def required_when(self, node: etree._Element, path: str) -> datetime:
        value = self.when(node, path)
        if value is None:
            raise IssueError.single(
                "required",
                f"{path} is missing",
                expression=f"{_plain_path(node)}/{path}",
                message_id="oioxml.field-missing",
            )
        return value


def _plain_path(node: etree._Element) -> str:
    """An XPath without namespace prefixes, e.g. `/Emessage/ClinicalEmail/Patient`."""
    parts: list[str] = []
    current: etree._Element | None = node
    while current is not None:
        parts.append(etree.QName(current).localname)
        current = current.getparent()
    return "/" + "/".join(reversed(parts))


def formatted_text(node: etree._Element) -> str:
    """The text of an OIOXML `FormattedTextType` (Text01) as MedCom's conversion renders it.

    `Break` ends a line, `Space` is a blank, Bold/Italic/Underline/Center/Right/FixedFont keep their text.
    Lines are stripped and empty lines dropped, matching `Flow1-CareCommunication_Ex_from_OIOXML.xml`
    (`Sænkningsresultat<Break/><Break/>Resultaterne` ⇒ `Sænkningsresultat\\nResultaterne`).
    """
    pieces: list[str] = []

    def walk(element: etree._Element) -> None:
        if element.text:
            pieces.append(element.text)
        for child in element:
            name = etree.QName(child).localname
            if name == "Break":
                pieces.append("\n")
            elif name == "Space":
                pieces.append(" ")
            else:
                walk(child)
            if child.tail:
                pieces.append(child.tail)

    walk(node)
    lines = (" ".join(line.split()) for line in "".join(pieces).split("\n"))
    return "\n".join(line for line in lines if line)


def _party(reader: _Reader, node: etree._Element) -> Party:
    identifier_code = reader.text(node, "IdentifierCode")
    identifier = reader.text(node, "Identifier")
    at = _plain_path(node)
    return Party(
        gln=reader.text(node, "EANIdentifier"),
        sor=identifier if identifier_code == "sorkode" else None,
        name=reader.text(node, "OrganisationName"),
        identifier=identifier,
        identifier_code=identifier_code,
        department=reader.text(node, "DepartmentName"),
        phone=reader.text(node, "TelephoneSubscriberIdentifier"),
        sources=(
            ("gln", Origin("input", f"{at}/EANIdentifier")),
            ("sor", Origin("input", f"{at}/Identifier (IdentifierCode sorkode)")),
            ("name", Origin("input", f"{at}/OrganisationName")),
            ("phone", Origin("input", f"{at}/TelephoneSubscriberIdentifier")),
        ),
    )


def _citizen(reader: _Reader, node: etree._Element) -> Citizen:
    cpr = reader.text(node, "CivilRegistrationNumber")
    if cpr is None:
        raise IssueError.single(
            "not-supported",
            "the patient has no CivilRegistrationNumber; notices need a real CPR number",
            expression=f"{_plain_path(node)}/CivilRegistrationNumber",
            message_id="oioxml.cpr-missing",
        )
    given = reader.text(node, "PersonGivenName")
    at = _plain_path(node)
    return Citizen(
        cpr=cpr,
        family=reader.text(node, "PersonSurnameName"),
        given=tuple(given.split()) if given else (),
        street=reader.text(node, "StreetName"),
        city=reader.text(node, "DistrictName") or reader.text(node, "SuburbName"),
        postal_code=reader.text(node, "PostCodeIdentifier"),
        deceased=reader.text(node, "EpisodeOfCareStatusCode") == "doed",
        sources=(
            ("cpr", Origin("input", f"{at}/CivilRegistrationNumber")),
            ("family", Origin("input", f"{at}/PersonSurnameName")),
            ("given", Origin("input", f"{at}/PersonGivenName")),
            ("street", Origin("input", f"{at}/StreetName")),
            ("city", Origin("input", f"{at}/DistrictName (or SuburbName)")),
            ("postal_code", Origin("input", f"{at}/PostCodeIdentifier")),
            ("deceased", Origin("input", f"{at}/EpisodeOfCareStatusCode")),
        ),
    )


def _texts(reader: _Reader, letter: etree._Element) -> str:
    blocks = (formatted_text(node) for node in reader.findall(letter, "ClinicalInformation/Text01"))
    return "\n".join(block for block in blocks if block)


def _letter_header(reader: _Reader, root: etree._Element, body: etree._Element) -> dict[str, Any]:
    """The `LetterHeader` fields every letter type reads the same way (as keyword arguments)."""
    envelope = reader.find(root, "Envelope")
    letter = reader.find(body, "Letter")
    sender = reader.find(body, "Sender")
    receiver = reader.find(body, "Receiver")
    patient = reader.find(body, "Patient")
    assert envelope is not None and letter is not None  # guaranteed by the XSD
    assert sender is not None and receiver is not None and patient is not None
    return {
        "envelope_identifier": reader.required(envelope, "Identifier"),
        "sent": reader.required_when(envelope, "Sent"),
        "letter_identifier": reader.required(letter, "Identifier"),
        "authorised": reader.required_when(letter, "Authorisation"),
        "status_code": reader.required(letter, "StatusCode"),
        "sender": _party(reader, sender),
        "receiver": _party(reader, receiver),
        "patient": _citizen(reader, patient),
        "episode_of_care_status": reader.text(patient, "EpisodeOfCareStatusCode"),
        "text": _texts(reader, body),
    }


def _object(reader: _Reader, node: etree._Element) -> dict[str, Any]:
    """What an XDIS91 `Reference/BIN` and an XBIN01 `BinaryObject` both say of a binary object."""
    size = reader.text(node, "OriginalObjectSize")
    return {
        "object_identifier": reader.required(node, "ObjectIdentifier"),
        "object_code": reader.required(node, "ObjectCode"),
        "extension_code": reader.required(node, "ObjectExtensionCode"),
        "original_size": int(size) if size else None,
    }


def _correspondence(reader: _Reader, root: etree._Element, email: etree._Element) -> Correspondence:
    letter = reader.find(email, "Letter")
    assert letter is not None  # guaranteed by the XSD
    references = tuple(BinaryReference(**_object(reader, node)) for node in reader.findall(email, "Reference/BIN"))
    return Correspondence(
        **_letter_header(reader, root, email),
        episode_of_care_identifier=reader.text(letter, "EpisodeOfCareIdentifier"),
        priority=reader.text(email, "AdditionalInformation/Priority"),
        subject=reader.text(email, "AdditionalInformation/Subject"),
        references=references,
    )


def _diagnoses(reader: _Reader, letter: etree._Element) -> tuple[Diagnosis, ...]:
    found: list[Diagnosis] = []
    for kind in ("Main", "MainAdditional", "Other"):
        for node in reader.findall(letter, f"Diagnose/{kind}"):
            code = reader.text(node, "DiagnoseCode")
            if code is None:
                continue
            found.append(
                Diagnosis(
                    code=code,
                    text=reader.text(node, "DiagnoseText"),
                    main=kind != "Other",
                    code_type=reader.text(node, "DiagnoseTypeCode"),
                )
            )
    return tuple(found)


def _discharge_letter(reader: _Reader, root: etree._Element, body: etree._Element) -> DischargeLetter:
    return DischargeLetter(
        **_letter_header(reader, root, body),
        admitted=reader.when(body, "Admission"),
        discharged=reader.when(body, "Discharge"),
        diagnoses=_diagnoses(reader, body),
    )


def _binary_letter(reader: _Reader, root: etree._Element, body: etree._Element) -> BinaryLetter:
    envelope = reader.find(root, "Envelope")
    letter = reader.find(body, "Letter")
    sender = reader.find(body, "Sender")
    receiver = reader.find(body, "Receiver")
    assert envelope is not None and letter is not None and sender is not None and receiver is not None  # XSD
    patient = reader.find(body, "Patient")
    if patient is None:
        patient = body  # SystemInformation letters carry no Patient
    objects = tuple(
        BinaryObject(
            **_object(reader, node), data_base64="".join(reader.required(node, "Object_Base64Encoded").split())
        )
        for node in reader.findall(body, "BinaryObject")
    )
    return BinaryLetter(
        envelope_identifier=reader.required(envelope, "Identifier"),
        sent=reader.required_when(envelope, "Sent"),
        letter_identifier=reader.required(letter, "Identifier"),
        sender=_party(reader, sender),
        receiver=_party(reader, receiver),
        # An XBIN01 may name the patient by AlternativeIdentifier only; the notice's patient comes from its XDIS91.
        patient=_citizen(reader, patient) if reader.text(patient, "CivilRegistrationNumber") else None,
        objects=objects,
    )


def parse_oioxml(data: bytes, *, limits: Limits) -> Correspondence | DischargeLetter | BinaryLetter:
    """Parse a MedCom OIOXML `Emessage`: XDIS91 (2006/07/01), XDIS01 (2005/08/07) or XBIN01 (2012/03/28).

    Raises `IssueError` for oversized, hostile, malformed or schema-invalid input, and `not-supported` for
    other letter types (XDIS02, XCTL03, ...), each issue located by line/column or XPath.
    """
    root = parse_xml(data, limits=limits)
    qname = etree.QName(root)
    if qname.localname != "Emessage" or qname.namespace not in _SCHEMAS:
        raise IssueError.single(
            "not-supported",
            f"root element {{{qname.namespace}}}{qname.localname} is not a MedCom Emessage "
            "(XDIS91: namespace .../2006/07/01/, XDIS01: .../2005/08/07/, XBIN01: .../2012/03/28/)",
            expression=f"/{qname.localname}",
            message_id="oioxml.unknown-root",
        )
    namespace = str(qname.namespace)
    invalid = schema_errors(_schema(namespace), root)
    if invalid is not None:
        raise invalid
    reader = _Reader(root, namespace)
    body = root[1] if len(root) > 1 else None
    kind = etree.QName(body).localname if body is not None else "(none)"
    if body is not None and namespace == NS_2006 and kind == "ClinicalEmail":
        return _correspondence(reader, root, body)
    if body is not None and namespace == NS_2005 and kind == "DischargeLetter":
        return _discharge_letter(reader, root, body)
    if body is not None and namespace == NS_2012 and kind == "BinaryLetter":
        return _binary_letter(reader, root, body)
    raise IssueError.single(
        "not-supported",
        f"{kind} letters are not converted; the gateway accepts XDIS91 ClinicalEmail, XDIS01 DischargeLetter "
        "and XBIN01 BinaryLetter",
        expression=f"/Emessage/{kind}",
        message_id="oioxml.letter-not-supported",
    )

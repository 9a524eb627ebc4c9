"""Size and shape limits every inbound parser enforces before or while parsing.

The defaults are generous for MedCom traffic (an XDIS91 is a few KB, MedCom's largest CareCommunication test
message with an attachment is 1.3 MB, an ADT message has a few dozen segments) and small enough that a hostile
input (a 50 MB body, 100 000 nested elements, a million segments) is refused cheaply, before the work grows.
"""

from __future__ import annotations

from dataclasses import dataclass

from mappings.issues import IssueError


@dataclass(frozen=True, slots=True)
class Limits:
    """Upper bounds for one inbound message; `Limits()` gives the defaults used by the API and the CLI."""

    #: Largest accepted body, checked before any decoding or parsing.
    max_bytes: int = 10 * 1024 * 1024
    #: Deepest XML element nesting (OIOXML letters nest about 6 deep, FHIR XML about 15).
    max_xml_depth: int = 64
    #: Most XML elements in one document.
    max_xml_elements: int = 100_000
    #: Deepest JSON nesting of a FHIR JSON message.
    max_json_depth: int = 64
    #: Most segments in one HL7 v2 message.
    max_hl7_segments: int = 1_000
    #: Longest single HL7 v2 field (NTE/OBX text included).
    max_hl7_field_length: int = 65_536
    #: Most repetitions of one HL7 v2 field (PID-3 carries a few identifiers; 30,000 is an attack, issue 16).
    max_hl7_repetitions: int = 100
    #: Most elements (fields, repetitions, components, subcomponents) in one HL7 v2 message. hl7apy's parse costs
    #: about 0.4 ms per element, so this bounds one message at about 1.5 s (the demo A01 has 134 elements).
    max_hl7_elements: int = 4_000

    def check_size(self, data: bytes) -> None:
        """Refuse a body larger than `max_bytes` (`inbound.too-large`)."""
        if len(data) > self.max_bytes:
            raise IssueError.single(
                "too-long",
                f"message is {len(data)} bytes; the limit is {self.max_bytes} bytes",
                expression="(body)",
                message_id="inbound.too-large",
                status=413,
            )
        if not data.strip():
            raise IssueError.single(
                "required", "message body is empty", expression="(body)", message_id="inbound.empty"
            )


DEFAULT_LIMITS = Limits()

"""Inbound parsers: bytes in, typed documents out (no sockets, no database).

Each parser checks `Limits` first, decides the charset explicitly and reports every failure as an `IssueError`
whose issues carry a location (`PID-3.1`, `line 12, column 4`, an XPath or a FHIRPath).
"""

from gateway.inbound.fhir_message import parse_fhir_message
from gateway.inbound.hl7v2 import parse_hl7v2
from gateway.inbound.hl7v2_ack import build_hl7_ack
from gateway.inbound.limits import DEFAULT_LIMITS, Limits
from gateway.inbound.oioxml import parse_oioxml

__all__ = ["DEFAULT_LIMITS", "Limits", "build_hl7_ack", "parse_fhir_message", "parse_hl7v2", "parse_oioxml"]

"""HL7 v2 original-mode acknowledgements (ACK) for ADT messages posted to the gateway.

HL7 v2.5 §2.9.2: the receiver answers with MSH (sender and receiver swapped, MSH-9 `ACK^<trigger>^ACK`),
MSA (MSA-1 `AA` accepted, `AE` error, `AR` rejected; MSA-2 = the original MSH-10) and, for AE/AR, an ERR segment
carrying the reason (ERR-3 error code from table 0357, ERR-4 severity, ERR-8 user message). The ACK is encoded in
the charset the message came in (MSH-18 repeated), so Danish letters in the text survive.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from mappings.documents.discharge import AdtEvent

AckCode = Literal["AA", "AE", "AR"]
_CODECS = {"latin-1": "8859/1", "iso8859-15": "8859/15", "utf-8": "UNICODE UTF-8", "ascii": "ASCII"}


def _escape(text: str) -> str:
    """HL7 escape sequences for the default delimiters (`\\F\\ \\S\\ \\R\\ \\E\\ \\T\\`), line breaks as `\\.br\\`."""
    escaped = text.replace("\\", "\\E\\").replace("|", "\\F\\").replace("^", "\\S\\")
    escaped = escaped.replace("~", "\\R\\").replace("&", "\\T\\")
    return re.sub(r"\r\n|\r|\n", "\\\\.br\\\\", escaped)


def _msh_from_bytes(data: bytes) -> dict[str, str]:
    """Best-effort MSH fields of a message that could not be parsed (so even a rejection is addressed)."""
    first = re.split(rb"\r\n|\r|\n", data.strip(b"\x0b\x1c\r\n "), maxsplit=1)[0]
    if not first.startswith(b"MSH") or len(first) < 4:
        return {}
    fields = first.decode("latin-1").split(first[3:4].decode("latin-1"))
    fields = ["MSH", first[3:4].decode("latin-1"), *fields[1:]]

    def get(position: int, component: int = 1) -> str:
        value = fields[position] if position < len(fields) else ""
        parts = value.split("^")
        return parts[component - 1] if component <= len(parts) else ""

    return {
        "sending_application": fields[3] if len(fields) > 3 else "",
        "sending_facility": fields[4] if len(fields) > 4 else "",
        "receiving_application": fields[5] if len(fields) > 5 else "",
        "receiving_facility": fields[6] if len(fields) > 6 else "",
        "trigger": get(9, 2),
        "control_id": get(10),
        "processing_id": get(11) or "P",
        "version": get(12) or "2.5",
    }


def build_hl7_ack(
    source: AdtEvent | bytes,
    code: AckCode,
    text: str = "",
    *,
    now: datetime,
    control_id: str | None = None,
) -> bytes:
    """The ACK answering `source` (a parsed `AdtEvent`, or the raw bytes of a message that failed to parse).

    `now` stamps MSH-7 (pass the service clock's value); `control_id` is the ACK's own MSH-10 and defaults to
    `ACK` + the original control id, so a re-sent message gets the same acknowledgement (deduplication).
    """
    if isinstance(source, AdtEvent):
        fields = {
            "sending_application": source.sending_application,
            "sending_facility": source.sending_facility,
            "receiving_application": source.receiving_application,
            "receiving_facility": source.receiving_facility,
            "trigger": source.trigger,
            "control_id": source.message_control_id,
            "processing_id": source.processing_id,
            "version": source.version or "2.5",
        }
        codec = source.charset if source.charset in _CODECS else "utf-8"
    else:
        fields = _msh_from_bytes(source)
        codec = "utf-8"
    original_id = fields.get("control_id", "")
    ack_id = control_id or f"ACK{original_id}"[:20]
    timestamp = now.strftime("%Y%m%d%H%M%S%z")
    msh = "|".join(
        [
            "MSH",
            "^~\\&",
            fields.get("receiving_application", ""),
            fields.get("receiving_facility", ""),
            fields.get("sending_application", ""),
            fields.get("sending_facility", ""),
            timestamp,
            "",
            f"ACK^{fields.get('trigger', '')}^ACK",
            _escape(ack_id),
            fields.get("processing_id", "P"),
            fields.get("version", "2.5"),
            "",
            "",
            "",
            "",
            "",
            _CODECS[codec],
        ]
    )
    segments = [msh, "|".join(["MSA", code, _escape(original_id), _escape(text[:80])])]
    if code != "AA":
        severity = "E" if code == "AE" else "F"
        error_code = (
            "207^Application internal error^HL70357" if code == "AE" else "200^Unsupported message type^HL70357"
        )
        segments.append("|".join(["ERR", "", "", error_code, severity, "", "", "", _escape(text)]))
    return ("\r".join(segments) + "\r").encode(codec, errors="replace")

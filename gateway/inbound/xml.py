"""Safe XML intake shared by the OIOXML and FHIR XML parsers: charset decision, DOCTYPE refusal, limits.

Charset rule (documented fallback):
1. A byte-order mark decides (UTF-8; UTF-16/32 are refused: MedCom letters are 8-bit).
2. Otherwise the XML declaration's `encoding` decides (XML 1.0 §4.3.3). `ISO-8859-1`/`latin1` labels are
   decoded as windows-1252, as the WHATWG Encoding Standard does (https://encoding.spec.whatwg.org/#names-and-labels):
   Danish systems write windows-1252 bytes (e.g. 0x80 €, 0x96 –) under an ISO-8859-1 label; for the letters
   both share (æøåÆØÅ) the result is identical. Bytes undefined in windows-1252 fall back to ISO-8859-1.
   One exception: a document labelled ISO-8859-1/windows-1252 whose non-ASCII bytes are all well-formed UTF-8
   is read as UTF-8. MedCom's own `Flow3-XDIS91_Ex_from_FHIR.xml` is such a mislabelled file; Danish text in a
   real 8-bit charset practically never forms valid UTF-8 sequences (`Ã¦` for `æ` would be needed).
3. Without a declaration the document must be UTF-8 (XML 1.0 Appendix F); if it is not, it is decoded as
   windows-1252, the usual encoding of MedCom OIOXML files (NOTES.md §9), rather than rejected.
A document that does not decode under its declared charset is rejected with the line and column of the first bad
byte. The decoded text is handed to lxml as UTF-8 with the declared encoding overridden.

Security: any `<!DOCTYPE` or `<!ENTITY` is refused before lxml sees the document (billion laughs, XXE, external
DTDs); lxml also runs with `resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False`.
Depth and element counts are checked while parsing (iterparse), so a hostile document stops early.
"""

from __future__ import annotations

import codecs
import io
import re

from lxml import etree

from gateway.inbound.limits import Limits
from mappings.issues import Issue, IssueError

_DECLARATION = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._:-]+)[\"']", re.ASCII)
_FORBIDDEN = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_LATIN1_LABELS = {"latin-1", "iso8859-1", "iso-8859-1", "latin1", "l1", "cp819", "iso-ir-100", "ibm819"}


def _codec_name(label: str) -> str | None:
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def line_column(text: str | bytes, offset: int) -> str:
    """`line L, column C` (1-based) of a character/byte offset, for located issues."""
    head = text[:offset]
    newline = b"\n" if isinstance(head, bytes) else "\n"
    line = head.count(newline) + 1  # type: ignore[arg-type]
    column = offset - (head.rfind(newline) + 1) + 1  # type: ignore[arg-type]
    return f"line {line}, column {column}"


def _decode_strict(data: bytes, codec: str, label: str) -> str:
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        raise IssueError.single(
            "structure",
            f"document declares encoding {label!r} but byte 0x{data[exc.start]:02X} is not valid in it",
            expression=line_column(data, exc.start),
            message_id="inbound.xml-charset",
        ) from None


def _latin1_fallback(exc: UnicodeError) -> tuple[str, int]:
    # 0x81, 0x8D, 0x8F, 0x90, 0x9D are unassigned in windows-1252; ISO-8859-1 maps them to U+0081... .
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    return exc.object[exc.start : exc.end].decode("latin-1"), exc.end


codecs.register_error("gateway-latin1-fallback", _latin1_fallback)


def _cp1252_with_latin1(data: bytes) -> str:
    return data.decode("cp1252", errors="gateway-latin1-fallback")


def decode_xml(data: bytes) -> tuple[str, str]:
    """The document as text plus the charset that decided it (see the module docstring for the rule)."""
    if data.startswith(codecs.BOM_UTF8):
        return _decode_strict(data[len(codecs.BOM_UTF8) :], "utf-8", "UTF-8 (BOM)"), "utf-8"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise IssueError.single(
            "not-supported",
            "UTF-16 documents are not accepted; send UTF-8, ISO-8859-1 or windows-1252",
            expression="line 1, column 1",
            message_id="inbound.xml-charset",
        )
    match = _DECLARATION.match(data)
    if match is None:
        try:
            return data.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            return _cp1252_with_latin1(data), "cp1252"
    label = match.group(1).decode("ascii")
    codec = _codec_name(label)
    if codec is None:
        raise IssueError.single(
            "not-supported",
            f"unknown encoding {label!r} in the XML declaration",
            expression="line 1",
            message_id="inbound.xml-charset",
        )
    if codec in _LATIN1_LABELS or label.lower() in _LATIN1_LABELS or codec == "cp1252":
        if not data.isascii():
            try:
                return data.decode("utf-8"), "utf-8"
            except UnicodeDecodeError:
                pass
        return _cp1252_with_latin1(data), "cp1252"
    if codec not in ("utf-8", "ascii"):
        raise IssueError.single(
            "not-supported",
            f"encoding {label!r} is not accepted; send UTF-8, ISO-8859-1 or windows-1252",
            expression="line 1",
            message_id="inbound.xml-charset",
        )
    return _decode_strict(data, codec, label), codec


def _parse_error(exc: etree.XMLSyntaxError) -> IssueError:
    line, column = exc.position if exc.position else (0, 0)
    message = exc.msg or "not well-formed XML"
    return IssueError.single(
        "structure",
        f"XML is not well-formed: {message}",
        expression=f"line {line}, column {column}",
        message_id="inbound.xml-syntax",
    )


def parse_xml(data: bytes, *, limits: Limits) -> etree._Element:
    """Parse `data` into an lxml element tree under the rules in the module docstring."""
    limits.check_size(data)
    text, _charset = decode_xml(data)
    forbidden = _FORBIDDEN.search(text)
    if forbidden is not None:
        raise IssueError.single(
            "security",
            f"<!{forbidden.group(1).upper()}> is not allowed: MedCom messages carry no DTD or entity declarations",
            expression=line_column(text, forbidden.start()),
            message_id="inbound.xml-doctype",
        )
    events = etree.iterparse(
        io.BytesIO(text.encode("utf-8")),
        events=("start", "end"),
        encoding="utf-8",
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    depth = 0
    elements = 0
    root: etree._Element | None = None
    try:
        for event, element in events:
            if event == "start":
                depth += 1
                elements += 1
                if depth > limits.max_xml_depth or elements > limits.max_xml_elements:
                    what = "nested deeper than" if depth > limits.max_xml_depth else "has more elements than"
                    limit = limits.max_xml_depth if depth > limits.max_xml_depth else limits.max_xml_elements
                    raise IssueError.single(
                        "too-costly",
                        f"document {what} the limit of {limit}",
                        expression=f"line {element.sourceline}",
                        message_id="inbound.xml-too-large",
                    )
            else:
                depth -= 1
                root = element
    except etree.XMLSyntaxError as exc:
        raise _parse_error(exc) from None
    if root is None:
        raise IssueError.single(
            "structure", "document has no root element", expression="line 1", message_id="inbound.xml-syntax"
        )
    return root


def schema_errors(schema: etree.XMLSchema, root: etree._Element) -> IssueError | None:
    """An `IssueError` listing each XSD violation with line, column and XPath, or `None` when valid."""
    if schema.validate(root):
        return None
    issues = tuple(
        Issue(
            "error",
            "structure",
            f"{entry.message} (at {entry.path})",
            f"line {entry.line}, column {entry.column}",
            "inbound.xml-schema",
        )
        for entry in list(schema.error_log)[:20]
    )
    return IssueError(issues)


def safe_xsd(path: str) -> etree.XMLSchema:
    """Compile a shipped XSD with the same no-network, no-entity parser settings."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    return etree.XMLSchema(etree.parse(path, parser))

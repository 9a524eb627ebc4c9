"""Narrative XHTML (`Narrative.div`): the R4 invariants txt-1 and txt-2, and internal links.

FHIR R4 §2.4.0 (http://hl7.org/fhir/R4/narrative.html#xhtml): the narrative is a `div` in the XHTML namespace
holding only the basic HTML formatting elements and attributes of HTML 4.0 chapters 7-11 and 15, `<a>` (name or
href), images and internal styles; no head, body, scripts, forms, frames, objects or event attributes (txt-1),
and some non-whitespace content (txt-2). The element and attribute lists are the ones the FHIR validator applies
(org.hl7.fhir.validation, `XhtmlValidator`: elements, attributes, element.attribute pairs; a block element inside
a paragraph; link and image URLs of allowed characters). We also refuse `javascript:` URLs: they are scripts.

The XHTML is parsed by lxml with the safe settings used for every XML input (no entities, DTD or network): FHIR
narrative may use only XML's predefined entities, so `&nbsp;` makes it ill-formed.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Any

from lxml import etree

XHTML = "http://www.w3.org/1999/xhtml"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_XML_SPACE = "{http://www.w3.org/XML/1998/namespace}space"

ELEMENTS = frozenset(
    {
        "p", "br", "div", "h1", "h2", "h3", "h4", "h5", "h6", "a", "span", "b", "em", "i", "strong", "small", "big",
        "tt", "dfn", "q", "var", "abbr", "acronym", "cite", "blockquote", "hr", "address", "bdo", "kbd", "sub", "sup",
        "ul", "ol", "li", "dl", "dt", "dd", "pre", "table", "caption", "colgroup", "col", "thead", "tr", "tfoot",
        "tbody", "th", "td", "code", "samp", "img", "map", "area",
    }
)  # fmt: skip
ATTRIBUTES = frozenset(
    {
        "title", "style", "class", "id", "lang", "xml:lang", "dir", "accesskey", "tabindex",
        "span", "width", "align", "valign", "char", "charoff", "abbr", "axis", "headers", "scope", "rowspan", "colspan",
    }
)  # fmt: skip
ELEMENT_ATTRIBUTES = frozenset(
    {
        "a.href", "a.name", "img.src", "img.border", "div.xmlns", "blockquote.cite", "q.cite", "a.charset", "a.type",
        "a.hreflang", "a.rel", "a.rev", "a.shape", "a.coords", "img.alt", "img.longdesc", "img.height", "img.width",
        "img.usemap", "img.ismap", "map.name", "area.shape", "area.coords", "area.href", "area.nohref", "area.alt",
        "table.summary", "table.width", "table.border", "table.frame", "table.rules", "table.cellspacing",
        "table.cellpadding", "pre.space", "td.nowrap",
    }
)  # fmt: skip
#: Block elements a paragraph may not hold.
_BLOCKS = frozenset({"div", "blockquote", "table", "ol", "ul", "p"})
#: The characters a link or image URL may hold besides letters and digits (the FHIR validator's UrlUtil).
_URL_CHARS = frozenset(";?:@&=+$.,/%-_~#[]!'()*|")
#: The schemes a narrative's link may use: ones a reader's browser follows (the FHIR validator refuses `urn:`).
_LINK_SCHEMES = frozenset({"http", "https", "ftp", "mailto", "tel"})
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=True
)


@functools.lru_cache(maxsize=1024)
def _parsed(div: str) -> etree._Element | str:
    """The narrative's root element, or why it is not well-formed XML."""
    try:
        return etree.fromstring(div.encode("utf-8"), _PARSER)
    except etree.XMLSyntaxError as error:
        return f"the narrative is not well-formed XHTML: {error.msg}"


@functools.lru_cache(maxsize=1024)
def narrative_problems(div: str) -> tuple[str, ...]:
    """What txt-1 finds wrong with a narrative (nothing when it holds)."""
    root = _parsed(div)
    if isinstance(root, str):
        return (root,)
    problems: list[str] = []
    if etree.QName(root).namespace != XHTML or etree.QName(root).localname != "div":
        problems.append(f"the narrative must be a <div> in the namespace {XHTML}, not <{root.tag}>")
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue  # processing instructions
        name = etree.QName(element)
        if name.namespace != XHTML:
            problems.append(f"element <{element.tag}> is not XHTML")
            continue
        tag = name.localname
        if tag not in ELEMENTS:
            problems.append(f"element <{tag}> is not allowed in a narrative")
        for attribute in element.attrib:
            shown = "xml:lang" if attribute == _XML_LANG else attribute
            if attribute == _XML_SPACE:
                continue  # the FHIR validator only hints at xml:space
            if shown not in ATTRIBUTES and f"{tag}.{shown}" not in ELEMENT_ATTRIBUTES:
                problems.append(f"attribute {shown!r} is not allowed on <{tag}>")
        if tag == "p":
            problems.extend(
                f"<{etree.QName(inner).localname}> is not allowed inside a paragraph"
                for inner in element.iterdescendants()
                if isinstance(inner.tag, str) and etree.QName(inner).localname in _BLOCKS
            )
        url_attribute = {"a": "href", "img": "src"}.get(tag)
        url = element.get(url_attribute) if url_attribute else None
        if url is not None:
            problem = _url_problem(url)
            if problem:
                problems.append(f"<{tag} {url_attribute}={url!r}>: {problem}")
    return tuple(dict.fromkeys(problems))


def _url_problem(url: str) -> str | None:
    if not url.strip():
        return "the URL is empty"
    if url.strip().lower().startswith("javascript:"):
        return "scripts are not allowed in a narrative"
    if url.startswith("data:"):
        return None if "," in url else "a data: URL without data"
    scheme = _SCHEME.match(url)
    if scheme and scheme.group(1).lower() not in _LINK_SCHEMES:
        return f"{scheme.group(1)}: is no scheme a browser can follow"
    bad = sorted({c for c in url if not (c.isalnum() or c in _URL_CHARS)})
    return f"the URL holds characters a URL may not: {', '.join(map(repr, bad))}" if bad else None


@functools.lru_cache(maxsize=1024)
def has_content(div: str) -> bool:
    """txt-2: the narrative has some non-whitespace content (text, or an image)."""
    root = _parsed(div)
    if isinstance(root, str):
        return True  # txt-1 reports it
    text = "".join(root.itertext())
    return bool(text.strip()) or any(etree.QName(e).localname == "img" for e in root.iter() if isinstance(e.tag, str))


def txt_1(value: Any, _resource: Any, _root: Any) -> bool:
    return not isinstance(value, str) or not narrative_problems(value)


def txt_2(value: Any, _resource: Any, _root: Any) -> bool:
    return not isinstance(value, str) or has_content(value)


def explain_txt_1(value: Any) -> str | None:
    return "; ".join(narrative_problems(value)) if isinstance(value, str) else None


# -- internal links ----------------------------------------------------------------------------------------------
def narratives(value: Any, expr: str) -> Iterator[tuple[str, str]]:
    """(expression, div) of every narrative in a resource, its contained resources and Bundle entries."""
    if isinstance(value, dict):
        text = value.get("text")
        if "resourceType" in value and isinstance(text, dict) and isinstance(text.get("div"), str):
            yield f"{expr}.text.div", text["div"]
        for key, item in value.items():
            if key != "text" and isinstance(item, dict | list):
                yield from narratives(item, f"{expr}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from narratives(item, f"{expr}[{index}]")


def _ids(value: Any, out: set[str]) -> None:
    """Contained resources' and Bundle entries' ids: a narrative may link to them by `#id`."""
    if isinstance(value, dict):
        if isinstance(value.get("resourceType"), str) and isinstance(value.get("id"), str):
            out.add(value["id"])
        for item in value.values():
            _ids(item, out)
    elif isinstance(value, list):
        for item in value:
            _ids(item, out)


def broken_links(resource: dict[str, Any]) -> list[tuple[str, str]]:
    """(expression of the narrative, link) for each `<a href="#x">` that points at nothing in the resource: no
    element id or anchor name in any of its narratives, no contained resource or entry with that id."""
    ids: set[str] = set()
    _ids(resource, ids)
    return unresolved_links(list(narratives(resource, str(resource.get("resourceType")))), ids)


def unresolved_links(found: list[tuple[str, str]], ids: set[str]) -> list[tuple[str, str]]:
    """`broken_links` given the narratives (expression, div) and the ids of the resources in the resource."""
    links = [(expr, href) for expr, div in found for href in _local_links(div)]
    if not links:
        return []
    anchors = set(ids)
    for _, div in found:
        root = _parsed(div)
        if not isinstance(root, str):
            for element in root.iter():
                for attribute in ("id", "name"):
                    if element.get(attribute):
                        anchors.add(str(element.get(attribute)))
    return [(expr, href) for expr, href in links if href[1:] not in anchors]


@functools.lru_cache(maxsize=1024)
def _local_links(div: str) -> tuple[str, ...]:
    root = _parsed(div)
    if isinstance(root, str):
        return ()
    return tuple(
        str(a.get("href"))
        for a in root.iter(f"{{{XHTML}}}a")
        if a.get("href") and str(a.get("href")).startswith("#") and len(str(a.get("href"))) > 1
    )


def language_sections(div: str) -> list[str]:
    """The languages of a narrative's language sections: its top-level `div`s with `xml:lang` or `lang`."""
    root = _parsed(div)
    if isinstance(root, str):
        return []
    return [
        str(child.get(_XML_LANG) or child.get("lang"))
        for child in root
        if isinstance(child.tag, str)
        and etree.QName(child).localname == "div"
        and (child.get(_XML_LANG) or child.get("lang"))
    ]


def language_problem(control: tuple[str, ...], div: str, resource_language: Any) -> str | None:
    """What a narrative's language sections break of its profile's `narrative-language-control`, or None."""
    found = language_sections(div)
    if "_no" in control:
        return f"language sections ({', '.join(found)}) are not allowed here" if found else None
    if "_yes" in control:
        return None if found else "the narrative needs language sections here"
    wanted = [str(resource_language) if code == "_resource" else code for code in control]
    missing = [code for code in wanted if code and code != "None" and code not in found]
    if not missing:
        return None
    return f"the narrative needs a section for {', '.join(missing)} (found {', '.join(found) or 'none'})"

"""FHIR R4 XML ⇄ FHIR JSON (plain dicts), driven by the R4 core StructureDefinitions the validator loads.

FHIR R4 XML (http://hl7.org/fhir/R4/xml.html): elements in the `http://hl7.org/fhir` namespace, in the order the
definition lists them; a primitive's value in its `value` attribute, with its `id` attribute and `extension`
children going to JSON's `_name` (FHIR R4 JSON §2.6.2.7: `_name` arrays pair with value arrays, `null` where one
side has nothing); `Element.id` and `Extension.url` are attributes; a choice element is named with its type
(`valueQuantity`); a resource inside an element (`contained`, `Bundle.entry.resource`) is the element's one child;
the narrative is an XHTML `div`, which JSON holds as a string. Whether an element repeats (a JSON array) comes from
its base cardinality, its JSON type (boolean, number, string) from its primitive type. Comments and processing
instructions are dropped.

Reading reports what the definitions do not allow instead of dropping it (`FhirReading.issues`): an unknown
element or attribute (`fhir-xml.unknown`), an element out of the definition's order (`fhir-xml.order`), text
where only elements belong (`fhir-xml.text`), a malformed document (`fhir-xml.syntax`). A singular element that
occurs twice is kept as an array, for the validator to report with its path. Parsing is lxml with the settings
every XML input gets (no DTD, no entities, no network); a DOCTYPE is refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from lxml import etree

from gateway.validation.plans import CORE_PREFIX, ElementPlan, TypeRef
from gateway.validation.primitives import INTEGER_TYPES, PRIMITIVES
from mappings.issues import Issue, IssueCode, IssueError

FHIR_NS = "http://hl7.org/fhir"
XHTML_NS = "http://www.w3.org/1999/xhtml"
Resource = dict[str, Any]

_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    huge_tree=False,
    remove_comments=True,
    remove_pis=True,
)
_FRAGMENT_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


@dataclass(frozen=True, slots=True)
class FhirReading:
    """A resource read from FHIR XML (or JSON), and what the format's rules did not allow in it."""

    resource: Resource
    issues: tuple[Issue, ...] = ()


def _issue(code: IssueCode, message_id: str, expression: str, diagnostics: str, line: int | None) -> Issue:
    where = f" (line {line})" if line else ""
    return Issue("error", code, diagnostics + where, expression, message_id)


def _kind(node: ElementPlan, type_ref: TypeRef | None) -> str:
    """How an element is written: `attribute`, `xhtml`, `primitive`, `resource` or `complex`."""
    code = type_ref.code if type_ref else (node.types[0].code if len(node.types) == 1 else "")
    if code == "xhtml":
        return "xhtml"
    if code in PRIMITIVES or code.startswith("http://hl7.org/fhirpath/System."):
        return "attribute" if node.no_extensions else "primitive"
    if code in ("Resource", "DomainResource"):
        return "resource"
    return "complex"


def _json_value(code: str, text: str) -> Any:
    """A primitive's XML value in its JSON form; text that is not of the type stays text (the validator says so)."""
    if code == "boolean":
        return {"true": True, "false": False}.get(text, text)
    if code in INTEGER_TYPES:
        try:
            return int(text)
        except ValueError:
            return text
    if code == "decimal":
        try:
            number = float(text)
        except ValueError:
            return text
        if not math.isfinite(number):
            return text
        return int(text) if text.lstrip("-").isdigit() else number
    return text


def _xml_value(value: Any) -> str:
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


class FhirXml:
    """Reads and writes FHIR R4 XML with the R4 core plans of `plans` (a `Validator`)."""

    def __init__(self, plans: Any) -> None:
        self._plans = plans

    def _plan(self, code: str) -> Any:
        return self._plans.plan(CORE_PREFIX + code, None)

    def _extension_holder(self) -> ElementPlan:
        """The root of the Extension plan: what `<extension>` of a primitive holds."""
        holder = self._children_of(self._plan("Element").root.children["extension"], None)
        assert holder is not None
        return holder

    def _children_of(self, node: ElementPlan, type_ref: TypeRef | None) -> ElementPlan | None:
        """The element whose children describe a complex value: a backbone element itself, else its type's root."""
        if node.children:
            return node
        code = type_ref.code if type_ref else (node.types[0].code if len(node.types) == 1 else "")
        plan = self._plan(code) if code else None
        return plan.root if plan is not None else None

    # -- reading ------------------------------------------------------------------------------------------------
    def read(self, data: bytes | etree._Element) -> FhirReading:
        issues: list[Issue] = []
        if isinstance(data, bytes | bytearray):
            if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
                raise IssueError.single(
                    "security", "a DOCTYPE is not allowed in FHIR XML", expression="(xml)", message_id="fhir-xml.syntax"
                )
            try:
                root = etree.fromstring(bytes(data), _PARSER)
            except etree.XMLSyntaxError as error:
                raise IssueError.single(
                    "structure",
                    f"not well-formed XML: {error.msg}",
                    expression="(xml)",
                    message_id="fhir-xml.syntax",
                ) from None
        else:
            root = data
        resource = self._resource(root, issues, "")
        if resource is None:
            raise IssueError(tuple(issues))
        return FhirReading(resource, tuple(issues))

    def _resource(self, element: etree._Element, issues: list[Issue], expr: str) -> Resource | None:
        name = etree.QName(element)
        plan = self._plan(name.localname) if name.namespace == FHIR_NS else None
        if plan is None or plan.kind != "resource":
            issues.append(
                _issue(
                    "structure",
                    "fhir-xml.unknown",
                    expr or "(xml)",
                    f"<{element.tag}> is no FHIR resource",
                    element.sourceline,
                )
            )
            return None
        resource: Resource = {"resourceType": name.localname}
        self._complex(element, plan.root, resource, issues, expr or name.localname)
        return resource

    def _complex(
        self, element: etree._Element, node: ElementPlan, out: Resource, issues: list[Issue], expr: str
    ) -> None:
        for attribute, text in element.attrib.items():
            child = node.children.get(str(attribute))
            if child is not None and child.no_extensions and _kind(child, None) == "attribute":
                out[str(attribute)] = text
            else:
                issues.append(
                    _issue(
                        "structure",
                        "fhir-xml.unknown",
                        expr,
                        f"attribute {attribute!r} is not allowed here",
                        element.sourceline,
                    )
                )
        if element.text and element.text.strip():
            issues.append(_issue("structure", "fhir-xml.text", expr, "text is not allowed here", element.sourceline))
        layout = _positions(node)
        last = -1
        for child_element in element:
            if not isinstance(child_element.tag, str):
                continue
            if child_element.tail and child_element.tail.strip():
                issues.append(
                    _issue("structure", "fhir-xml.text", expr, "text is not allowed here", child_element.sourceline)
                )
            name = etree.QName(child_element)
            entry = node.json_keys.get(name.localname) if name.namespace in (FHIR_NS, XHTML_NS) else None
            if entry is not None and (name.namespace == XHTML_NS) != (_kind(*entry) == "xhtml"):
                entry = None  # FHIR elements in the FHIR namespace, the narrative in XHTML's
            if entry is None or _kind(*entry) == "attribute":
                issues.append(
                    _issue(
                        "structure",
                        "fhir-xml.unknown",
                        f"{expr}.{name.localname}",
                        f"unknown element <{name.localname}> in {node.path}",
                        child_element.sourceline,
                    )
                )
                continue
            child, type_ref = entry
            position = layout[child]
            if position < last:
                issues.append(
                    _issue(
                        "structure",
                        "fhir-xml.order",
                        f"{expr}.{name.localname}",
                        f"<{name.localname}> is out of order: {node.path} lists its elements in a fixed order",
                        child_element.sourceline,
                    )
                )
            last = max(last, position)
            self._child(child_element, child, type_ref, name.localname, out, issues, expr)
        _pair_primitives(out)

    def _child(
        self,
        element: etree._Element,
        child: ElementPlan,
        type_ref: TypeRef | None,
        key: str,
        out: Resource,
        issues: list[Issue],
        expr: str,
    ) -> None:
        kind = _kind(child, type_ref)
        at = f"{expr}.{key}"
        if kind == "primitive":
            primitive, companion = self._primitive(element, child, type_ref, issues, at)
            _add(out, key, primitive, child.array)
            _add(out, "_" + key, companion, child.array)
            return
        if kind == "xhtml":
            _add(out, key, etree.tostring(element, encoding="unicode", with_tail=False), child.array)
            return
        if kind == "resource":
            inner = [e for e in element if isinstance(e.tag, str)]
            resource = self._resource(inner[0], issues, at) if len(inner) == 1 else None
            if len(inner) != 1:
                issues.append(
                    _issue("structure", "fhir-xml.unknown", at, f"<{key}> must hold one resource", element.sourceline)
                )
            _add(out, key, resource if resource is not None else {}, child.array)
            return
        holder = self._children_of(child, type_ref)
        value: Resource = {}
        if holder is None:
            issues.append(
                _issue("structure", "fhir-xml.unknown", at, f"no definition for {child.path}", element.sourceline)
            )
        else:
            self._complex(element, holder, value, issues, at)
        _add(out, key, value, child.array)

    def _primitive(
        self, element: etree._Element, child: ElementPlan, type_ref: TypeRef | None, issues: list[Issue], at: str
    ) -> tuple[Any, Resource | None]:
        code = type_ref.code if type_ref else child.types[0].code
        text = element.get("value")
        value = _json_value(code, text) if text is not None else None
        companion: Resource = {}
        for attribute, attribute_value in element.attrib.items():
            if attribute == "id":
                companion["id"] = attribute_value
            elif attribute != "value":
                issues.append(
                    _issue(
                        "structure",
                        "fhir-xml.unknown",
                        at,
                        f"attribute {attribute!r} is not allowed here",
                        element.sourceline,
                    )
                )
        extensions: list[Resource] = []
        for inner in element:
            if not isinstance(inner.tag, str):
                continue
            name = etree.QName(inner)
            if name.namespace == FHIR_NS and name.localname == "extension":
                extension: Resource = {}
                self._complex(inner, self._extension_holder(), extension, issues, f"{at}.extension[{len(extensions)}]")
                extensions.append(extension)
            else:
                issues.append(
                    _issue(
                        "structure",
                        "fhir-xml.unknown",
                        at,
                        f"<{name.localname}> is not allowed in a primitive",
                        inner.sourceline,
                    )
                )
        if extensions:
            companion["extension"] = extensions
        return value, companion or None

    # -- writing ------------------------------------------------------------------------------------------------
    def write(self, resource: Resource) -> bytes:
        element = self._resource_element(resource, "")
        tree: bytes = etree.tostring(element, encoding="UTF-8", xml_declaration=True)
        return tree

    def _resource_element(self, resource: Resource, expr: str) -> etree._Element:
        resource_type = resource.get("resourceType") if isinstance(resource, dict) else None
        plan = self._plan(str(resource_type)) if isinstance(resource_type, str) else None
        if plan is None or plan.kind != "resource":
            raise IssueError.single(
                "structure",
                f"{resource_type!r} is no FHIR resource type",
                expression=expr or "resourceType",
                message_id="fhir-xml.unknown",
            )
        element = etree.Element(f"{{{FHIR_NS}}}{resource_type}", nsmap={None: FHIR_NS})
        self._fill(element, resource, plan.root, expr or str(resource_type), skip=("resourceType",))
        return element

    def _fill(
        self, element: etree._Element, value: Resource, node: ElementPlan, expr: str, skip: tuple[str, ...] = ()
    ) -> None:
        known = set(skip)
        for key in value:
            if key in known:
                continue
            name = key[1:] if key.startswith("_") else key
            entry = node.json_keys.get(name)
            if entry is None:
                raise IssueError.single(
                    "structure",
                    f"unknown element {key!r} in {node.path}",
                    expression=f"{expr}.{key}",
                    message_id="fhir-xml.unknown",
                )
            if _kind(*entry) == "attribute":
                if key.startswith("_"):
                    raise IssueError.single(
                        "structure",
                        f"{node.path}.{name} has no '_' form",
                        expression=f"{expr}.{key}",
                        message_id="fhir-xml.unknown",
                    )
                element.set(name, _xml_value(value[key]))
                known.add(key)
        for key, child, type_ref, kind in _ordered_keys(node):
            if key in value or "_" + key in value:
                values = value.get(key)
                companions = value.get("_" + key)
                if (key in value and values is None) or ("_" + key in value and companions is None):
                    raise IssueError.single(
                        "structure",
                        "null is no value: leave the element out",
                        expression=f"{expr}.{key}",
                        message_id="fhir-xml.shape",
                    )
                items = _as_items(values, child, f"{expr}.{key}")
                extras = _as_items(companions, child, f"{expr}._{key}")
                for index in range(max(len(items), len(extras))):
                    item = items[index] if index < len(items) else None
                    extra = extras[index] if index < len(extras) else None
                    self._write_child(element, key, kind, child, type_ref, item, extra, f"{expr}.{key}")

    def _write_child(
        self,
        parent: etree._Element,
        key: str,
        kind: str,
        child: ElementPlan,
        type_ref: TypeRef | None,
        item: Any,
        extra: Any,
        expr: str,
    ) -> None:
        if kind == "xhtml":
            if isinstance(item, str):
                try:
                    parent.append(etree.fromstring(item.encode("utf-8"), _FRAGMENT_PARSER))
                except etree.XMLSyntaxError as error:
                    raise IssueError.single(
                        "structure",
                        f"the narrative is not XHTML: {error.msg}",
                        expression=expr,
                        message_id="fhir-xml.syntax",
                    ) from None
            return
        element = etree.SubElement(parent, f"{{{FHIR_NS}}}{key}")
        if kind == "primitive":
            if isinstance(extra, dict) and isinstance(extra.get("id"), str):
                element.set("id", extra["id"])
            if item is not None:
                element.set("value", _xml_value(item))
            extensions = extra.get("extension") if isinstance(extra, dict) else None
            for extension in extensions if isinstance(extensions, list) else []:
                inner = etree.SubElement(element, f"{{{FHIR_NS}}}extension")
                self._fill(inner, extension, self._extension_holder(), f"{expr}.extension")
            return
        if kind == "resource":
            if isinstance(item, dict):
                element.append(self._resource_element(item, expr))
            return
        holder = self._children_of(child, type_ref)
        if holder is None or not isinstance(item, dict):
            raise IssueError.single(
                "structure", f"{child.path} must be a JSON object", expression=expr, message_id="fhir-xml.unknown"
            )
        self._fill(element, item, holder, expr)


_POSITIONS: dict[int, tuple[ElementPlan, dict[ElementPlan, int]]] = {}
_ORDERED: dict[int, tuple[ElementPlan, list[tuple[str, ElementPlan, TypeRef | None, str]]]] = {}


def _as_items(value: Any, child: ElementPlan, expr: str) -> list[Any]:
    """The values of one JSON key, as many as XML elements; refuses what XML cannot say (an array for a single
    element, a single value for a repeating one, an empty array)."""
    if value is None:
        return []
    if isinstance(value, list) != child.array or value == []:
        shape = "an array" if child.array else "a single value"
        raise IssueError.single(
            "structure", f"{child.path} must be {shape} (and not empty)", expression=expr, message_id="fhir-xml.shape"
        )
    return value if isinstance(value, list) else [value]


def _positions(node: ElementPlan) -> dict[ElementPlan, int]:
    """Each child's place in the definition's order (kept with the node, plans live as long as their validator)."""
    found = _POSITIONS.get(id(node))
    if found is None or found[0] is not node:
        found = _POSITIONS[id(node)] = (node, {child: index for index, child in enumerate(node.children.values())})
    return found[1]


def _ordered_keys(node: ElementPlan) -> list[tuple[str, ElementPlan, TypeRef | None, str]]:
    """(JSON key, child, type, kind) of the elements written as XML elements, in the definition's order."""
    found = _ORDERED.get(id(node))
    if found is None or found[0] is not node:
        positions = _positions(node)
        keys = sorted(node.json_keys.items(), key=lambda item: positions[item[1][0]])
        ordered = [(key, child, type_ref, _kind(child, type_ref)) for key, (child, type_ref) in keys]
        found = _ORDERED[id(node)] = (node, [entry for entry in ordered if entry[3] != "attribute"])
    return found[1]


def _add(out: Resource, key: str, value: Any, array: bool) -> None:
    """Adds a value (None for a primitive without one, or without id and extensions) to `out[key]`."""
    if array:
        out.setdefault(key, []).append(value)
    elif value is not None:
        if key not in out:
            out[key] = value
        else:  # a singular element twice: kept as an array, for the validator to report where
            existing = out[key]
            out[key] = [*existing, value] if isinstance(existing, list) else [existing, value]


def _pair_primitives(out: Resource) -> None:
    """A repeating primitive's values and `_name` objects pair up by position (null where one has nothing); an
    array of nothing but nulls is left out."""
    for key in [k for k, v in out.items() if isinstance(v, list) and v and all(item is None for item in v)]:
        del out[key]


def read_fhir_xml(data: bytes | etree._Element, *, plans: Any = None) -> FhirReading:
    """A resource from FHIR R4 XML (bytes, or an element parsed already), with what its definitions do not allow.

    Raises `IssueError` only when there is no resource to speak of (not XML, no FHIR resource at the root)."""
    return FhirXml(plans or _default_plans()).read(data)


def resource_from_xml(data: bytes | etree._Element, *, plans: Any = None) -> Resource:
    """A resource from FHIR R4 XML; `IssueError` with every problem when the XML breaks its definitions."""
    reading = read_fhir_xml(data, plans=plans)
    if reading.issues:
        raise IssueError(reading.issues)
    return reading.resource


def resource_to_xml(resource: Resource, *, plans: Any = None) -> bytes:
    """A resource (FHIR JSON as a dict) as FHIR R4 XML, UTF-8 with an XML declaration."""
    return FhirXml(plans or _default_plans()).write(resource)


def _default_plans() -> Any:
    from gateway.validation.engine import default_validator

    return default_validator()

"""Generated narratives (`Resource.text`) for every resource a plan document becomes, from the pages' templates.

FHIR R4 narrative.html: `text.status` `generated` ("the contents of the narrative are entirely generated from
the core elements in the content"), `text.div` an XHTML `div` in the XHTML namespace with only the basic HTML
formatting elements and attributes (invariants txt-1 and txt-2). Each resource gets the same macro the citizen's
page uses for that part of the plan (`templates/macros.html`), so any FHIR viewer shows the plan in the same words.

`xhtml_problems` checks a div against those rules (txt-1: allowed elements and attributes only; txt-2: some text).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from lxml import etree
from markupsafe import escape

from gateway.web.templating import environment
from gateway.web.views import PlanView, denied_text, member_view, plan_view
from mappings.documents.plan import PlanDocument
from mappings.plan import PlanContext
from mappings.plan.care_team import care_team_id
from mappings.plan.common import care_plan_id, member_id, member_kind, patient_id
from mappings.plan.consent import consent_id, crisis_plan_id
from mappings.plan.goal import goal_id, wish_id
from mappings.plan.related_person import denied_person_id

Resource = dict[str, Any]
XHTML = "http://www.w3.org/1999/xhtml"
#: HTML 4.0 chapters 7-11 and 15 (txt-1), less what FHIR forbids (forms, scripts, frames, objects, base/link).
ALLOWED_ELEMENTS = frozenset(
    """a abbr acronym address b bdo big blockquote br caption cite code col colgroup dd del dfn div dl dt em h1 h2 h3
    h4 h5 h6 hr i img ins kbd li ol p pre q s samp small span strike strong sub sup table tbody td tfoot th thead tr
    tt u ul var""".split()
)
ALLOWED_ATTRIBUTES = frozenset(
    """id class style title lang dir abbr align alt axis border cellpadding cellspacing char charoff colspan
    headers height href name rowspan rules scope span src summary valign width""".split()
)


def _div(body: str) -> Resource:
    return {"status": "generated", "div": f'<div xmlns="{XHTML}">{body.strip()}</div>'}


class PlanNarrator:
    """Writes `text` into each resource of a plan's transaction Bundle (a new Bundle; the input is not changed)."""

    def __init__(self, context: PlanContext) -> None:
        self.context = context
        self.macros: Any = environment().get_template("macros.html").module

    def __call__(self, bundle: Resource, document: PlanDocument, context: PlanContext | None = None) -> Resource:
        """`context`: the one the Bundle was made under (its ids derive from it, the author's SOR code included)."""
        narratives = self.narratives(document, context)
        result = copy.deepcopy(bundle)
        for entry in result.get("entry", []):
            resource = entry["resource"]
            body = narratives.get((resource["resourceType"], resource["id"])) or _organisation(resource)
            if body:
                _put_text(resource, _div(body))
        return result

    def narratives(self, document: PlanDocument, context: PlanContext | None = None) -> dict[tuple[str, str], str]:
        ctx, m = context or self.context, self.macros
        view = plan_view(document, care_plan_id(document, ctx), 0)
        found: dict[tuple[str, str], str] = {
            ("Patient", patient_id(document, ctx)): _patient(view),
            ("CareTeam", care_team_id(document, ctx)): str(m.team(view)),
            ("CarePlan", care_plan_id(document, ctx)): str(m.coordination(view)) + str(m.interventions(view)),
            ("Consent", consent_id(document, ctx)): str(m.consent(view)),
        }
        for index, wish in enumerate(view.wishes):
            found[("Goal", wish_id(document, ctx, index))] = f"<p>{m.wish(wish)}</p>"
        for goal in (*view.short_goals, *view.long_goals):
            found[("Goal", goal_id(document, ctx, goal.key))] = f"<p>{m.goal(goal)}</p>"
        for index, crisis in enumerate(view.crisis_plans):
            found[("Consent", crisis_plan_id(document, ctx, index))] = str(m.crisis_plan(crisis))
        for member in document.team:
            key = (member_kind(member), member_id(document, member, ctx))
            if key[0] != "Organization":
                found[key] = f"<p>{m.member(member_view(document, member))}</p>"
        for index, party in enumerate(document.consent.denied):
            found[("RelatedPerson", denied_person_id(document, ctx, index))] = (
                f"<p>Må ikke se planen: {escape(denied_text(party))}</p>"
            )
        return found


def _put_text(resource: Resource, text: Resource) -> None:
    """`text` right after `meta` (FHIR's element order; JSON does not require it, readers like it)."""
    items = [(key, value) for key, value in resource.items() if key != "text"]
    anchor = "meta" if "meta" in resource else "id"
    resource.clear()
    for key, value in items:
        resource[key] = value
        if key == anchor:
            resource["text"] = text
    resource.setdefault("text", text)


def _patient(view: PlanView) -> str:
    return f"<p><strong>{escape(view.citizen)}</strong>, borger med en fælles plan</p>"


def _organisation(resource: Resource) -> str | None:
    if resource["resourceType"] != "Organization":
        return None
    systems = {
        "urn:oid:1.2.208.176.1.1": "SOR",
        "https://www.gs1.org/gln": "GLN",
        "urn:oid:1.2.208.176.1.4": "Ydernummer",
    }
    ids = [f"{systems[i['system']]} {i['value']}" for i in resource.get("identifier", []) if i.get("system") in systems]
    return (
        f"<p><strong>{escape(resource.get('name', ''))}</strong>"
        + (f"<br/>{escape(', '.join(ids))}" if ids else "")
        + "</p>"
    )


def xhtml_problems(div: str) -> list[str]:
    """Why `div` breaks FHIR's narrative rules (txt-1, txt-2, XHTML namespace, well-formed); empty when it holds."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(div.encode("utf-8"), parser)
    except etree.XMLSyntaxError as error:
        return [f"not well-formed XML: {error}"]
    problems = []
    if root.tag != f"{{{XHTML}}}div":
        problems.append(f"the root is {root.tag}, not an XHTML div")
    for element in root.iter():
        if not isinstance(element.tag, str):
            problems.append("comments and processing instructions are not narrative")
            continue
        namespace, _, name = element.tag.rpartition("}")
        if namespace != "{" + XHTML or name not in ALLOWED_ELEMENTS:
            problems.append(f"element {element.tag} is not allowed (txt-1)")
        for attribute in element.attrib:
            if attribute not in ALLOWED_ATTRIBUTES:
                problems.append(f"attribute {attribute} on {name} is not allowed (txt-1)")
    if not "".join(root.itertext()).strip() and root.find(f".//{{{XHTML}}}img") is None:
        problems.append("the narrative has no text and no image (txt-2)")
    return problems


Narrator = Callable[[Resource, PlanDocument], Resource]

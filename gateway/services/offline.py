"""What an offline preview (`gateway convert`) uses instead of the service's directory and database.

`OfflineDirectory` answers every lookup with an entry that holds exactly the identifier asked by, the endpoint
`unknown`, and no name or signatory: the notices then show their recipients by identifier, and the profile check
names what the directory would add (the GLN of a SOR code, the organisation's name, a signatory's telephone).
`FilePlans` serves one plan document from a file (`--plan`), with the consent that document gives, decided by the
same `may_disclose` as a stored plan's.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from gateway.delivery.directory import Recipient, SenderOrganisation, Signatory
from gateway.fhir.access import OPEN, Access
from gateway.services.plans import StoredPlan
from mappings.documents.plan import parse_plan_document
from mappings.explain import Explained
from mappings.issues import Issue, IssueError
from mappings.plan import PlanContext, transaction_from_plan

UNKNOWN_ENDPOINT = "unknown (no recipient directory)"
#: The signatory an offline preview cannot know; its empty telephone number is what the profile check reports.
UNKNOWN_SIGNATORY = Signatory("(underskriver fra kataloget)", (), "")


def _label(sor: str | None, gln: str | None, municipality: str | None, provider_number: str | None) -> str:
    parts = [f"{kind} {value}" for kind, value in (("SOR", sor), ("GLN", gln), ("municipality", municipality),
                                                  ("provider number", provider_number)) if value]  # fmt: skip
    return ", ".join(parts) or "an unnamed organisation"


class OfflineDirectory:
    """A directory that knows nobody: each recipient and sender is the identifier it was asked for."""

    def find(
        self,
        *,
        sor: str | None = None,
        gln: str | None = None,
        municipality: str | None = None,
        provider_number: str | None = None,
    ) -> Recipient:
        return Recipient(
            name=_label(sor, gln, municipality, provider_number),
            endpoint=UNKNOWN_ENDPOINT,
            sor=sor or "",
            gln=gln or "",
            municipality=municipality,
            provider_number=provider_number,
        )

    def sender(self, code: str) -> SenderOrganisation:
        is_gln = len(code) == 13 and code.startswith("57")
        return SenderOrganisation(
            name=_label(None if is_gln else code, code if is_gln else None, None, None),
            sor="" if is_gln else code,
            gln=code if is_gln else "",
            signatory=UNKNOWN_SIGNATORY,
        )


def is_offline(organisation: Recipient | SenderOrganisation) -> bool:
    if isinstance(organisation, Recipient):
        return organisation.endpoint == UNKNOWN_ENDPOINT
    return organisation.signatory is UNKNOWN_SIGNATORY


class FilePlans:
    """One plan document from a JSON file, as the citizen's current plan (for the CPR number it names)."""

    def __init__(self, path: Path, context: PlanContext | None = None) -> None:
        try:
            data = orjson.loads(path.read_bytes())
        except (OSError, orjson.JSONDecodeError) as error:
            raise IssueError.single(
                "structure", f"{path}: not a readable plan document: {error}", message_id="convert.plan-unreadable"
            ) from None
        self.document = parse_plan_document(data)
        bundle = transaction_from_plan(self.document, context or PlanContext())
        resources = [entry["resource"] for entry in bundle["entry"]]
        consent = next(
            (
                r
                for r in resources
                if r["resourceType"] == "Consent"
                and any(c.get("code") == "patient-privacy" for c in r.get("scope", {}).get("coding", []))
            ),
            None,
        )
        self.consent = consent

    def current_plan_for(self, cpr: str, access: Access = OPEN) -> StoredPlan | None:
        if cpr != self.document.citizen.cpr:
            return None
        return StoredPlan("(plan file)", self.document, self.consent)


def _json_path(expression: str) -> str:
    """A validator location in JSON names: `extension[3].value.ofType(ContactPoint).value` is
    `extension[3].valueContactPoint.value`."""
    return re.sub(r"\.(\w+)\.ofType\((\w)(\w*)\)", lambda m: f".{m[1]}{m[2].upper()}{m[3]}", expression)


#: Elements an offline preview leaves out because only the directory knows them: the SOR endpoints of the
#: MessageHeader (MedCom writes endpoints as `https://sor2.sum.dsdn.dk/#id=<SOR>`).
_ENDPOINTS = (".destination[0].endpoint", ".resource.source")


def split_offline_gaps(
    bundle: dict[str, Any], issues: Sequence[Issue], explained: Sequence[Explained]
) -> tuple[list[Issue], list[Issue]]:
    """`(gaps, problems)`: the profile errors an offline preview expects because the directory would have filled
    the element, and the rest (which fail the conversion as they would at intake).

    A gap is an error at or inside an element explained as `directory`, anywhere in an Organization (all of them
    come from the directory), or at a SOR endpoint of the MessageHeader. A reference to a resource with a gap "does
    not conform" to its target profile either; those count as gaps too, transitively (an Encounter whose
    serviceProvider lacks its GLN, the MessageHeader whose focus is that Encounter).
    """
    directory_paths = [item.path for item in explained if item.origin.kind == "directory"]
    entries = bundle.get("entry", [])
    owners = {f"Bundle.entry[{i}].resource": e["resource"] for i, e in enumerate(entries)}
    names = {f"{r.get('resourceType')}/{r.get('id')}": path for path, r in owners.items()}

    def owner(expression: str) -> str:
        head, found, _ = expression.partition(".resource")
        return head + found if found else expression

    def is_gap(located: str) -> bool:
        expression = _json_path(located)
        if owners.get(owner(expression), {}).get("resourceType") == "Organization":
            return True
        if expression.endswith(_ENDPOINTS):
            return True
        return any(path == expression or path.startswith((expression + ".", expression + "["))
                   for path in directory_paths)  # fmt: skip

    gaps: list[Issue] = [i for i in issues if is_gap(i.expression or "")]
    gapped = {owner(i.expression or "") for i in gaps}
    rest = [i for i in issues if i not in gaps]
    changed = True
    while changed:
        changed = False
        for issue in list(rest):
            targets = {path for name, path in names.items() if name in issue.diagnostics}
            if "does not conform" in issue.diagnostics and targets & gapped:
                rest.remove(issue)
                gaps.append(issue)
                gapped.add(owner(issue.expression or ""))
                changed = True
    return gaps, rest

"""The consent choke point: may this caller see this resource? (HAPI FHIR's consent service: can-see, one place.)

A citizen's CarePlan, Goal, CareTeam and plan Consent are disclosed to an organisation only when the citizen's active
patient-privacy Consent permits it (`mappings.plan.may_disclose`: status, period, data category, exceptions first,
then the permitted actors), or when that organisation authored them (`meta.source` = its SOR endpoint, stamped on
the first write). Only a Consent recorded by the same organisation as the content it governs counts. Every other
type (Patient, Organization, Practitioner, ...) is not plan content and is governed by
scopes alone. Decisions are made per request against the current Consent, so a withdrawal or an expiry takes effect
at once; they are cached for the rest of the one request only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gateway.security.auth import Caller, disclosure_recipient
from gateway.store.ports import Resource, ResourceTransaction, StoredResource, iterate_references
from gateway.store.search_params import parse_reference
from gateway.store.search_query import Criterion, SearchQuery
from mappings.plan import ConsentDecisionInput, may_disclose

#: Plan content by resource type, and the `mappings.plan` data category each discloses.
GOVERNED: dict[str, str] = {"CarePlan": "careplan", "Goal": "careplan", "CareTeam": "careteam", "Consent": "careplan"}
SOR_ENDPOINT = "https://sor2.sum.dsdn.dk/#id="  # MedCom's SOR endpoint form (NOTES.md §2)
CONSENT_SCOPE = ("http://terminology.hl7.org/CodeSystem/consentscope", "patient-privacy")


def source_of(caller: Caller) -> str:
    """The `meta.source` that marks resources this caller's organisation wrote."""
    return f"{SOR_ENDPOINT}{caller.organisation.sor}"


def patient_of(resource: Resource) -> str | None:
    """The id of the citizen a plan resource is about (subject / patient), or None."""
    for element in ("subject", "patient"):
        target = parse_reference((resource.get(element) or {}).get("reference"))
        if target is not None and target[0] == "Patient":
            return target[1]
    return None


class ConsentPolicy:
    """Per-request consent decisions for one caller (cached by citizen and data category)."""

    def __init__(self, caller: Caller, now: datetime) -> None:
        self.caller = caller
        self.now = now
        self._decisions: dict[tuple[str, str, str | None], bool] = {}

    def can_see(self, tx: ResourceTransaction, stored: StoredResource) -> bool:
        data = GOVERNED.get(stored.resource_type)
        if data is None:
            return True
        resource = stored.resource
        if resource is None:
            return False
        source = (resource.get("meta") or {}).get("source")
        author = source if isinstance(source, str) else None
        if author == source_of(self.caller):
            return True
        patient = patient_of(resource)
        if patient is None:
            return False
        key = (patient, data, author)
        if key not in self._decisions:
            self._decisions[key] = self._consented(tx, patient, data, author)
        return self._decisions[key]

    def _consented(self, tx: ResourceTransaction, patient: str, data: str, author: str | None) -> bool:
        """Only a Consent recorded by the organisation that wrote the plan content counts: anybody able to write
        Consents could otherwise grant itself access (review finding)."""
        query = SearchQuery(
            "Consent",
            (
                Criterion("patient", "reference", "", (f"Patient/{patient}",)),
                Criterion("status", "token", "", ("active",)),
            ),
            count=50,
        )
        recipient = disclosure_recipient(self.caller)
        for stored in tx.search(query).matches:
            consent = stored.resource
            if consent is None or not _privacy_consent(consent):
                continue
            if (consent.get("meta") or {}).get("source") != author:
                continue
            decision_input = ConsentDecisionInput.with_resources(consent, _actors(tx, consent))
            if may_disclose(decision_input, recipient, data, self.now).permit:
                return True
        return False


def _privacy_consent(consent: Resource) -> bool:
    codings = (consent.get("scope") or {}).get("coding") or []
    return any((c.get("system"), c.get("code")) == CONSENT_SCOPE for c in codings)


def _actors(tx: ResourceTransaction, consent: Resource) -> list[dict[str, Any]]:
    """The resources a Consent's provisions point at, so actors match on all their identifiers."""
    found = []
    for reference in iterate_references(consent.get("provision") or {}):
        target = parse_reference(reference["reference"])
        if target is None:
            continue
        current = tx.read_current(*target)
        if current is not None and current.resource is not None:
            found.append(current.resource)
    return found

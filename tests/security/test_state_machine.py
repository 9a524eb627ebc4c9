"""Random sequences of plan posts, updates, withdrawals, direct `/fhir` writes and days passing by three
organisations; after every step an oracle of its own (the machine's record of the documents it sent, and the rule
written out again from the issue's words, not from the gateway's code) says what each organisation may read, and
every read and search through the app with authentication on must agree.

The rule as the issue states it: an organisation sees a plan's content only if it is the plan's author, or the
plan's own active consent names the organisation, by SOR code, for the content's data category, at the time of the
request (Danish calendar days, both ends included); the citizen's Patient to anyone granted any category of one of
that author's plans for the citizen; what an organisation writes straight to `/fhir`, only itself.
"""

from __future__ import annotations

import asyncio
import copy
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from gateway.api import create_app
from gateway.clock import FixedClock, SequenceIds
from gateway.config import Settings
from tests.support import cast

ORGS = {"a": "329631000016003", "b": "375431000016008", "c": "481561000016002"}
MEMBER_OF = {"fact1": "a", "soc1": "b", "gp1": "c"}
CATEGORY = {"CarePlan": "careplan", "CareTeam": "careteam", "Goal": "careplan", "Practitioner": "careteam"}
CHECKED = ("CarePlan", "CareTeam", "Goal", "Consent", "Patient", "Practitioner", "RelatedPerson")
DANISH = ZoneInfo("Europe/Copenhagen")
#: The citizen whose record the organisations also write straight to /fhir.
DIRECT_CPR = "0101010101"
SAMPLE = json.loads(cast.SAMPLE.read_text("utf-8"))


def document(author: str, value: str, cpr: str, consent: dict[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = copy.deepcopy(SAMPLE)
    doc["source"] = {"system": f"https://sor2.sum.dsdn.dk/#id={ORGS[author]}", "value": value}
    doc["citizen"]["cpr"] = cpr
    doc["consent"] = {"decided_on": "2026-01-01", **consent}
    return doc


consents = st.fixed_dictionaries(
    {
        "decision": st.sampled_from(["given", "given", "given", "withdrawn", "refused"]),
        "period": st.fixed_dictionaries({"start": st.just("2026-01-01")})
        | st.fixed_dictionaries({"start": st.just("2026-01-01"), "end": st.sampled_from(["2026-03-01", "2026-03-03"])}),
        "data": st.lists(st.sampled_from(["careplan", "careteam", "followup", "crisisplan"]), min_size=1, unique=True),
        "permitted": st.lists(st.sampled_from(["fact1", "soc1", "gp1", "bo1", "sis1"]), unique=True),
        "denied": st.sampled_from([[], [{"relationship": "FTH"}]]),
    }
).map(lambda c: c if c["decision"] == "given" else {**c, "permitted": []} if c["decision"] == "refused" else c)


@dataclass
class Plan:
    author: str
    cpr: str
    plan_id: str
    resources: dict[str, list[str]]
    consent: dict[str, Any] = field(default_factory=dict)


def granted(plan: Plan, org: str, category: str, today: date) -> bool:
    """The rule, from the issue's words (the oracle's own reading of the document it sent)."""
    consent = plan.consent
    if consent["decision"] != "given" or category not in consent["data"]:
        return False
    start, end = consent["period"]["start"], consent["period"].get("end")
    if today < date.fromisoformat(start) or (end is not None and today > date.fromisoformat(end)):
        return False
    return any(MEMBER_OF.get(key) == org for key in consent["permitted"])


class AccessMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.folder = TemporaryDirectory()
        self.loop = asyncio.new_event_loop()
        self.plans: dict[tuple[str, str], Plan] = {}
        self.direct: list[tuple[str, str, str]] = []  # (author, type, id) written straight to /fhir
        self.dropped: list[tuple[str, str, str]] = []  # (author, type, id) no longer part of their plan

    @initialize()
    def start(self) -> None:
        data = Path(self.folder.name)
        clients = [
            {
                "client_id": org,
                "organisation": {"name": f"Org {org}", "sor": sor, "gln": "5790000209354"},
                "scopes": ["system/*.cruds"],
            }
            for org, sor in ORGS.items()
        ]
        (data / "clients.yaml").write_text(json.dumps({"clients": clients}), "utf-8")
        self.settings = Settings(
            data_dir=data, clients_file=data / "clients.yaml", rate_limit_per_minute=1e6, rate_limit_burst=10**6
        )
        self.clock = FixedClock(datetime(2026, 3, 1, 9, 0, tzinfo=UTC))
        app = create_app(self.settings, clock=self.clock, ids=SequenceIds())
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        self.client = httpx.AsyncClient(transport=transport, base_url="http://gateway.test")
        self.headers = {org: self._token(org) for org in ORGS}

    def _token(self, org: str) -> dict[str, str]:
        return cast.bearer(self.settings, org, self.clock.now(), scopes=["system/*.cruds"], days=60)

    def teardown(self) -> None:
        if hasattr(self, "client"):
            self.loop.run_until_complete(self.client.aclose())
        self.loop.close()
        self.folder.cleanup()

    def call(self, method: str, url: str, org: str, body: Any = None) -> httpx.Response:
        request = self.client.request(method, url, json=body, headers=self.headers[org])
        return self.loop.run_until_complete(request)

    # -- rules ---------------------------------------------------------------------------------------------

    @rule(
        author=st.sampled_from(sorted(ORGS)),
        value=st.sampled_from(["KIP-1", "KIP-2"]),
        cpr=st.sampled_from(["0101010101", "0202020202"]),
        consent=consents,
    )
    def write_plan(self, author: str, value: str, cpr: str, consent: dict[str, Any]) -> None:
        known = self.plans.get((author, value))
        cpr = known.cpr if known else cpr
        body = document(author, value, cpr, consent)
        if known is None:
            response = self.call("POST", "/plans", author, body)
        else:
            response = self.call("PUT", f"/plans/{known.plan_id}", author, body)
        own_records = [i for a, kind, i in self.direct if a == author and kind == "Patient"]
        if known is None and cpr == DIRECT_CPR and len(own_records) > 1:
            # its first write finds the citizen by CPR number among the author's own records: two of them, and it
            # cannot choose (a conditional update's several matches: 412); later writes keep the one it found
            assert response.status_code == 412, response.text
            assert response.json()["issue"][0]["code"] == "multiple-matches"
            return
        assert response.status_code in (200, 201), response.text
        receipt = response.json()
        if known is not None:
            for resource_type, ids in known.resources.items():
                gone = set(ids) - set(receipt["resources"].get(resource_type, []))
                self.dropped += [(author, resource_type, i) for i in gone if resource_type in CHECKED]
        self.plans[(author, value)] = Plan(author, cpr, receipt["planId"], receipt["resources"], consent)

    @rule(author=st.sampled_from(sorted(ORGS)), intruder=st.sampled_from(sorted(ORGS)), data=st.data())
    def write_someone_elses_plan(self, author: str, intruder: str, data: st.DataObject) -> None:
        mine = [plan for plan in self.plans.values() if plan.author == author]
        if not mine or intruder == author:
            return
        plan = data.draw(st.sampled_from(mine))
        # A valid document (a refused consent that permits someone is refused as 422 before anything is looked
        # up, which would hide whether the authorship check holds): only the authorship can refuse it.
        opened = {**plan.consent, "decision": "given", "permitted": ["fact1", "soc1", "gp1"]}
        sent = document(author, "KIP-1", plan.cpr, opened)
        response = self.call("POST", "/plans", intruder, sent)
        assert response.status_code == 403, response.text
        current = self.call("GET", f"/fhir/CarePlan/{plan.plan_id}", author).json()
        for method in ("PUT", "DELETE"):
            response = self.call(method, f"/fhir/CarePlan/{plan.plan_id}", intruder, current)
            assert response.status_code == 404, response.text

    @rule(author=st.sampled_from(sorted(ORGS)), kind=st.sampled_from(["Patient", "CarePlan", "Consent"]))
    def write_straight_to_fhir(self, author: str, kind: str) -> None:
        bodies = {
            "Patient": {"resourceType": "Patient", "identifier": [{"system": cast_cpr(), "value": DIRECT_CPR}]},
            "CarePlan": {
                "resourceType": "CarePlan",
                "status": "active",
                "intent": "plan",
                "subject": {"identifier": {"system": cast_cpr(), "value": DIRECT_CPR}},
            },
            "Consent": {  # valid R4 (written resources are validated): a policy rule, coded scope and category
                "resourceType": "Consent",
                "status": "active",
                "scope": {
                    "coding": [
                        {"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}
                    ]
                },
                "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
                "policyRule": {
                    "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"}]
                },
            },
        }
        response = self.call("POST", f"/fhir/{kind}", author, bodies[kind])
        assert response.status_code == 201, response.text
        self.direct.append((author, kind, response.json()["id"]))

    @rule(days=st.integers(min_value=1, max_value=2))
    def days_pass(self, days: int) -> None:
        self.clock.advance(timedelta(days=days))

    # -- the oracle ----------------------------------------------------------------------------------------

    def may_read(self, org: str, resource_type: str, resource_id: str, plan: Plan) -> bool:
        today = self.clock.now().astimezone(DANISH).date()
        if org == plan.author:
            return True
        if resource_type == "Patient":
            same = [p for p in self.plans.values() if p.author == plan.author and p.cpr == plan.cpr]
            return any(
                granted(p, org, kind, today)
                for p in same
                for kind in ("careplan", "careteam", "crisisplan", "followup")
            )
        if resource_type == "Consent":
            kind = "careplan" if resource_id == plan.resources["Consent"][0] else "crisisplan"
            return granted(plan, org, kind, today)
        if resource_type == "RelatedPerson":  # the team's relative first, then the excluded father
            kind = "careteam" if resource_id == plan.resources["RelatedPerson"][0] else "careplan"
            return granted(plan, org, kind, today)
        return granted(plan, org, CATEGORY[resource_type], today)

    @invariant()
    def every_read_and_search_agrees(self) -> None:
        if not hasattr(self, "client"):
            return
        for org in ORGS:
            expected: dict[str, set[str]] = {resource_type: set() for resource_type in CHECKED}
            for plan in self.plans.values():
                for resource_type in CHECKED:
                    for resource_id in plan.resources.get(resource_type, []):
                        if self.may_read(org, resource_type, resource_id, plan):
                            expected[resource_type].add(resource_id)
                status = self.call("GET", f"/fhir/CarePlan/{plan.plan_id}", org).status_code
                assert status == (200 if plan.plan_id in expected["CarePlan"] else 404), (org, plan, self.clock.now())
            for author, resource_type, resource_id in self.direct + self.dropped:
                if author == org:
                    expected[resource_type].add(resource_id)
            for resource_type, ids in expected.items():
                found = self.call("GET", f"/fhir/{resource_type}?_count=200", org).json()
                seen = {entry["resource"]["id"] for entry in found.get("entry", [])}
                assert seen == ids and found["total"] == len(ids), (org, resource_type, self.clock.now())


def cast_cpr() -> str:
    return "urn:oid:1.2.208.176.1.2"


AccessMachine.TestCase.settings = settings(
    max_examples=15, stateful_step_count=8, deadline=None, suppress_health_check=list(HealthCheck)
)
TestAccessMachine = AccessMachine.TestCase

"""The plan shared after a coordination meeting: a valid CareCommunication with what was decided and the PDF."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from gateway.clock import SequenceIds
from gateway.validation import default_validator
from mappings.context import MappingContext
from mappings.documents.discharge import Author, Party
from mappings.documents.plan import parse_plan_document
from mappings.notices.plan_shared import SharedPlan, care_communication_from_shared_plan, decisions_text
from tests.support import scenario

NOW = datetime(2025, 6, 3, 14, 0, tzinfo=UTC)
REGION = Party(gln="5790000209354", sor="265161000016000", name="Psykiatrisk Center Øst")
MUNICIPALITY = Party(gln="5790001348120", sor="375431000016008", name="Slagelse Kommune, Socialpsykiatri")
PDF = base64.b64encode(b"%PDF-1.4 test").decode()


def shared(receiver: Party = MUNICIPALITY) -> dict[str, Any]:
    document = scenario.plan_document()
    document["coordination"] |= {"meeting_date": "2025-06-03", "next_meeting": "2025-09-02"}
    plan = SharedPlan(
        "plan-1", parse_plan_document(document), REGION, receiver, Author("Jensen", ("Anne",), "38640000"), PDF
    )
    return care_communication_from_shared_plan(plan, MappingContext(now=NOW, new_uuid=SequenceIds().new_id))


def communication(bundle: dict[str, Any]) -> dict[str, Any]:
    return next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Communication")


def test_the_message_validates_against_medcoms_carecommunication_profile() -> None:
    issues = default_validator().validate(shared()).issues
    assert [i for i in issues if i.severity in ("error", "fatal")] == []


def test_category_topic_text_and_pdf_attachment() -> None:
    found = communication(shared())
    assert found["category"][0]["coding"][0] == {
        "system": "http://medcomfhir.dk/ig/terminology/CodeSystem/medcom-careCommunication-categoryCodes",
        "code": "carecoordination",
    }
    assert found["topic"]["text"] == "Fælles plan KIP-2024-000417: koordinationsmøde 03.06.2025"
    text = found["payload"][0]["contentString"]
    assert text.startswith("Aftalt på koordinationsmødet 03.06.2025:")
    assert "Næste koordinationsmøde: 02.09.2025" in text
    assert "- Medicingennemgang og somatisk helbredstjek (blodprøver, vægt, blodtryk). (ansvarlig: Peter Æbelø" in text
    attachment = found["payload"][1]["contentAttachment"]
    assert (attachment["contentType"], attachment["data"]) == ("application/pdf", PDF)
    assert attachment["title"] == "Fælles plan KIP-2024-000417 2025-06-03.pdf"


def test_same_meeting_and_receiver_is_the_same_message_and_another_receiver_another() -> None:
    first, again = shared(), shared()
    assert first["entry"][0]["resource"]["id"] == again["entry"][0]["resource"]["id"]
    gp = Party(gln="5790000167814", sor="481561000016002", name="Lægerne i Slagelse Bymidte")
    assert shared(gp)["entry"][0]["resource"]["id"] != first["entry"][0]["resource"]["id"]


def test_decisions_leave_out_finished_interventions() -> None:
    document = scenario.plan_document()
    document["interventions"][0]["status"] = "completed"
    text = decisions_text(parse_plan_document(document))
    assert "Fælles samtale" not in text and "Ansøgning om budgetrådgivning" in text

"""The MessageHeader id of a notice derived from an input (an ADT's MSH-3/4/10) is computed under the deployment's
secret namespace: Organisation X, which can guess MSH-10 (a sender's counter), can neither take the id first with
a message of its own (the region's admission then refused as a duplicate) nor ask whether the region sent it
(review, stop 26). Under the public default namespace both work: the README says to set a secret one."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.config import Settings
from gateway.services.notices import hospital_notification_header_id
from mappings.context import PUBLIC_NOTICE_NAMESPACE
from tests.security.conftest import Headers, settings_in
from tests.security.test_intake_identity import FHIR, HL7, x_relay
from tests.support import scenario

SECRET = uuid.UUID("0b6f2a8e-3c1d-4e5f-8a9b-7c6d5e4f3a2b")  # synthetic: a deployment's own
REGIONS_A01 = "hl7v2|SP-PSYK|RHP^265161000016000^SOR|SP0001"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return settings_in(tmp_path, plan_id_namespace=SECRET)


def relay_with_header_id(header_id: str) -> dict[str, Any]:
    bundle = x_relay()
    old = bundle["entry"][0]["resource"]["id"]
    replaced: dict[str, Any] = json.loads(json.dumps(bundle).replace(old, header_id))
    return replaced


async def test_x_cannot_take_the_id_of_the_regions_next_notice(client: httpx.AsyncClient, as_: Headers) -> None:
    guessed = hospital_notification_header_id(REGIONS_A01, PUBLIC_NOTICE_NAMESPACE)
    taken = await client.post("/messages", content=json.dumps(relay_with_header_id(guessed)), headers=FHIR | as_("x"))
    assert taken.status_code == 202, taken.text
    assert (await client.post("/plans", json=scenario.plan_document(), headers=as_("fact"))).status_code == 201
    body = scenario.adt("adt_a01_inpatient_8859-1.hl7")
    admitted = await client.post("/messages", content=body, headers=HL7 | as_("region"))
    assert admitted.status_code == 202, f"X blocked the region's admission: {admitted.text[:300]}"
    header = next(n for n in admitted.json()["notices"] if n["kind"] == "hospital-notification")["messageHeaderId"]
    assert header == hospital_notification_header_id(REGIONS_A01, Settings(plan_id_namespace=SECRET).header_namespace())
    assert header != guessed


async def test_x_cannot_ask_whether_the_region_sent_a_message(client: httpx.AsyncClient, as_: Headers) -> None:
    assert (await client.post("/plans", json=scenario.plan_document(), headers=as_("fact"))).status_code == 201
    body = scenario.adt("adt_a01_inpatient_8859-1.hl7")
    assert (await client.post("/messages", content=body, headers=HL7 | as_("region"))).status_code == 202
    answers = {}
    for control_id in ("SP0001", "SP0002"):  # the region sent SP0001 only
        guessed = hospital_notification_header_id(REGIONS_A01[:-6] + control_id, PUBLIC_NOTICE_NAMESPACE)
        relay = relay_with_header_id(guessed)
        posted = await client.post("/messages", content=json.dumps(relay), headers=FHIR | as_("x"))
        answers[control_id] = posted.status_code
    assert answers == {"SP0001": 202, "SP0002": 202}


def test_the_shared_plans_notices_take_the_secret_namespace_too(app: Any, settings: Settings) -> None:
    """The plan shared after a coordination meeting is a notice with a derived MessageHeader id as well."""
    assert app.state.plans.hooks.header_namespace == settings.header_namespace() != PUBLIC_NOTICE_NAMESPACE
    assert app.state.intake.header_namespace == settings.header_namespace()

"""`POST /messages/notices/{id}/correct` by Organisation X on its own dead notice: the correction may mend content,
never who the message names as its sender, anywhere a receiver reads it (review 2, stop 26: each of these was
queued in the region's name)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from gateway.delivery.outbox import Attempt, DeadLetter
from gateway.delivery.outcome import OutcomeKind
from tests.security.conftest import Headers
from tests.security.test_intake_identity import FHIR, relayed, sender_organization, x_relay
from tests.support import cast

REGION_ORG_ID = "0e0e0e0e-0000-4000-8000-0000000000aa"
Forgery = Callable[[dict[str, Any]], None]


def region_organization() -> dict[str, Any]:
    region = copy.deepcopy(sender_organization(json.loads(relayed(cast.REGION_SOR))))
    region["id"] = REGION_ORG_ID
    return region


def provenance(bundle: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = next(
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Provenance"
    )
    return found


def endpoint_of_the_region(message: dict[str, Any]) -> None:
    message["entry"][0]["resource"]["source"]["endpoint"] = f"https://sor2.sum.dsdn.dk/#id={cast.REGION_SOR}"


def the_region_as_provenance_agent(message: dict[str, Any]) -> None:
    message["entry"].append({"fullUrl": f"urn:uuid:{REGION_ORG_ID}", "resource": region_organization()})
    provenance(message)["agent"] = [{"who": {"reference": f"urn:uuid:{REGION_ORG_ID}"}}]


def a_second_sender_of_one_id(message: dict[str, Any]) -> None:
    twin = region_organization()
    twin["id"] = sender_organization(message)["id"]
    message["entry"].insert(1, {"fullUrl": f"urn:uuid:{REGION_ORG_ID}", "resource": twin})


def the_senders_name(message: dict[str, Any]) -> None:
    sender_organization(message)["name"] = "Psykiatrisk Center Øst"


def the_whole_region(message: dict[str, Any]) -> None:
    message.clear()
    message.update(json.loads(relayed(cast.REGION_SOR)))


@pytest.mark.parametrize(
    "forge",
    [
        endpoint_of_the_region,
        the_region_as_provenance_agent,
        a_second_sender_of_one_id,
        the_senders_name,
        the_whole_region,
    ],  # fmt: skip
)
async def test_x_cannot_correct_its_notice_into_one_that_names_the_region(
    app: FastAPI, client: httpx.AsyncClient, as_: Headers, forge: Forgery
) -> None:
    posted = await client.post("/messages", content=json.dumps(x_relay()), headers=FHIR | as_("x"))
    assert posted.status_code == 202, posted.text
    outbox = app.state.messages.outbox
    now = app.state.clock.now() + timedelta(minutes=1)
    claim = await outbox.claim(now, timedelta(minutes=1), "w")
    assert claim is not None
    attempt = Attempt("bundle-1", now, now, OutcomeKind.DELIVERED, status=400)
    assert await outbox.record_attempt(claim, attempt, DeadLetter("HTTP 400"))  # the receiver refused it
    message = copy.deepcopy(claim.notice.message)
    forge(message)
    corrected = await client.post(f"/messages/notices/{claim.notice.id}/correct", json=message, headers=as_("x"))
    assert corrected.status_code == 422, corrected.text
    assert corrected.json()["issue"][0]["details"]["coding"][0]["code"] in (
        "correction.parties-changed",
        "correction.duplicate-entry",
    )
    detail = await outbox.get(claim.notice.id)
    assert detail is not None and detail.notice.state.value == "dead"
    assert cast.REGION_SOR not in json.dumps(detail.notice.message)

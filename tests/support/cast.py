"""The cast of issue 11's attacks: three registered organisations and the sample plan, as a shared fixture.

The region (Psykiatrisk Center Øst, the plan's author) writes `fixtures/samples/plans/kip-slagelse-botilbud.json`
with the citizen's consent given to the municipality's social worker (Slagelse Kommune, Socialpsykiatri), the GP
and the sister, for `careplan` and `careteam`; the father is excluded. Organisation X is registered too, in the same
municipality (code 0330), with every FHIR scope; the citizen never named it. All codes are synthetic.
"""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from gateway.config import Settings
from gateway.security.tokens import LocalSigningKey, issue_token
from mappings.documents.plan import parse_plan_document
from mappings.plan import PlanContext
from mappings.plan.common import care_plan_id

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "fixtures" / "samples" / "plans" / "kip-slagelse-botilbud.json"
REGION_SOR = "265161000016000"
SLAGELSE_SOR = "375431000016008"  # the social worker's organisation (team member soc1)
GP_SOR = "481561000016002"
X_SOR = "111111111111"
X_GLN = "5790000121441"
FACT_SOR = "329631000016003"
CPR = "2509479989"
EVERYTHING = ["system/*.cruds", "system/Messages.cru"]

CLIENTS: dict[str, tuple[dict[str, str], list[str]]] = {
    "region": ({"name": "Psykiatrisk Center Øst", "sor": REGION_SOR, "gln": "5790000209354"}, EVERYTHING),
    "slagelse": (
        {
            "name": "Slagelse Kommune, Socialpsykiatri",
            "sor": SLAGELSE_SOR,
            "gln": "5790001348120",
            "municipality": "0330",
        },
        EVERYTHING,
    ),
    "gp": ({"name": "Lægerne i Slagelse Bymidte", "sor": GP_SOR, "gln": "5790000167814"}, EVERYTHING),
    # the demo plan's keeper (fixtures/samples/demo/plan.json: its source is this SOR's namespace)
    "fact": (
        {"name": "Distriktspsykiatrien Slagelse, FACT-team Nord", "sor": FACT_SOR, "gln": "5790000555550"},
        EVERYTHING,
    ),
    "x": ({"name": "Organisation X", "sor": X_SOR, "gln": X_GLN, "municipality": "0330"}, EVERYTHING),
    "auditor": (
        {"name": "Region, databeskyttelse", "sor": REGION_SOR, "gln": "5790000209354"},
        ["system/AuditEvent.rs"],
    ),
    # the region's integration engine: it posts the region's messages (`SENDS_AS`), and reads no plan itself
    "intake-only": (
        {"name": "Integration engine", "sor": "123456789012", "gln": "5790000209354"},
        ["system/Messages.c"],
    ),
    # the municipality's integration engine: it answers (acknowledges) for Slagelse's social psychiatry
    "kommune-engine": (
        {"name": "Slagelse Kommune, integrationsplatform", "sor": "222222222222", "gln": "5790001348120"},
        ["system/Messages.c"],
    ),
}


#: The senders a client's messages may name besides its own organisation (`sends_as` in the clients file).
SENDS_AS = {"intake-only": [REGION_SOR], "kommune-engine": [SLAGELSE_SOR]}


def write_clients(path: Path) -> Path:
    clients = [
        {"client_id": name, "organisation": organisation, "scopes": scopes}
        | ({"sends_as": SENDS_AS[name]} if name in SENDS_AS else {})
        for name, (organisation, scopes) in CLIENTS.items()
    ]
    path.write_text(yaml.safe_dump({"clients": clients}, allow_unicode=True), "utf-8")
    return path


def bearer(
    settings: Settings, client: str, now: datetime, *, scopes: list[str] | None = None, days: int = 1
) -> dict[str, str]:
    token = issue_token(
        LocalSigningKey.load_or_create(settings.data_dir),
        client_id=client,
        scopes=" ".join(scopes or CLIENTS[client][1]),
        issuer=settings.token_issuer,
        audience=settings.token_audience,
        now=now,
        lifetime=timedelta(days=days),
    )
    return {"Authorization": f"Bearer {token}"}


def plan_document(value: str = "KIP-2025-000417", **consent: Any) -> dict[str, Any]:
    """The sample plan with the attacks' consent (and a period that holds whatever the clock says)."""
    document: dict[str, Any] = copy.deepcopy(json.loads(SAMPLE.read_text("utf-8")))
    document["source"]["value"] = value
    document["consent"].update(
        {
            "period": {"start": "2025-03-04", "end": "2099-12-31"},
            "data": ["careplan", "careteam"],
            "permitted": ["soc1", "gp1", "sis1"],
            "denied": [{"relationship": "FTH", "name": {"given": ["Bent"], "family": "Østergård"}}],
        }
        | consent
    )
    return document


def future_plan_id(document: dict[str, Any], author: str = REGION_SOR) -> str:
    """The CarePlan id `/plans` will derive for `document` written by `author` (public namespace)."""
    return care_plan_id(parse_plan_document(document), PlanContext(author=author))

"""Field-for-field comparison of MedCom message Bundles, ignoring only what is generated per conversion.

Ignored: narratives (`text`), `Bundle.id` (new per send) and `Bundle.timestamp` (assembly time). Resource ids,
and the ids of earlier MessageHeaders referenced by Provenances, are replaced by labels in order of appearance
(`Organization#2`); `urn:uuid:` values likewise, so references must still line up between the two Bundles.
Provenances are ordered by occurredDateTime (MedCom's examples list the stay history in either order).
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _strip(item) for key, item in value.items() if key != "text" or not isinstance(item, dict)}
    if isinstance(value, list):
        return [_strip(item) for item in value]
    return value


def normalise(bundle: dict[str, Any], *, keep_uuids: tuple[str, ...] = ()) -> dict[str, Any]:
    data = _strip(copy.deepcopy(bundle))
    data.pop("id", None)
    data.pop("timestamp", None)
    entries = data["entry"]
    others = [e for e in entries if e["resource"]["resourceType"] not in ("Provenance", "Organization")]
    # MedCom's examples list sender and receiver Organizations in either order.
    others += sorted(
        (e for e in entries if e["resource"]["resourceType"] == "Organization"),
        key=lambda e: json.dumps(e["resource"].get("identifier")),
    )
    provenances = sorted(
        (e for e in entries if e["resource"]["resourceType"] == "Provenance"),
        key=lambda e: e["resource"]["occurredDateTime"],
    )
    data["entry"] = others + provenances
    text = json.dumps(data, ensure_ascii=False)
    labels: dict[str, str] = {}
    counts: dict[str, int] = {}

    def label(kind: str, value: str) -> str:
        if value not in labels:
            counts[kind] = counts.get(kind, 0) + 1
            labels[value] = f"{kind}#{counts[kind]}"
        return labels[value]

    for item in data["entry"]:
        resource = item["resource"]
        label(resource["resourceType"], resource["id"])
    for match in re.finditer(r"MessageHeader/([A-Za-z0-9.\-]+)", text):
        label("MessageHeader", match.group(1))
    for match in re.finditer(r"urn:uuid:([0-9a-fA-F\-]{36})", text):
        if match.group(1) not in keep_uuids:
            label("uuid", match.group(1))
    for value in sorted(labels, key=len, reverse=True):
        text = text.replace(value, labels[value])
    result: dict[str, Any] = json.loads(text)
    return result

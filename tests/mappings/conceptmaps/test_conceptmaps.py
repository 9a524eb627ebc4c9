"""Every shipped code table is well formed and every source code maps to a target."""

from __future__ import annotations

from importlib import resources

import pytest

from mappings.conceptmaps import hospital_notification_use_cases, load_table, translate

MAPS = sorted(
    path.name.removesuffix(".json")
    for path in resources.files("mappings.conceptmaps").iterdir()
    if path.name.endswith(".json") and load_table(path.name.removesuffix(".json")).get("resourceType") == "ConceptMap"
)
ACTIVITIES = {
    "admit-emergency", "revise-admit-emergency", "cancel-admit-emergency", "admit-inpatient",
    "revise-admit-inpatient", "cancel-admit-inpatient", "start-leave-inpatient", "revise-start-leave-inpatient",
    "cancel-start-leave-inpatient", "end-leave-inpatient", "revise-end-leave-inpatient",
    "cancel-end-leave-inpatient", "discharge-emergency-home", "revise-discharge-emergency-home",
    "cancel-discharge-emergency-home", "discharge-inpatient-home", "revise-discharge-inpatient-home",
    "cancel-discharge-inpatient-home",
}  # fmt: skip  # ValueSet medcom-hospitalNotification-messageActivities (terminology 2.0.2)


def test_there_are_concept_maps() -> None:
    assert len(MAPS) >= 5


@pytest.mark.parametrize("map_id", MAPS)
def test_every_source_code_maps(map_id: str) -> None:
    for group in load_table(map_id)["group"]:
        for element in group["element"]:
            assert element.get("target"), f"{map_id}: {element['code']} has no target"
            assert translate(map_id, element["code"]) == element["target"][0]["code"]


def test_use_case_table_covers_all_eighteen_codes_and_valid_activities() -> None:
    table = hospital_notification_use_cases()
    bases = ("STAA", "STIN", "STOR", "SLOR", "SLHJ", "MORS")
    assert set(table) == {f"{p}{b}" for b in bases for p in ("", "RE_", "AN_")}
    for code, row in table.items():
        for cls in row["classes"]:
            word = load_table("hospital-notification-use-cases")["classActivityWord"][cls]
            activity = row["activity"].replace("{class}", word)
            assert activity == "(current)" or activity in ACTIVITIES, code
        assert row["entityRole"] in (None, "revision", "removal")
        assert (row["entityRole"] == "removal") == code.startswith("AN_")


def test_pv1_2_classes() -> None:
    assert translate("v2-0004-to-medcom-encounter-class", "I") == "IMP"
    assert translate("v2-0004-to-medcom-encounter-class", "E") == "EMER"
    assert translate("v2-0004-to-medcom-encounter-class", "O") is None

from gateway.store.search_params import (
    DateEntry,
    ReferenceEntry,
    StringEntry,
    TokenEntry,
    index_entries,
    normalize_string,
    parse_reference,
)


def test_care_plan_yields_its_search_entries() -> None:
    entries = index_entries(
        {
            "resourceType": "CarePlan",
            "status": "active",
            "intent": "plan",
            "identifier": [{"system": "urn:oid:1.2.208.176.1.1", "value": "123"}],
            "subject": {"reference": "Patient/p1"},
            "careTeam": [{"reference": "CareTeam/t1"}],
            "period": {"start": "2026-01-01", "end": "2026-03-31"},
        }
    )
    assert TokenEntry("identifier", "urn:oid:1.2.208.176.1.1", "123") in entries
    assert ReferenceEntry("patient", "Patient", "p1") in entries
    assert ReferenceEntry("care-team", "CareTeam", "t1") in entries
    assert DateEntry("date", "2026-01-01T00:00:00.000000Z", "2026-03-31T23:59:59.999999Z") in entries


def test_patient_reference_param_ignores_other_subject_types() -> None:
    entries = index_entries({"resourceType": "Goal", "subject": {"reference": "Group/g1"}})
    assert ReferenceEntry("patient", "Group", "g1") not in entries
    assert ReferenceEntry("subject", "Group", "g1") in entries


def test_names_are_case_and_accent_insensitive() -> None:
    entries = index_entries({"resourceType": "Patient", "name": [{"family": "Sørensen", "given": ["Åse"]}]})
    assert StringEntry("given", "ase", "Åse") in entries
    assert normalize_string("ÅSE") == "ase"


def test_reference_parsing() -> None:
    assert parse_reference("Patient/1") == ("Patient", "1")
    assert parse_reference("http://x/fhir/Patient/1/_history/3") == ("Patient", "1")
    assert parse_reference("urn:uuid:abc") is None
    assert parse_reference("#contained") is None

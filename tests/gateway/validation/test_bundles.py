"""Bundle rules beyond the invariants (`gateway.validation.bundles`): entry URLs, links, documents, messages."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.validation import Validator
from gateway.validation.bundles import _RESTFUL, bundle_problems, matches


def _problems(bundle: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (message_id, where) for _, message_id, where, _ in bundle_problems(bundle, "Bundle", lambda t: t[:1].isupper())
    }


def _entry(full_url: str | None, resource_type: str = "Patient", identifier: str | None = "p1") -> dict[str, Any]:
    resource: dict[str, Any] = {"resourceType": resource_type}
    if identifier:
        resource["id"] = identifier
    return {"resource": resource} if full_url is None else {"fullUrl": full_url, "resource": resource}


@pytest.mark.parametrize(
    ("entry", "kind", "reported"),
    [
        (_entry("Patient/p1"), "collection", True),  # not absolute
        (_entry("https://fhir.hospital.test/Patient/p2"), "collection", True),  # a RESTful URL naming another id
        (_entry("https://fhir.hospital.test/Patient/p1", identifier=None), "collection", True),  # and no id at all
        (_entry(None), "collection", True),  # no fullUrl outside a transaction or batch
        (_entry(None), "transaction", False),
        (_entry("https://fhir.hospital.test/Patient/p1"), "collection", False),
        (_entry("urn:uuid:8a3a7bf5-6d2b-4b41-9f51-6c2f0f2d55a1"), "collection", False),
    ],
)
def test_entry_full_urls(entry: dict[str, Any], kind: str, reported: bool) -> None:
    found = _problems({"resourceType": "Bundle", "type": kind, "entry": [entry]})
    assert (("validation.bundle-full-url", "Bundle.entry[0]") in found) is reported


def test_a_link_relation_self_occurs_once_and_paging_belongs_to_searches() -> None:
    links = [{"relation": "self", "url": "x"}, {"relation": "next", "url": "y"}, {"relation": "self", "url": "z"}]
    assert _problems({"resourceType": "Bundle", "type": "collection", "link": links}) == {
        ("validation.bundle-link", "Bundle.link[1]"),
        ("validation.bundle-link", "Bundle.link[2]"),
    }
    searchset = [{"relation": "self", "url": "x"}, {"relation": "next", "url": "y"}]
    assert _problems({"resourceType": "Bundle", "type": "searchset", "link": searchset}) == set()


def test_what_a_document_composition_refers_to_is_in_the_document_once() -> None:
    base = "https://fhir.hospital.test"
    composition = {
        "resourceType": "Composition",
        "id": "c",
        "subject": {"reference": "Patient/p1"},
        "author": [{"reference": "Practitioner/missing"}],
        "section": [{"entry": [{"reference": "Observation/o/_history/3"}, {"reference": "Observation/o"}]}],
    }
    observation = {"resourceType": "Observation", "id": "o"}
    bundle = {
        "resourceType": "Bundle",
        "type": "document",
        "entry": [
            {"fullUrl": f"{base}/Composition/c", "resource": composition},
            {"fullUrl": f"{base}/Patient/p1", "resource": {"resourceType": "Patient", "id": "p1"}},
            {"fullUrl": f"{base}/Observation/o", "resource": {**observation, "meta": {"versionId": "1"}}},
            {"fullUrl": f"{base}/Observation/o", "resource": {**observation, "meta": {"versionId": "2"}}},
        ],
    }
    assert _problems(bundle) == {
        ("validation.bundle-reference", "Bundle.entry[0].resource.author[0]"),
        ("validation.bundle-reference", "Bundle.entry[0].resource.section[0].entry[0]"),  # no version 3
        ("validation.bundle-reference", "Bundle.entry[0].resource.section[0].entry[1]"),  # two versions match
    }


def test_relative_references_resolve_against_the_referrers_base_else_by_type_and_id() -> None:
    entries = [
        {"fullUrl": "https://a.test/fhir/Patient/1", "resource": {"resourceType": "Patient", "id": "1"}},
        {"fullUrl": "urn:uuid:1", "resource": {"resourceType": "Patient", "id": "2"}},
    ]
    assert matches("Patient/1", "https://a.test/fhir/Composition/c", entries) == entries[:1]
    assert matches("Patient/1", "https://b.test/fhir/Composition/c", entries) == []
    assert matches("Patient/2", "urn:uuid:9", entries) == entries[1:]


def test_the_validator_reports_bundle_rules_with_their_paths(validator: Validator) -> None:
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [_entry("Patient/p1")]}
    assert ("validation.bundle-full-url", "Bundle.entry[0]") in {
        (i.message_id, i.expression) for i in validator.validate(bundle).errors
    }


#: The RESTful-URL pattern as first written, with nested repetition in its base (`(?:[chars]*/)+`).
_NESTED_BASE = re.compile(
    r"(https?://(?:[A-Za-z0-9\-\\.:%$]*/)+)([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/([A-Za-z0-9\-.]{1,64}))?"
)


@given(st.text(alphabet="htps:/_HPa1-.%$xy", max_size=40))
def test_the_restful_url_pattern_reads_urls_as_its_nested_form_did(tail: str) -> None:
    for url in (tail, "http://" + tail, "https://" + tail):
        ours, nested = _RESTFUL.fullmatch(url), _NESTED_BASE.fullmatch(url)
        assert (ours is None) == (nested is None), url
        assert ours is None or nested is None or ours.groups() == nested.groups(), url


@pytest.mark.parametrize(
    "url",
    [
        "https://medcomfhir.dk/ig/carecommunication/Patient/733cef33-3626-422b-955d-d506aaa65fe1",
        "http://example.org/fhir/Patient/1/_history/2",
        "http://a/b/c/Observation/x.y-z",
    ],
)
def test_the_restful_url_pattern_splits_base_type_id_and_version(url: str) -> None:
    found, nested = _RESTFUL.fullmatch(url), _NESTED_BASE.fullmatch(url)
    assert found is not None and nested is not None and found.groups() == nested.groups()

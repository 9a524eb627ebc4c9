"""The client registry file: every problem reported at once, located; the shipped example loads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.security.clients import ClientRegistry, Organisation, gln_check_digit_ok
from mappings.issues import IssueError
from mappings.plan.codes import GLN_SYSTEM, MUNICIPALITY_SYSTEM, PROVIDER_NUMBER_SYSTEM, SOR_SYSTEM

EXAMPLE = Path(__file__).resolve().parents[3] / "fixtures" / "clients.example.yaml"


def client(**changes: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "client_id": "herlev-kommune",
        "organisation": {
            "name": "Herlev Kommune",
            "sor": "953741000016009",
            "gln": "5790001348120",
            "municipality": "0163",
        },
        "scopes": ["system/CarePlan.rs"],
    }
    entry.update(changes)
    return {key: value for key, value in entry.items() if value is not None}


def test_shipped_example_has_the_five_kinds_of_client() -> None:
    registry = ClientRegistry.from_file(EXAMPLE)
    assert len(registry) == 5
    municipality = registry.get("herlev-kommune")
    assert municipality is not None and municipality.organisation.municipality == "0163"
    auditor = registry.get("region-revision")
    assert auditor is not None and auditor.scopes.permits("AuditEvent", "s")
    assert not auditor.scopes.permits("CarePlan", "r")
    gp = registry.get("laegehuset-test")
    assert gp is not None and gp.scopes.permits("CarePlan", "r") and not gp.scopes.permits("AuditEvent", "r")
    intake = registry.get("region-integration")
    assert intake is not None and intake.scopes.permits("Messages", "c") and intake.rate_limit == 1200


def test_unknown_client_is_none() -> None:
    assert ClientRegistry.from_data({"clients": [client()]}).get("nobody") is None


def test_json_file_is_read_too(tmp_path: Path) -> None:
    path = tmp_path / "clients.json"
    path.write_text(
        '{"clients": [{"client_id": "gp", "organisation": {"name": "GP", "sor": "328051000016008", '
        '"gln": "5790000121441", "provider_number": "123456"}, "scopes": ["system/*.read"]}]}'
    )
    record = ClientRegistry.from_file(path).get("gp")
    assert record is not None and record.scopes.permits("Goal", "s")


def test_organisation_identifiers_use_dk_core_systems_sor_first() -> None:
    organisation = Organisation("GP", "328051000016008", "5790000121441", "0163", "123456")
    assert organisation.identifiers() == (
        (SOR_SYSTEM, "328051000016008"),
        (GLN_SYSTEM, "5790000121441"),
        (PROVIDER_NUMBER_SYSTEM, "123456"),
        (MUNICIPALITY_SYSTEM, "0163"),
    )


@pytest.mark.parametrize(
    ("entry", "where"),
    [
        (client(client_id=None), "clients[0].client_id"),
        (client(client_id="has space"), "clients[0].client_id"),
        (client(organisation=None), "clients[0].organisation"),
        (client(organisation={"name": "X", "sor": "12345", "gln": "5790001348120"}), "clients[0].organisation.sor"),
        (
            client(organisation={"name": "X", "sor": 953741000016009, "gln": "5790001348120"}),
            "clients[0].organisation.sor",
        ),
        (
            client(organisation={"name": "X", "sor": "953741000016009", "gln": "5790001348121"}),
            "clients[0].organisation.gln",
        ),
        (
            client(organisation={"name": "X", "sor": "953741000016009", "gln": "5790001348120", "municipality": "163"}),
            "clients[0].organisation.municipality",
        ),
        (
            client(organisation={"name": "X", "sor": "953741000016009", "gln": "5790001348120", "ean": "1"}),
            "clients[0].organisation.ean",
        ),
        (client(scopes="system/CarePlan.rs"), "clients[0].scopes"),
        (client(scopes=["patient/*.rs"]), "clients[0].scopes"),
        (client(scope=["system/CarePlan.rs"]), "clients[0].scope"),
        (client(rate_limit=0), "clients[0].rate_limit"),
        (client(rate_limit=True), "clients[0].rate_limit"),
        ("just text", "clients[0]"),
    ],
)
def test_each_problem_is_located(entry: Any, where: str) -> None:
    with pytest.raises(IssueError) as caught:
        ClientRegistry.from_data({"clients": [entry]})
    assert where in [issue.expression for issue in caught.value.issues]


def test_every_problem_is_reported_at_once() -> None:
    data = {
        "clients": [client(), client(), client(client_id="b", rate_limit=-1, scopes=["openid", "user/*.r"])],
        "extra": 1,
    }
    with pytest.raises(IssueError) as caught:
        ClientRegistry.from_data(data)
    assert sorted(str(issue.expression) for issue in caught.value.issues) == [
        "clients[1].client_id",  # duplicate
        "clients[2].rate_limit",
        "clients[2].scopes",
        "clients[2].scopes",
        "extra",
    ]


@pytest.mark.parametrize("data", [None, [], {"clients": "x"}, {"client": []}])
def test_wrong_top_level_is_a_structure_error(data: Any) -> None:
    with pytest.raises(IssueError) as caught:
        ClientRegistry.from_data(data)
    assert caught.value.issues[0].code == "structure"


def test_unreadable_and_unparsable_files_are_issues(tmp_path: Path) -> None:
    with pytest.raises(IssueError, match="Cannot read"):
        ClientRegistry.from_file(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("clients: [unclosed")
    with pytest.raises(IssueError) as caught:
        ClientRegistry.from_file(bad)
    assert caught.value.issues[0].message_id == "clients.syntax"


@pytest.mark.parametrize(("gln", "ok"), [("5790000121441", True), ("5790001348120", True), ("5790001348121", False)])
def test_gln_check_digit(gln: str, ok: bool) -> None:
    assert gln_check_digit_ok(gln) is ok


def test_keys_of_mixed_types_are_reported_not_crashed_on() -> None:
    with pytest.raises(IssueError) as caught:
        ClientRegistry.from_data({"clients": [client(**{"7": 1})], 1: "x", "a": 2})
    assert sorted(str(issue.expression) for issue in caught.value.issues) == ["1", "a", "clients[0].7"]


def test_every_organisation_owns_its_sor_namespace_and_the_plan_sources_it_registers() -> None:
    ehr = "urn:oid:1.2.208.176.1.1.953741000016009.kip"
    registry = ClientRegistry.from_data(
        {"clients": [client(plan_sources=[ehr]), client(client_id="herlev-2", plan_sources=[ehr])]}
    )
    assert registry.owners_of(ehr) == {"953741000016009"}
    assert registry.owners_of("https://sor2.sum.dsdn.dk/#id=953741000016009") == {"953741000016009"}
    assert registry.owners_of("https://sor2.sum.dsdn.dk/#id=265161000016000") == {"265161000016000"}
    assert registry.owners_of("urn:oid:1.2.208.176.1.1") == frozenset(), "nobody's"


@pytest.mark.parametrize(
    ("plan_sources", "where"),
    [
        (["https://sor2.sum.dsdn.dk/#id=265161000016000"], "clients[0].plan_sources[0]"),  # another's namespace
        (["not a uri"], "clients[0].plan_sources[0]"),
        ("urn:x", "clients[0].plan_sources"),
    ],
)
def test_a_plan_source_must_be_a_uri_outside_other_organisations_namespaces(plan_sources: Any, where: str) -> None:
    with pytest.raises(IssueError) as caught:
        ClientRegistry.from_data({"clients": [client(plan_sources=plan_sources)]})
    assert [issue.expression for issue in caught.value.issues] == [where]


def test_a_plan_source_belongs_to_one_organisation() -> None:
    other = {"name": "Region", "sor": "265161000016000", "gln": "5790000209354"}
    data = {
        "clients": [
            client(plan_sources=["urn:kip"]),
            client(client_id="region", organisation=other, plan_sources=["urn:kip"]),
        ]
    }
    with pytest.raises(IssueError) as caught:
        ClientRegistry.from_data(data)
    assert "953741000016009" in caught.value.issues[0].diagnostics


@pytest.mark.parametrize(
    ("sends_as", "where"),
    [
        (["26516100001600O"], "clients[0].sends_as[0]"),  # a letter O, not a zero
        (["265161000016000", 265161000016000], "clients[0].sends_as"),  # unquoted in YAML: a number
        ("265161000016000", "clients[0].sends_as"),
    ],
)
def test_sends_as_lists_sor_codes(sends_as: Any, where: str) -> None:
    with pytest.raises(IssueError) as caught:
        ClientRegistry.from_data({"clients": [client(sends_as=sends_as)]})
    assert [issue.expression for issue in caught.value.issues] == [where]


def test_a_client_sends_as_its_own_organisation_and_those_it_lists() -> None:
    registry = ClientRegistry.from_data({"clients": [client(sends_as=["265161000016000"]), client(client_id="plain")]})
    engine, plain = registry.get("herlev-kommune"), registry.get("plain")
    assert engine is not None and plain is not None
    assert engine.sends_as == {"265161000016000"} and plain.sends_as == frozenset()

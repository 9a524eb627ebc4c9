import pytest

from gateway.fhir.interactions import PARAM_TYPES
from gateway.store.search_query import Include, parse_search, split_or
from mappings.issues import IssueError


def parse(*pairs: tuple[str, str], resource_type: str = "CarePlan"):  # type: ignore[no-untyped-def]
    return parse_search(resource_type, pairs, param_types=PARAM_TYPES, default_count=20, max_count=50)


def test_repeated_parameters_and_comma_values() -> None:
    query = parse(("status", "active,draft"), ("date", "ge2024"), ("date", "le2025"))
    assert [(c.name, c.values) for c in query.criteria] == [
        ("status", ("active", "draft")),
        ("date", ("ge2024",)),
        ("date", ("le2025",)),
    ]


def test_escaped_comma_is_part_of_the_value() -> None:
    assert split_or(r"a\,b,c") == ("a,b", "c")


def test_count_is_capped_and_offset_read() -> None:
    query = parse(("_count", "500"), ("_offset", "40"))
    assert (query.count, query.offset) == (50, 40)


def test_include_and_revinclude_are_parsed() -> None:
    query = parse(("_include", "CarePlan:care-team"), ("_revinclude", "Goal:patient"))
    assert query.includes == (
        Include("CarePlan", "care-team", None, False),
        Include("Goal", "patient", None, True),
    )


def test_reference_type_modifier_becomes_target_type() -> None:
    (criterion,) = parse(("subject:Patient", "p1")).criteria
    assert (criterion.target_type, criterion.modifier) == ("Patient", "")


def test_every_problem_is_reported_with_its_parameter() -> None:
    with pytest.raises(IssueError) as caught:
        parse(("colour", "red"), ("_count", "-1"), ("status:exact", "x"), ("_include", "CarePlan:status"))
    assert [issue.expression for issue in caught.value.issues] == [
        "colour",
        "_count",
        "status:exact",
        "_include",
    ]
    assert caught.value.status == 400
